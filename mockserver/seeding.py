"""Request-derived seeds: the same request gives the same data, different requests differ."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

# Headers that change the data of a response. Accept is not one (JSON and XML carry the same data) and
# credentials are deliberately not.
SEED_HEADERS = ("accept-language", "so-language", "so-culture", "so-timezone")

MAX_SEED = 2**53 - 1  # exact in a JavaScript number, so a browser can send it back unchanged


def request_seed(
    run_seed: int,
    operation_id: str,
    path: str,
    query: bytes,
    headers: Sequence[tuple[str, str]],
    body: bytes | bytearray,
) -> int:
    # Everything before the body hashed in one piece, then the body (not joined to it: it can be megabytes). The
    # same digest as updating part by part (`tests/test_seeding.py` keeps that form), without a call per part.
    named = "".join([f"{name}:{value}\x00" for name, value in sorted(headers)]) if headers else ""
    digest = hashlib.blake2b(
        f"{run_seed}\x00{operation_id}\x00{path}\x00".encode("utf-8", "surrogatepass")
        + query
        + b"\x00"
        + named.encode("utf-8", "surrogatepass"),
        digest_size=8,
    )
    digest.update(body)
    return int.from_bytes(digest.digest(), "big") & MAX_SEED
