"""Accept negotiation (RFC 9110 §12.5.1): q-values, wildcards, most specific range wins."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float
    params: tuple[tuple[str, str], ...]

    def specificity(self, media_type: str) -> int | None:
        """How specifically this range matches `media_type` (higher wins), or None if it does not."""
        main, _, sub = media_type.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 0
        if self.type != main:
            return None
        if self.subtype == "*":
            return 1
        return 2 if self.subtype == sub else None


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges from an Accept header; malformed entries are skipped, as lenient servers do."""
    ranges: list[MediaRange] = []
    if not header:
        return ranges
    for item in header.split(","):
        pieces = [piece.strip() for piece in item.split(";")]
        kind = pieces[0].lower()
        if kind == "*":
            kind = "*/*"  # sent by some old clients
        main, slash, sub = kind.partition("/")
        if not slash or not main or not sub or (main == "*" and sub != "*"):
            continue
        q = 1.0
        params = []
        for param in pieces[1:]:
            name, eq, value = param.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"')
            if not eq:
                continue
            if name == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
            else:
                params.append((name, value))
        ranges.append(MediaRange(main, sub, q, tuple(params)))
    return ranges


def negotiate(header: str | None, offered: Sequence[str]) -> str | None:
    """The offered media type the client prefers, or None when it accepts none of them.

    No Accept header (or an empty one) accepts anything, and the first offered type is the server's
    preference among equals.
    """
    return _negotiated(header, tuple(offered))


@functools.lru_cache(maxsize=1024)
def _negotiated(header: str | None, offered: tuple[str, ...]) -> str | None:
    # A client sends the same Accept header with every request, and an operation offers the same types.
    ranges = parse_accept(header)
    if not ranges:
        return offered[0] if offered else None
    best: tuple[float, int] | None = None
    chosen: str | None = None
    for position, media_type in enumerate(offered):
        matches: list[tuple[int, float]] = []
        for media_range in ranges:
            specificity = media_range.specificity(media_type)
            if specificity is not None:
                matches.append((specificity, media_range.q))
        if not matches:
            continue
        # The most specific matching range decides the q-value (RFC 9110 §12.5.1).
        _, q = max(matches, key=lambda m: m[0])
        if q <= 0:
            continue
        rank = (q, -position)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen
