"""Request-derived seeds: the same request gives the same data, different requests differ."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Headers that change the data of a response. Accept is not one (JSON and XML carry the same data) and
# credentials are deliberately not.
SEED_HEADERS = ("accept-language", "so-language", "so-culture", "so-timezone")

MAX_SEED = 2**53 - 1  # exact in a JavaScript number, so a browser can send it back unchanged


def request_seed(
    run_seed: int,
    operation_id: str,
    path: str,
    query: bytes,
    headers: Iterable[tuple[str, str]],
    body: bytes | bytearray,
) -> int:
    digest = hashlib.blake2b(digest_size=8)
    for part in (str(run_seed), operation_id, path):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    digest.update(query)
    digest.update(b"\x00")
    for name, value in sorted(headers):
        digest.update(f"{name}:{value}\x00".encode("utf-8", "surrogatepass"))
    digest.update(body)
    return int.from_bytes(digest.digest(), "big") & MAX_SEED
