"""SO-TimeZone: vendor codes, ids and IANA names; conversion and offsets as the vendor documents them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from mockserver.contract import spec
from mockserver.formats.timezones import VENDOR_ZONES, parse
from tests.conftest import AUTH, SAVE

ZONES = spec.iana_zone_names()


@pytest.mark.parametrize(
    ("header", "zone", "offset"),
    [
        ("NO", "Europe/Oslo", False),
        ("261", "Europe/Oslo", False),
        ("US-NY", "America/New_York", False),
        ("US-NY, includeTZOffset", "America/New_York", True),
        ("460,includeTZOffset", "America/New_York", True),
        ("Asia/Kolkata", "Asia/Kolkata", False),
        ("UTC, IncludeTzOffset", "UTC", True),
    ],
)
def test_parse(header: str, zone: str, offset: bool) -> None:
    parsed = parse(header, ZONES)
    assert parsed.zone == ZoneInfo(zone)
    assert parsed.include_offset is offset


@pytest.mark.parametrize("header", ["Mars/Base", "XX", "999", ", includeTZOffset", ""])
def test_unknown_zones_are_errors(header: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked through the app below
        parse(header, ZONES)


def test_every_zone_the_contract_admits_exists() -> None:
    for name in ZONES:
        ZoneInfo(name)
    for _, _, iana in VENDOR_ZONES:
        ZoneInfo(iana)


def save(client: TestClient, sent: str, **headers: str) -> str:
    response = client.post(SAVE, json={"Email": {"Sent": sent, "IsSent": True}}, headers={**AUTH, **headers})
    assert response.status_code == 200, response.text
    value: str = response.json()["Sent"]
    return value


def test_the_vendor_article_example(client: TestClient) -> None:
    # SO-TimeZone article: "2018-12-24T12:34:45Z" with US-NY, includeTZOffset comes back as 07:34:45-0500.
    assert save(client, "2018-12-24T12:34:45Z", **{"SO-TimeZone": "US-NY, includeTZOffset"}) == (
        "2018-12-24T07:34:45.0000000-0500"
    )
    assert save(client, "2018-12-24T12:34:45Z", **{"SO-TimeZone": "US-NY"}) == "2018-12-24T07:34:45.0000000"
    # Offset-less input is read in the requested zone, and comes back unchanged in it.
    assert save(client, "2018-12-24T12:34:45", **{"SO-TimeZone": "US-NY"}) == "2018-12-24T12:34:45.0000000"
    # Without the header: the base zone (Europe/Oslo) with its offset, as the vendor's samples show.
    assert save(client, "2018-12-24T12:34:45Z") == "2018-12-24T13:34:45.0000000+01:00"


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        ("2024-03-31T00:30:00Z", "NO, includeTZOffset", "2024-03-31T01:30:00.0000000+0100"),
        ("2024-03-31T01:30:00Z", "NO, includeTZOffset", "2024-03-31T03:30:00.0000000+0200"),
        ("2024-11-03T05:30:00Z", "US-NY, includeTZOffset", "2024-11-03T01:30:00.0000000-0400"),
        ("2024-11-03T06:30:00Z", "US-NY, includeTZOffset", "2024-11-03T01:30:00.0000000-0500"),
        ("2024-07-01T00:00:00Z", "US-HI, includeTZOffset", "2024-06-30T14:00:00.0000000-1000"),
        ("2024-07-01T00:00:00Z", "Asia/Kolkata, includeTZOffset", "2024-07-01T05:30:00.0000000+0530"),
    ],
)
def test_conversion_on_known_instants_across_dst(client: TestClient, utc: str, zone: str, expected: str) -> None:
    assert save(client, utc, **{"SO-TimeZone": zone}) == expected


def test_unknown_zone_is_a_400(client: TestClient) -> None:
    response = client.post(SAVE, json={"Email": {}}, headers={**AUTH, "SO-TimeZone": "Mars/Base"})
    assert response.status_code == 400
    assert response.json()["MessageDetail"] == "Header parameter 'SO-TimeZone': 'Mars/Base' is not an accepted value"
