from __future__ import annotations

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
