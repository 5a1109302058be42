"""Accept-Language, SO-Language and SO-Culture: the language of generated text and resource strings, and the
culture of values rendered as localized strings.

As the vendor documents it: without a language, resource strings come back as raw ids
(`[SR_MANDATORY_FIELD_1281]`); SO-Language overrides Accept-Language, and `*` or `x` means no translation;
SO-Culture changes number and date formatting inside strings and is ignored when no language is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime

DEFAULT_FAKER_LOCALE = "en_US"

# Language → Faker locale for names and generated text (Faker has no plain "nb"; Norwegian is no_NO).
FAKER_LOCALES = {
    "en": "en_US",
    "sv": "sv_SE",
    "de": "de_DE",
    "nb": "no_NO",
    "nn": "no_NO",
    "no": "no_NO",
    "da": "da_DK",
    "fi": "fi_FI",
    "fr": "fr_FR",
    "nl": "nl_NL",
    "es": "es_ES",
    "it": "it_IT",
    "pl": "pl_PL",
    "pt": "pt_BR",
    "ru": "ru_RU",
    "zh": "zh_CN",
    "ja": "ja_JP",
}
# Regional Faker locales used when the client names the region (`en-GB`, `de-AT`, `pt-PT`).
REGIONAL_FAKER_LOCALES = frozenset(
    {"en_GB", "en_AU", "en_CA", "en_IE", "de_AT", "de_CH", "fr_CA", "fr_CH", "pt_PT", "es_MX", "nl_BE"}
)

# The resource strings this server hands out, translated where the vendor's UI languages have them.
RESOURCES: dict[str, dict[str, str]] = {
    "SR_MANDATORY_FIELD_1281": {
        "en": "Mandatory field",
        "sv": "Obligatoriskt fält",
        "de": "Pflichtfeld",
        "no": "Obligatorisk felt",
        "da": "Obligatorisk felt",
        "fi": "Pakollinen kenttä",
        "fr": "Champ obligatoire",
        "nl": "Verplicht veld",
    },
    "SR_FIELD_READONLY": {
        "en": "Read-only field",
        "sv": "Skrivskyddat fält",
        "de": "Schreibgeschütztes Feld",
        "no": "Skrivebeskyttet felt",
        "da": "Skrivebeskyttet felt",
        "fi": "Vain luku -kenttä",
        "fr": "Champ en lecture seule",
        "nl": "Alleen-lezen veld",
    },
    "SR_EMAIL_ARCHIVED_READONLY": {
        "en": "Archived {date}; read-only",
        "sv": "Arkiverad {date}; skrivskyddad",
        "de": "Archiviert {date}; schreibgeschützt",
        "no": "Arkivert {date}; skrivebeskyttet",
        "da": "Arkiveret {date}; skrivebeskyttet",
        "fi": "Arkistoitu {date}; vain luku",
        "fr": "Archivé le {date} ; lecture seule",
        "nl": "Gearchiveerd {date}; alleen-lezen",
    },
}
_NORWEGIAN = {"nb", "nn", "no"}


@dataclass(frozen=True)
class Texts:
    """How one response words and formats things."""

    language: str | None
    faker_locale: str
    culture: Locale | None

    def resource(self, key: str, moment: datetime | None = None) -> str:
        """A resource string: the raw `[ID]` without a language, else its translation (English fallback)."""
        if self.language is None:
            return f"[{key}]"
        translations = RESOURCES[key]
        language = "no" if self.language in _NORWEGIAN else self.language
        text = translations.get(language, translations["en"])
        if "{date}" in text:
            text = text.replace("{date}", self.format_datetime(moment or datetime.now()))
        return text

    def format_datetime(self, moment: datetime) -> str:
        culture = self.culture or Locale.parse("en_US")
        return str(format_datetime(moment, "short", locale=culture))


NO_LANGUAGE = Texts(None, DEFAULT_FAKER_LOCALE, None)


def parse_weighted(header: str | None) -> list[tuple[str, float]]:
    """Tokens of an Accept-Language style header with their q-values, best first (ties keep their order)."""
    items: list[tuple[str, float]] = []
    for item in (header or "").split(","):
        token, *params = (piece.strip() for piece in item.split(";"))
        if not token:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        items.append((token, q))
    return sorted(items, key=lambda pair: -pair[1])


# A BCP 47 tag as far as this server reads one: language, optional script, optional region.
_TAG = re.compile(r"^(?P<language>[a-z]{2,3})(?:-[a-z]{4})?(?:-(?P<region>[a-z]{2}|[0-9]{3}))?$", re.IGNORECASE)


def _tag(value: str) -> tuple[str, str | None] | None:
    """`sv-SE` → ("sv", "SE"); `de` → ("de", None); not a language tag → None."""
    match = _TAG.match(value.strip().replace("_", "-"))
    if match is None:
        return None
    region = match["region"]
    return match["language"].lower(), region.upper() if region else None


def _faker_locale(language: str, region: str | None) -> str:
    if region and f"{language}_{region}" in REGIONAL_FAKER_LOCALES:
        return f"{language}_{region}"
    return FAKER_LOCALES.get(language, DEFAULT_FAKER_LOCALE)


def _culture(tag: str | None, fallback: tuple[str, str | None]) -> Locale:
    for candidate in (tag, "-".join(p for p in fallback if p)):
        if not candidate or _tag(candidate) is None:
            continue
        try:
            return Locale.parse(candidate.strip().replace("_", "-"), sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return Locale.parse("en_US")


def choose(accept_language: str | None, so_language: str | None, so_culture: str | None) -> Texts:
    """The language, Faker locale and culture for a request."""
    chosen: tuple[str, str | None] | None = None
    if so_language is not None and so_language.strip():
        value = so_language.strip()
        if value in ("*", "x", "X"):
            return NO_LANGUAGE
        chosen = _tag(value.split(",")[0]) or ("en", None)
    else:
        for tag, q in parse_weighted(accept_language):
            chosen = _tag(tag) if q > 0 and tag != "*" else None
            if chosen is not None:
                break
    if chosen is None:
        return NO_LANGUAGE
    language, region = chosen
    if language not in FAKER_LOCALES:
        # An unknown language is answered in English, as the vendor falls back to its default language.
        language, region = "en", None
    return Texts(language, _faker_locale(language, region), _culture(so_culture, (language, region)))
