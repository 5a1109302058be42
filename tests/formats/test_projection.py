"""`$select`: unit cases and the property that exactly the selected fields stay non-null."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mockserver.formats.projection import ALL, apply_select, parse_select
from tests.conftest import AUTH, SEND


def test_parse_select_builds_a_case_folded_tree() -> None:
    assert parse_select(None) is None
    assert parse_select("") is None
    assert parse_select(" , ,") is None
    assert parse_select("Subject") == {"subject": ALL}
    assert parse_select("To/Address, to/NAME") == {"to": {"address": ALL, "name": ALL}}
    assert parse_select("To/Address,To") == {"to": ALL}
    assert parse_select("To,To/Address") == {"to": ALL}
    assert parse_select("a//b,c/") is None


def test_apply_select_nulls_but_keeps_keys_and_recurses_into_arrays() -> None:
    data = [{"Subject": "s", "Size": 3, "To": [{"Address": "a", "Name": "n"}, None], "From": {"Address": "f"}}]
    assert apply_select(data, parse_select("subject,TO/address")) == [
        {"Subject": "s", "Size": None, "To": [{"Address": "a", "Name": None}, None], "From": None}
    ]
    assert apply_select(data, None) == data
    # The vendor's own example names fields EMailEntity lacks: everything is nulled, nothing fails.
    assert apply_select(data, parse_select("name,department,category/id")) == [
        {"Subject": None, "Size": None, "To": None, "From": None}
    ]


keys = st.sampled_from(["Subject", "Size", "To", "From", "Address", "Name", "Flags"])
leaves = st.one_of(st.integers(), st.text(min_size=1), st.booleans())
trees = st.recursive(
    leaves,
    lambda inner: st.dictionaries(keys, inner, min_size=1) | st.lists(inner, min_size=1, max_size=3),
    max_leaves=12,
)
paths = st.lists(st.lists(keys, min_size=1, max_size=3).map("/".join), min_size=1, max_size=4)


def _paths_to_nonnull(value: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path (through arrays) whose value is not None."""
    found: set[tuple[str, ...]] = set()
    if isinstance(value, list):
        for item in value:
            found |= _paths_to_nonnull(item, prefix)
    elif isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                found.add((*prefix, key.casefold()))
                found |= _paths_to_nonnull(item, (*prefix, key.casefold()))
    return found


@given(data=trees, selection=paths)
def test_only_selected_paths_and_what_they_contain_stay_non_null(data: Any, selection: list[str]) -> None:
    result = apply_select(data, parse_select(",".join(selection)))
    selected = [tuple(p.casefold().split("/")) for p in selection]
    for path in _paths_to_nonnull(result):
        # A non-null path is either a selected path, an ancestor of one, or inside a wholly selected one.
        assert any(path[: len(s)] == s or s[: len(path)] == path for s in selected), (path, selected)


@given(
    st.sets(st.sampled_from(["Subject", "MessageID", "Size", "Priority", "Flags", "IsSent", "PlainBody"]), min_size=1)
)
def test_select_through_the_app_leaves_exactly_the_listed_fields_non_null(
    app_client: TestClient, fields: set[str]
) -> None:
    client = app_client
    body = {"Emails": [{"Subject": "Hei", "PlainBody": "x", "To": [{"Address": "kari@fjordtech.no"}]}]}
    full = client.post(SEND, json=body, headers=AUTH).json()[0]
    query = ",".join(f.lower() for f in sorted(fields))
    [projected] = client.post(f"{SEND}?$select={query}", json=body, headers=AUTH).json()
    assert set(projected) == set(full)  # nulled, not removed
    assert {k for k, v in projected.items() if v is not None} == fields
    for field in fields:
        assert projected[field] == full[field]


@pytest.mark.parametrize("select", ["To/Name", "to/name", "TO/NAME"])
def test_nested_select_is_case_insensitive(client: TestClient, select: str) -> None:
    body = {"Emails": [{"To": [{"Address": "kari.nilsen@fjordtech.no"}, {"Address": "lars@fjordtech.no"}]}]}
    [email] = client.post(f"{SEND}?$select={select}", json=body, headers=AUTH).json()
    assert [r["Name"] for r in email["To"]] == ["Kari Nilsen", email["To"][1]["Name"]]
    assert all(r["Address"] is None for r in email["To"])
    assert email["Subject"] is None
