"""SO-TimeZone: which zone date-times are converted to, and whether they carry an offset.

SuperOffice names zones by country code (`NO`, `US-NY`) and by numeric id; this table is the one the
vendor's SO-TimeZone article prints (GET /api/v1/timezone). IANA names are accepted as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from zoneinfo import ZoneInfo

# (id, code) → IANA zone, from the vendor's table.
VENDOR_ZONES: tuple[tuple[int, str, str], ...] = (
    (1, "UTC", "UTC"),
    (36, "AU-ACT", "Australia/Sydney"),
    (50, "BD", "Asia/Dhaka"),
    (114, "CA-QC", "America/Toronto"),
    (140, "DK", "Europe/Copenhagen"),
    (156, "FR", "Europe/Paris"),
    (261, "NO", "Europe/Oslo"),
    (425, "US-CA", "America/Los_Angeles"),
    (433, "US-HI", "Pacific/Honolulu"),
    (460, "US-NY", "America/New_York"),
)
_BY_CODE = {code: iana for _, code, iana in VENDOR_ZONES}
_BY_ID = {str(number): iana for number, _, iana in VENDOR_ZONES}
_HEADER = re.compile(r"^\s*(?P<zone>[^,]+?)\s*(?:,\s*(?P<flag>includeTZOffset)\s*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class TimeZoneRequest:
    zone: tzinfo
    include_offset: bool


def parse(header: str, iana_names: frozenset[str]) -> TimeZoneRequest:
    """Parse an SO-TimeZone value; raises ValueError for a zone the server does not know."""
    match = _HEADER.match(header)
    if match is None:
        raise ValueError(
            f"'{header}' is not a time zone code, id or IANA name, optionally followed by ', includeTZOffset'"
        )
    name = match["zone"]
    iana = _BY_CODE.get(name) or _BY_ID.get(name) or (name if name in iana_names else None)
    if iana is None:
        raise ValueError(f"Unknown time zone '{name}'")
    return TimeZoneRequest(ZoneInfo(iana), include_offset=match["flag"] is not None)
