"""The CRM's view of an e-mail address: the contact (company) and person it belongs to.

An address always resolves to the same person within a run (the run seed and the address decide
everything), and the names are read from the address itself where it carries them, so that
`kari.nilsen@fjordtech.no` becomes Kari Nilsen at Fjordtech.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from faker import Faker

from mockserver.fakes import DEFAULT_LOCALE, stable_int

# Addresses at these domains belong to private persons, not to a company the CRM knows.
FREEMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "online.no",
        "hotmail.no",
        "telia.com",
        "example.com",
    }
)

_LOCAL_TOKENS = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+")


@dataclass(frozen=True)
class Person:
    contact_id: int
    contact_name: str
    person_id: int
    person_name: str
    associate_id: int
    email_id: int
    duplicate_person_ids: tuple[int, ...]
    name: str


class Directory:
    """Resolves addresses to persons; results are cached, and derived only from (run seed, address)."""

    def __init__(self, run_seed: int, locale: str = DEFAULT_LOCALE) -> None:
        self._seed = run_seed
        # A Faker of its own: reseeding it per address must not disturb the per-request generator.
        self._faker = Faker(locale)
        self.lookup = functools.lru_cache(maxsize=20_000)(self._lookup)

    def _lookup(self, address: str) -> Person:
        key = address.strip().lower()
        local, _, domain = key.partition("@")
        contact_id, contact_name = self._contact(domain)
        self._faker.seed_instance(stable_int(self._seed, "person", key))
        rng = self._faker.random
        # `j.smith` is J. Smith; a lone letter elsewhere (`x`, `kari.n`) names nobody.
        found = _LOCAL_TOKENS.findall(local)
        kept = [t for i, t in enumerate(found) if len(t) > 1 or i == 0]
        tokens = [f"{t.upper()}." if len(t) == 1 else t.capitalize() for t in kept]
        if len(tokens) == 1 and tokens[0].endswith("."):
            tokens = []  # an initial alone is no name
        if len(tokens) >= 2:
            first, last = tokens[0], tokens[-1]
        elif tokens:
            first, last = tokens[0], self._faker.last_name()
        else:
            first, last = self._faker.first_name(), self._faker.last_name()
        full_name = f"{first} {last}"
        person_id = stable_int(self._seed, "person-id", key, bits=17) + 1
        associate_id = rng.randint(1, 400) if rng.random() < 0.15 else 0
        duplicates = tuple(sorted(rng.sample(range(1, 99999), rng.choice((0, 0, 0, 1, 2)))))
        return Person(
            contact_id=contact_id,
            contact_name=contact_name,
            person_id=person_id,
            person_name=full_name,
            associate_id=associate_id,
            email_id=stable_int(self._seed, "email-id", key, bits=17) + 1,
            duplicate_person_ids=duplicates,
            name=full_name,
        )

    def _contact(self, domain: str) -> tuple[int, str]:
        if not domain or domain in FREEMAIL_DOMAINS:
            return 0, ""
        labels = [label for label in domain.split(".") if label]
        if not labels:
            return 0, ""
        # The company is the registrable domain: mail.fjord-tech.no and fjord-tech.no are both "Fjord Tech".
        registrable = ".".join(labels[-2:])
        stem = labels[-2] if len(labels) >= 2 else labels[0]
        words = [w.capitalize() for w in re.split(r"[-_]+", stem) if w]
        self._faker.seed_instance(stable_int(self._seed, "contact", registrable))
        suffix = self._faker.company_suffix()
        name = " ".join(words) or domain
        return stable_int(self._seed, "contact-id", registrable, bits=16) + 1, f"{name} {suffix}"
