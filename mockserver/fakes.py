"""Seeded fake data in the vendor's style: one reused Faker per locale, reseeded per request."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import datetime
from typing import Any

from faker import Faker

from mockserver import spec
from mockserver.dotnet import FIELD_RIGHT, TABLE_RIGHT
from mockserver.locales import NO_LANGUAGE, Texts

DEFAULT_LOCALE = NO_LANGUAGE.faker_locale

# Masks a real server hands out most: full rights dominate, read-only and delete-only show up now and then.
_TABLE_MASKS = (15, 15, 15, 15, 8, 7, 11, 1)
_UPDATE, _DELETE = 2, 8  # ETableRight flags
_FIELD_MASKS = (3, 3, 3, 3, 1, 67, 129)

# FieldLength the vendor reports per .NET type; strings get a column size, bodies are unbounded (0).
_FIELD_LENGTHS = {"System.Int32": 4, "System.Boolean": 1, "System.DateTime": 8}
_STRING_LENGTHS = {"Address": 254, "HTMLBody": 0, "PlainBody": 0, "Stream": 0, "Subject": 255}


def stable_int(*parts: object, bits: int = 53) -> int:
    """A deterministic non-negative integer from the parts (same parts, same number, in every process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") >> (64 - bits)


class FakerPool:
    """Faker instances by locale. Building one costs ~35 ms, so they are built once and reseeded per use."""

    def __init__(self) -> None:
        self._fakers: dict[str, Faker] = {}

    def get(self, locale: str = DEFAULT_LOCALE) -> Faker:
        faker = self._fakers.get(locale)
        if faker is None:
            faker = Faker(locale)
            self._fakers[locale] = faker
        return faker

    def seeded(self, seed: int, locale: str = DEFAULT_LOCALE) -> Faker:
        faker = self.get(locale)
        faker.seed_instance(seed)
        return faker


class Gen:
    """The generator for one response: a seeded Faker and its random source.

    Handlers run on the event loop without awaiting while they generate, so one reseeded Faker per locale
    is never shared by two requests at once.
    """

    def __init__(self, faker: Faker, seed: int, texts: Texts = NO_LANGUAGE) -> None:
        self.faker = faker
        self.seed = seed
        self.texts = texts
        self.rng: random.Random = faker.random

    def message_id(self, domain: str) -> str:
        return f"<{uuid.UUID(int=self.rng.getrandbits(128), version=4)}@{domain}>"

    def server_id(self) -> int:
        return self.rng.randint(1000, 99999)

    def item_id(self) -> int:
        return self.rng.randint(1, 99999)

    def table_right(self, moment: datetime | None = None) -> dict[str, Any]:
        mask = self.rng.choice(_TABLE_MASKS)
        # A read-only mail (no Update, no Delete) says why; other partial masks carry an empty reason, as in the
        # vendor's own sample (`{"Mask": "Delete", "Reason": ""}`).
        read_only = not mask & (_UPDATE | _DELETE)
        reason = self.texts.resource("SR_EMAIL_ARCHIVED_READONLY", moment) if read_only else ""
        return {"Mask": TABLE_RIGHT.format(mask), "Reason": reason}

    def field_right(self) -> dict[str, Any] | None:
        if self.rng.random() < 0.4:
            return None
        mask = self.rng.choice(_FIELD_MASKS)
        if mask & 64:
            reason = self.texts.resource("SR_MANDATORY_FIELD_1281")
        elif mask & 2 == 0:
            reason = self.texts.resource("SR_FIELD_READONLY")
        else:
            reason = ""
        return {"Mask": FIELD_RIGHT.format(mask), "Reason": reason}

    def field_properties(self, carrier: str) -> dict[str, Any]:
        """A FieldProperties dictionary keyed by real property names of the carrier."""
        fields = spec.carrier_scalar_fields(carrier)
        count = min(len(fields), self.rng.randint(1, 2))
        chosen = sorted(self.rng.sample(range(len(fields)), count))
        result: dict[str, Any] = {}
        for index in chosen:
            name, dotnet_type = fields[index]
            if dotnet_type == "System.String":
                length = _STRING_LENGTHS.get(name, 255)
            else:
                length = _FIELD_LENGTHS.get(dotnet_type, 0)
            result[name] = {"FieldRight": self.field_right(), "FieldType": dotnet_type, "FieldLength": length}
        return result

    def catch_phrase(self) -> str:
        return str(self.faker.catch_phrase())

    def fraction_ticks(self) -> tuple[int, int]:
        """Microseconds and the seventh fractional digit, for a realistic-looking `now`."""
        return self.rng.randrange(1_000_000), self.rng.randrange(10)
