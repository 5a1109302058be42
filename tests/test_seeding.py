from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.call import seed_query
from mockserver.seeding import MAX_SEED, request_seed


def seed(**changes: object) -> int:
    args: dict[str, object] = {
        "run_seed": 1,
        "operation_id": "op",
        "path": "/p",
        "query": b"",
        "headers": [("accept-language", "sv")],
        "body": b"{}",
    }
    args.update(changes)
    return request_seed(**args)  # type: ignore[arg-type]


def test_same_request_same_seed_and_any_difference_changes_it() -> None:
    base = seed()
    assert base == seed()
    for change in (
        {"run_seed": 2},
        {"operation_id": "other"},
        {"path": "/q"},
        {"query": b"a=1"},
        {"headers": [("accept-language", "de")]},
        {"body": b'{"a":1}'},
    ):
        assert seed(**change) != base, change
    assert 0 <= base <= MAX_SEED


def test_header_order_does_not_matter() -> None:
    a = seed(headers=[("so-timezone", "NO"), ("so-language", "sv")])
    assert a == seed(headers=[("so-language", "sv"), ("so-timezone", "NO")])


def test_select_does_not_change_the_data_only_the_view() -> None:
    assert seed_query("$select=Subject&b=2&a=1") == seed_query("a=1&b=2") == b"a=1&b=2"


def _part_by_part(
    run_seed: int, operation_id: str, path: str, query: bytes, headers: list[tuple[str, str]], body: bytes
) -> int:
    """The seed's definition: each part fed to the digest in turn."""
    import hashlib

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


@settings(max_examples=300)
@given(
    st.integers(0, 2**64),
    st.text(),
    st.text(),
    st.binary(max_size=40),
    st.lists(st.tuples(st.sampled_from(["so-language", "so-culture", "accept-language"]), st.text(max_size=12))),
    st.binary(max_size=200),
)
def test_the_seed_is_the_digest_of_the_parts_in_turn(
    run_seed: int, operation_id: str, path: str, query: bytes, headers: list[tuple[str, str]], body: bytes
) -> None:
    """Seeds made by earlier versions stay valid: the same requests give the same data."""
    expected = _part_by_part(run_seed, operation_id, path, query, headers, body)
    assert request_seed(run_seed, operation_id, path, query, headers, body) == expected


def test_a_known_request_keeps_its_seed() -> None:
    assert seed() == _part_by_part(1, "op", "/p", b"", [("accept-language", "sv")], b"{}")
