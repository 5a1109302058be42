"""Seeded fake data in the vendor's style: one reused Faker per locale, reseeded per request."""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from faker import Faker

from mockserver.contract import spec
from mockserver.formats.dotnet import FIELD_RIGHT, TABLE_RIGHT
from mockserver.formats.locales import NO_LANGUAGE, Texts

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
        """The locale's Faker seeded by its own `seed_instance`: what `Gen.lazy` must draw like (serving uses that)."""
        faker = self.get(locale)
        # A random source of its own: the one it has may be a `Gen.lazy`'s, which seeding would disturb.
        faker.random = random.Random()  # type: ignore[attr-defined]  # proxy.py has the setter, proxy.pyi not
        faker.seed_instance(seed)
        return faker


class Gen:
    """The generator for one response: its random source, and a Faker drawing from the same source.

    Handlers run on the event loop without awaiting while they generate, so one Faker per locale is never
    shared by two requests at once.
    """

    def __init__(self, faker: Faker, seed: int, texts: Texts = NO_LANGUAGE) -> None:
        """A generator over a Faker already seeded with `seed` (`FakerPool.seeded`): the reference `lazy` is held
        to, draw for draw, in tests/test_fakes.py."""
        self._setup(faker.random, seed, texts, faker, None)

    @classmethod
    def lazy(cls, pool: FakerPool, seed: int, texts: Texts = NO_LANGUAGE) -> Gen:
        """The same generator as over `pool.seeded(seed, …)`, with the Faker taken from the pool only when a
        handler asks for it: most answers draw from `rng` alone, and reseeding a Faker (every one of its
        generators) was a tenth of a small request's handler. The draws are the same: `seed_instance` seeds a
        `random.Random` just as this one is seeded, and the Faker is given this very object to draw from.

        The random source itself is seeded on the first draw: a RelayMessage draws nothing, and seeding one
        (4.4 µs in a loop, 7 µs in the app) was a tenth of its handler."""
        gen = cls.__new__(cls)
        gen._setup(None, seed, texts, None, pool)
        return gen

    def _setup(
        self, rng: random.Random | None, seed: int, texts: Texts, faker: Faker | None, pool: FakerPool | None
    ) -> None:
        self._rng = rng
        self.seed = seed
        self.texts = texts
        self._faker = faker
        self._pool = pool
        self._read_only: dict[str, Any] | None = None

    @property
    def rng(self) -> random.Random:
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(self.seed)
        return rng

    @property
    def faker(self) -> Faker:
        if self._faker is None:
            assert self._pool is not None
            faker = self._pool.get(self.texts.faker_locale)
            faker.random = self.rng  # type: ignore[attr-defined]  # (as in FakerPool.seeded)
            self._faker = faker
        return self._faker

    def message_id(self, domain: str) -> str:
        return f"<{uuid4_text(self.rng.getrandbits(128))}@{domain}>"

    def server_id(self) -> int:
        return 1000 + below(self.rng, 99999 - 1000 + 1)  # rng.randint(1000, 99999)

    def item_id(self) -> int:
        return 1 + below(self.rng, 99999)  # rng.randint(1, 99999)

    def account_id(self) -> int:
        return 1 + below(self.rng, 40)  # rng.randint(1, 40)

    def rights(self, carrier: str, moment: datetime | None = None) -> dict[str, Any]:
        """`TableRight` and `FieldProperties` of one carrier, drawn from the carrier's pool (one draw per
        carrier, where drawing each mask, field and reason afresh was a sixth of a SendEMails request)."""
        entry = _rights_pool(carrier, self.texts.language)[self.rng.getrandbits(RIGHTS_POOL_BITS)]
        table_right = entry.table_right
        if table_right is None:  # read-only: the reason names the request's own date
            if self._read_only is None:
                self._read_only = {"Mask": entry.read_only_mask, "Reason": self.texts.resource(_READ_ONLY, moment)}
            table_right = self._read_only
        return {"TableRight": table_right, "FieldProperties": entry.field_properties}

    def catch_phrase(self) -> str:
        return str(self.faker.catch_phrase())

    def fraction_ticks(self) -> tuple[int, int]:
        """Microseconds and the seventh fractional digit, for a realistic-looking `now`."""
        rng = self.rng
        return below(rng, 1_000_000), below(rng, 10)  # rng.randrange(1_000_000), rng.randrange(10)


def below(rng: random.Random, n: int) -> int:
    """What `rng.randrange(n)` draws (and `randint(a, b)` as `a + below(rng, b - a + 1)`): CPython's
    `_randbelow_with_getrandbits`, without the argument checks and calls around it. A mail's ids and clock
    fraction are five such draws (~0.6 µs each that way, ~0.2 µs this way); `tests/test_fakes.py` holds the two
    to the same numbers from the same seed."""
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return r


def uuid4_text(bits: int) -> str:
    """`str(uuid.UUID(int=bits, version=4))`, without building the UUID object."""
    bits = (bits & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 4 << 76
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


RIGHTS_POOL_BITS = 6  # 64 combinations of rights per carrier and language
_READ_ONLY = "SR_EMAIL_ARCHIVED_READONLY"


@dataclass(frozen=True)
class _Rights:
    """One pooled combination. Its dicts are shared between answers: nothing may change them."""

    table_right: dict[str, Any] | None  # None: read-only, with a reason that names the date
    read_only_mask: str
    field_properties: dict[str, Any]


@functools.cache
def _rights_pool(carrier: str, language: str | None) -> tuple[_Rights, ...]:
    """The combinations of rights a carrier is answered with, in a language; the same in every process."""
    rng = random.Random(stable_int("rights", carrier, language))
    texts = Texts(language, DEFAULT_LOCALE, None)  # field reasons name no date, so no culture is needed
    pool = []
    for _ in range(2**RIGHTS_POOL_BITS):
        mask = rng.choice(_TABLE_MASKS)
        # A read-only mail (no Update, no Delete) says why; other partial masks carry an empty reason, as in the
        # vendor's own sample (`{"Mask": "Delete", "Reason": ""}`).
        read_only = not mask & (_UPDATE | _DELETE)
        text = TABLE_RIGHT.format(mask)
        pool.append(
            _Rights(None if read_only else {"Mask": text, "Reason": ""}, text, _field_properties(rng, carrier, texts))
        )
    return tuple(pool)


def _field_right(rng: random.Random, texts: Texts) -> dict[str, Any] | None:
    if rng.random() < 0.4:
        return None
    mask = rng.choice(_FIELD_MASKS)
    if mask & 64:
        reason = texts.resource("SR_MANDATORY_FIELD_1281")
    elif mask & 2 == 0:
        reason = texts.resource("SR_FIELD_READONLY")
    else:
        reason = ""
    return {"Mask": FIELD_RIGHT.format(mask), "Reason": reason}


def _field_properties(rng: random.Random, carrier: str, texts: Texts) -> dict[str, Any]:
    """A FieldProperties dictionary keyed by real property names of the carrier."""
    fields = spec.carrier_scalar_fields(carrier)
    count = min(len(fields), rng.randint(1, 2))
    result: dict[str, Any] = {}
    for index in sorted(rng.sample(range(len(fields)), count)):
        name, dotnet_type = fields[index]
        if dotnet_type == "System.String":
            length = _STRING_LENGTHS.get(name, 255)
        else:
            length = _FIELD_LENGTHS.get(dotnet_type, 0)
        result[name] = {"FieldRight": _field_right(rng, texts), "FieldType": dotnet_type, "FieldLength": length}
    return result
