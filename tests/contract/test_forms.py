"""Form bodies in ASP.NET's bracket notation (and dots, and JSON fields), read by the contract's types."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mockserver.contract import forms, spec
from tests.conftest import AUTH, RELAY, SEND

REQUEST = spec.schema("SendEMailsRequest")


def read(body: str, schema: Any = REQUEST) -> Any:
    return forms.read(body, schema, spec.resolve)


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("Emails", ["Emails"]),
        ("Emails[0][To][1][Address]", ["Emails", "0", "To", "1", "Address"]),
        ("Emails[0].To[1].Address", ["Emails", "0", "To", "1", "Address"]),
        ("Recipients[]", ["Recipients", ""]),
        ("FieldProperties[a.b]", ["FieldProperties", "a.b"]),
    ],
)
def test_split_name(name: str, parts: list[str]) -> None:
    assert forms.split_name(name) == parts


@pytest.mark.parametrize("name", ["", "[0]", "Emails[0", "Emails]", "Emails[0]x"])
def test_names_outside_the_notation_are_ignored(name: str) -> None:
    with pytest.raises(forms.FormBodyError):
        forms.split_name(name)
    assert read(f"{name}=1&Emails[0][Subject]=s") == {"Emails": [{"Subject": "s"}]}


def test_brackets_dots_and_types() -> None:
    value = read(
        "Emails[0][Subject]=Hei+p%C3%A5+deg&Emails[0].Size=12&Emails[0][IsSent]=true"
        "&Emails[0][To][0][Address]=kari%40fjordtech.no&Emails[0][To][1].Address=lars%40fjordtech.no"
        "&Emails[1][Subject]=&Emails[0][Priority]=High&OutgoingConnectionInfo[ServerName]=smtp.x.no"
        "&OutgoingConnectionInfo[UseSSL]=false&Unknown[Deep]=1"
    )
    first, second = value["Emails"]
    assert first == {
        "Subject": "Hei på deg",
        "Size": 12,
        "IsSent": True,
        "To": [{"Address": "kari@fjordtech.no"}, {"Address": "lars@fjordtech.no"}],
        "Priority": "High",
    }
    assert second == {"Subject": ""}
    assert value["OutgoingConnectionInfo"] == {"ServerName": "smtp.x.no", "UseSSL": False}
    assert "Unknown" not in value


def test_arrays_of_strings_by_repetition_append_or_index() -> None:
    schema = spec.schema("RelayMessageRequest")
    assert read("Recipients=a&Recipients=b", schema)["Recipients"] == ["a", "b"]
    assert read("Recipients[]=a&Recipients[]=b", schema)["Recipients"] == ["a", "b"]
    assert read("Recipients[1]=b&Recipients[0]=a", schema)["Recipients"] == ["a", "b"]
    assert read("Recipients=a", schema)["Recipients"] == ["a"]


def test_a_complex_field_may_be_json() -> None:
    value = read('Emails=[{"Subject":"Hei","To":[{"Address":"a@b.no"}]}]&SentItemsConnectionInfo=')
    assert value["Emails"] == [{"Subject": "Hei", "To": [{"Address": "a@b.no"}]}]
    assert value["SentItemsConnectionInfo"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Emails[0][Size]=twelve", "integer"),
        ("Emails[0][IsSent]=maybe", "true or false"),
        ("Emails[x][Subject]=a", "numbered"),
        ("Emails=not-json", "JSON"),
        ("Emails[0][Subject][deep]=a", "simple value"),
    ],
)
def test_unreadable_forms_are_errors(body: str, message: str) -> None:
    with pytest.raises(forms.FormBodyError, match=message):
        read(body)


emails = st.fixed_dictionaries(
    {},
    optional={
        "Subject": st.text(max_size=20),
        "Size": st.integers(-(2**31), 2**31 - 1),
        "IsSent": st.booleans(),
        "To": st.lists(st.fixed_dictionaries({"Address": st.text(min_size=1, max_size=20)}), min_size=1, max_size=3),
    },
)


@given(st.lists(emails, min_size=1, max_size=3))
def test_flatten_then_read_gives_the_value_back(value: list[dict[str, Any]]) -> None:
    body = {"Emails": value}
    expected = {"Emails": [e for e in value if e]} if any(value) else {}
    assert read(forms.encode(body)) == expected


def test_form_requests_through_the_app(client: TestClient) -> None:
    headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    sent = client.post(
        SEND, content=forms.encode({"Emails": [{"Subject": "Hei", "To": [{"Address": "a@b.no"}]}]}), headers=headers
    )
    assert sent.status_code == 200
    assert sent.json()[0]["Subject"] == "Hei"
    relayed = client.post(RELAY, content=b"Rfc822=hello&Recipients=a%40b.no", headers=headers)
    assert relayed.status_code == 204
    bad = client.post(SEND, content=b"Emails[0][Size]=big", headers=headers)
    assert bad.status_code == 400
    assert "integer" in bad.json()["MessageDetail"]
    invalid = client.post(RELAY, content=b"Rfc822=hello", headers=headers)
    assert invalid.status_code == 400
    assert "Recipients" in invalid.json()["MessageDetail"]
    latin1 = client.post(
        SEND,
        content=b"Emails[0][Subject]=M%F8te",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded; charset=iso-8859-1"},
    )
    assert latin1.json()[0]["Subject"] == "Møte"
