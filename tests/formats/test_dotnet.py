""".NET value formats: DateTime round-trip strings with 7 fractional digits, [Flags] enums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.formats.dotnet import EMAIL_FLAGS, FIELD_RIGHT, TABLE_RIGHT, DotNetDateTime, format_offset

OSLO = ZoneInfo("Europe/Oslo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    "text",
    ["2010-09-10T11:10:26.9264254+02:00", "2007-12-11T11:10:26.9264254+01:00", "2004-12-15T03:46:54.8007556+01:00"],
)
def test_vendor_samples_render_back_identically_in_oslo(text: str) -> None:
    assert DotNetDateTime.parse(text, OSLO).render(OSLO) == text


def test_offsetless_input_is_in_the_assumed_zone() -> None:
    value = DotNetDateTime.parse("2018-12-24T12:34:45", OSLO)
    assert value.render(OSLO) == "2018-12-24T12:34:45.0000000+01:00"
    assert value.render(NEW_YORK, include_offset=False) == "2018-12-24T06:34:45.0000000"


@pytest.mark.parametrize(
    ("utc", "oslo", "new_york"),
    [
        # Either side of the 2024 DST changes: Europe on 31 March / 27 October, the US on 10 March / 3 November.
        ("2024-03-31T00:59:59Z", "2024-03-31T01:59:59.0000000+01:00", "2024-03-30T20:59:59.0000000-04:00"),
        ("2024-03-31T01:00:00Z", "2024-03-31T03:00:00.0000000+02:00", "2024-03-30T21:00:00.0000000-04:00"),
        ("2024-10-27T00:59:59Z", "2024-10-27T02:59:59.0000000+02:00", "2024-10-26T20:59:59.0000000-04:00"),
        ("2024-10-27T01:00:00Z", "2024-10-27T02:00:00.0000000+01:00", "2024-10-26T21:00:00.0000000-04:00"),
        ("2024-03-10T06:59:59Z", "2024-03-10T07:59:59.0000000+01:00", "2024-03-10T01:59:59.0000000-05:00"),
        ("2024-03-10T07:00:00Z", "2024-03-10T08:00:00.0000000+01:00", "2024-03-10T03:00:00.0000000-04:00"),
    ],
)
def test_conversion_across_daylight_saving_changes(utc: str, oslo: str, new_york: str) -> None:
    value = DotNetDateTime.parse(utc, OSLO)
    assert value.render(OSLO) == oslo
    assert value.render(NEW_YORK) == new_york


def test_offset_without_colon_and_seventh_digit_survive() -> None:
    value = DotNetDateTime.parse("2018-12-24T07:34:45.1234567-0500", OSLO)
    assert value.tick == 7
    assert value.render(ZoneInfo("UTC")) == "2018-12-24T12:34:45.1234567+00:00"


def _reference_render(value: DotNetDateTime, zone: tzinfo, include_offset: bool, colon: bool) -> str:
    """`render` as it was first written, a field at a time: the definition the faster one is held to."""
    try:
        local = value.value.astimezone(zone)
    except (OverflowError, ValueError):
        local = value.value
    text = (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}:{local.minute:02d}:"
        f"{local.second:02d}.{local.microsecond:06d}{value.tick}"
    )
    if include_offset:
        text += format_offset(local.utcoffset() or timedelta(0), colon)
    return text


# Zones with DST, offsets off the hour, a negative one, and local mean times with seconds (Amsterdam before 1937).
_ZONES = st.one_of(
    st.sampled_from(
        [UTC, OSLO, NEW_YORK, ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/Amsterdam"), ZoneInfo("America/St_Johns")]
    ),
    st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)).map(timezone),
)


@given(
    st.datetimes(timezones=st.one_of(st.none(), _ZONES)),
    st.integers(0, 9),
    _ZONES,
    st.booleans(),
    st.booleans(),
)
def test_render_is_the_field_by_field_formula(
    moment: datetime, tick: int, zone: tzinfo, include_offset: bool, colon: bool
) -> None:
    value = DotNetDateTime(moment, tick)
    assert value.render(zone, include_offset, colon) == _reference_render(value, zone, include_offset, colon)


def test_edges_of_the_calendar_do_not_overflow() -> None:
    assert DotNetDateTime.parse("9999-12-31T23:00:00-05:00", OSLO).render(OSLO).startswith("9999-12-31T23:00:00")
    assert DotNetDateTime.parse("0001-01-01T00:00:00+05:00", OSLO).render(OSLO).startswith("0001-01-01T00:00:00")


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_render_then_parse_is_the_same_instant(moment: datetime) -> None:
    text = DotNetDateTime(moment, 3).render(OSLO)
    again = DotNetDateTime.parse(text, OSLO)
    assert again.value == moment and again.tick == 3


@pytest.mark.parametrize("bad", ["2024-13-01T00:00:00", "yesterday", "2024-01-01 10:00:00"])
def test_parse_rejects_what_is_not_a_datetime(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - ValueError is the documented contract
        DotNetDateTime.parse(bad, OSLO)


@pytest.mark.parametrize(
    ("enum", "value", "text"),
    [
        (EMAIL_FLAGS, 0, "None"),
        (EMAIL_FLAGS, 1, "Seen"),
        (EMAIL_FLAGS, 33, "Seen, Answered"),
        (EMAIL_FLAGS, 17, "Seen, Draft"),
        (EMAIL_FLAGS, 128, "128"),
        (TABLE_RIGHT, 15, "FULL"),
        (TABLE_RIGHT, 8, "Delete"),
        (TABLE_RIGHT, 9, "Select, Delete"),
        (FIELD_RIGHT, 3, "FULL"),
        (FIELD_RIGHT, 67, "Update, UIHintMandatory"),  # the vendor's own example
        (FIELD_RIGHT, 129, "Read, UIHintReadOnly"),
    ],
)
def test_flags_format_as_dotnet_prints_them(enum: object, value: int, text: str) -> None:
    assert enum.format(value) == text  # type: ignore[attr-defined]


@given(st.integers(min_value=0, max_value=63))
def test_email_flags_round_trip(value: int) -> None:
    assert EMAIL_FLAGS.parse(EMAIL_FLAGS.format(value)) == value


def test_flags_parse_tolerates_missing_space_and_rejects_unknown_names() -> None:
    assert EMAIL_FLAGS.parse("Seen,Answered") == 33
    with pytest.raises(ValueError, match="Bogus"):
        EMAIL_FLAGS.parse("Seen, Bogus")
