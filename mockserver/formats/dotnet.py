"""How the vendor's .NET server writes values: DateTime round-trip strings and [Flags] enums."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_DATETIME = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,7}))?(?P<tz>Z|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True, slots=True)
class DotNetDateTime:
    """An instant (or wall-clock time without offset) with .NET's 100 ns tick precision.

    Python's datetime stops at microseconds; `tick` keeps the seventh fractional digit so that values
    echo back exactly as the client wrote them.
    """

    value: datetime
    tick: int = 0

    @classmethod
    def parse(cls, text: str, assume_zone: tzinfo) -> DotNetDateTime:
        """Parse a string the contract's DotNetDateTime pattern admits; offset-less input is in `assume_zone`."""
        match = _DATETIME.fullmatch(text)
        if match is None:
            raise ValueError(f"not a .NET date-time: {text!r}")
        frac = (match["frac"] or "").ljust(7, "0")
        tz_text = match["tz"]
        zone: tzinfo
        if tz_text is None:
            zone = assume_zone
        elif tz_text == "Z":
            zone = UTC
        else:
            sign = -1 if tz_text[0] == "-" else 1
            digits = tz_text[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        value = datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
            int(frac[:6]),
            tzinfo=zone,
        )
        return cls(value, int(frac[6]))

    def render(self, zone: tzinfo, include_offset: bool = True, colon: bool = True) -> str:
        """`yyyy-MM-ddTHH:mm:ss.fffffff` in `zone`, with `+HH:MM` (or `+HHMM`) when `include_offset`."""
        try:
            local = self.value.astimezone(zone)
        except (OverflowError, ValueError):
            # Near year 1 or 9999 the conversion leaves datetime's range; keep the client's own wall time.
            local = self.value
        # Not strftime: glibc's %Y does not zero-pad years before 1000, and .NET starts at 0001. isoformat (C) does,
        # and its first 26 characters are the wall time to the microsecond, whatever follows; a field at a time in
        # Python was most of rendering a date, and an answer renders one or more per mail.
        text = local.isoformat(timespec="microseconds")[:26] + str(self.tick)
        if include_offset:
            text += _offset_text(local.utcoffset(), colon)
        return text


@functools.lru_cache(maxsize=256)
def _offset_text(offset: timedelta | None, colon: bool) -> str:
    """`format_offset` of a zone's offset (a handful of them serve a whole run)."""
    return format_offset(offset or timedelta(0), colon)


def format_offset(offset: timedelta, colon: bool = True) -> str:
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{minutes:02d}"


@dataclass(frozen=True)
class FlagsEnum:
    """A .NET [Flags] enum: member names with values, in declaration order (first name wins on duplicates).

    `exact` names the member printed when a value equals several members exactly; the vendor prints
    EFieldRight 3 as `FULL` on its own but as `Update` inside a combination (`"Update, UIHintMandatory"`).
    """

    members: Sequence[tuple[str, int]]
    exact: Mapping[int, str] = field(default_factory=dict)

    def format(self, value: int) -> str:
        """What .NET's Enum.ToString() prints for `value`."""
        if value in self.exact:
            return self.exact[value]
        exact = [name for name, member in self.members if member == value]
        if exact:
            return exact[0]
        # Greedy from the largest member down, as .NET's InternalFlagsFormat does; names print ascending.
        by_value: dict[int, str] = {}
        for name, member in self.members:
            by_value.setdefault(member, name)
        remaining = value
        names: list[str] = []
        for member in sorted(by_value, reverse=True):
            if member and member & remaining == member:
                names.append(by_value[member])
                remaining -= member
        if remaining or not names:
            return str(value)
        return ", ".join(reversed(names))

    def parse(self, text: str) -> int:
        """What .NET's Enum.Parse() reads from comma-separated names."""
        lookup = dict(self.members)
        total = 0
        for part in text.split(","):
            name = part.strip()
            if name not in lookup:
                raise ValueError(f"unknown member {name!r}")
            total |= lookup[name]
        return total


EMAIL_FLAGS = FlagsEnum(
    [("None", 0), ("Seen", 1), ("Deleted", 2), ("Recent", 4), ("Flagged", 8), ("Draft", 16), ("Answered", 32)]
)

TABLE_RIGHT = FlagsEnum(
    [
        ("None", 0),
        ("Select", 1),
        ("Update", 2),
        ("Insert", 4),
        ("Delete", 8),
        ("Filtering", 16),
        ("RestrictedUpdate", 32),
        ("Unused1", 64),
        ("Uninitialized", 128),
        ("R", 1),
        ("UR", 3),
        ("RI", 5),
        ("URI", 7),
        ("UDR", 11),
        ("FULL", 15),
        ("F", 16),
        ("RF", 17),
        ("FI", 20),
        ("URU", 34),
        ("WRITE", 38),
    ]
)

FIELD_RIGHT = FlagsEnum(
    [
        ("None", 0),
        ("Read", 1),
        ("Write", 2),
        ("Update", 3),
        ("FULL", 3),
        ("Unused1", 4),
        ("Unused2", 8),
        ("Unused3", 16),
        ("Nullable", 32),
        ("Unused4", 32),
        ("UIHintMandatory", 64),
        ("UIHintReadOnly", 128),
        ("UIHints", 192),
    ],
    exact={3: "FULL"},
)
