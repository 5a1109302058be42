"""Accept-Language, SO-Language and SO-Culture: language of names and texts, culture of formatted values."""

from __future__ import annotations

import importlib
from datetime import datetime

import pytest
from starlette.testclient import TestClient

from mockserver.formats.locales import choose
from tests.conftest import AUTH, SEND


@pytest.mark.parametrize(
    ("accept_language", "so_language", "language", "faker_locale"),
    [
        (None, None, None, "en_US"),
        ("sv", None, "sv", "sv_SE"),
        ("fr,de,ru,zh", None, "fr", "fr_FR"),  # the vendor sample's header: the first one wins
        ("de;q=0.4, sv;q=0.8", None, "sv", "sv_SE"),
        ("nb-NO", None, "nb", "no_NO"),
        ("en-GB", None, "en", "en_GB"),
        ("xx", None, "en", "en_US"),  # unknown language: English
        ("*", None, None, "en_US"),
        ("sv", "de", "de", "de_DE"),  # SO-Language overrides Accept-Language
        ("sv", "*", None, "en_US"),  # `*` and `x` mean "no translation"
        ("sv", "x", None, "en_US"),
        (";;;,q=,", None, None, "en_US"),
    ],
)
def test_language_choice(
    accept_language: str | None, so_language: str | None, language: str | None, faker_locale: str
) -> None:
    texts = choose(accept_language, so_language, None)
    assert (texts.language, texts.faker_locale) == (language, faker_locale)


def test_resource_strings_are_raw_ids_without_a_language_and_translated_with_one() -> None:
    assert choose(None, None, None).resource("SR_MANDATORY_FIELD_1281") == "[SR_MANDATORY_FIELD_1281]"
    assert choose("sv", None, None).resource("SR_MANDATORY_FIELD_1281") == "Obligatoriskt fält"
    assert choose("nb", None, None).resource("SR_MANDATORY_FIELD_1281") == "Obligatorisk felt"
    assert choose("ru", None, None).resource("SR_MANDATORY_FIELD_1281") == "Mandatory field"


@pytest.mark.parametrize(
    ("accept_language", "culture", "printed"),
    [
        ("en", None, "5/13/25, 10:24"),
        ("de", None, "13.05.25, 10:24"),
        ("en", "de", "13.05.25, 10:24"),  # SO-Culture changes formatting, not the language
        ("sv", None, "2025-05-13 10:24"),
        ("sv", "no-such-culture", "2025-05-13 10:24"),
    ],
)
def test_culture_formats_dates_inside_strings(accept_language: str, culture: str | None, printed: str) -> None:
    text = choose(accept_language, None, culture).resource("SR_EMAIL_ARCHIVED_READONLY", datetime(2025, 5, 13, 10, 24))
    assert printed in text


def _names(locale: str) -> set[str]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    first = provider.first_names
    return set(first if isinstance(first, (list, tuple)) else first.keys())


def test_generated_names_follow_the_language(client: TestClient) -> None:
    # A single-letter mailbox carries no name, so the person's name is generated in the request's language.
    body = {"Emails": [{"To": [{"Address": f"{c}@gmail.com"} for c in "abcdefgh"]}]}
    swedish = client.post(SEND, json=body, headers={**AUTH, "Accept-Language": "sv"}).json()[0]["To"]
    german = client.post(SEND, json=body, headers={**AUTH, "Accept-Language": "sv", "SO-Language": "de"}).json()[0][
        "To"
    ]
    assert sum(r["PersonName"].split()[0] in _names("sv_SE") for r in swedish) >= 6
    assert sum(r["PersonName"].split()[0] in _names("de_DE") for r in german) >= 6


def test_same_address_same_person_in_one_language(client: TestClient) -> None:
    body = {"Emails": [{"To": [{"Address": "q@gmail.com"}]}]}
    first = client.post(SEND, json=body, headers={**AUTH, "Accept-Language": "sv"}).json()[0]["To"][0]
    again = client.post(SEND, json={**body, "x": 1}, headers={**AUTH, "Accept-Language": "sv"}).json()[0]["To"][0]
    assert first["PersonName"] == again["PersonName"]


def test_reasons_in_responses_follow_language_and_culture(client: TestClient) -> None:
    body = {"Emails": [{"Subject": f"m{n}"} for n in range(60)]}

    def reasons(**headers: str) -> set[str]:
        result = client.post(SEND, json=body, headers={**AUTH, **headers}).json()
        # Only a read-only mail (mask R) explains itself.
        assert all(bool(m["TableRight"]["Reason"]) == (m["TableRight"]["Mask"] == "Select") for m in result)
        return {m["TableRight"]["Reason"] for m in result if m["TableRight"]["Reason"]}

    assert reasons() == {"[SR_EMAIL_ARCHIVED_READONLY]"}
    assert all(r.startswith("Arkiverad 2025-05-13 10:24") for r in reasons(**{"Accept-Language": "sv"}))
    assert all(
        r.startswith("Arkiverad 13.05.25, 10:24") for r in reasons(**{"Accept-Language": "sv", "SO-Culture": "de"})
    )
