"""Request bodies: media types, charsets, size limits and schema violations, never a 500."""

from __future__ import annotations

import codecs
import json

import pytest
from starlette.testclient import TestClient

from mockserver import create_app
from mockserver.contract.bodies import body_validator, first_error, is_base64, to_json_schema
from tests.conftest import AUTH, GWS_SEND, SEND, gws_login, mock_settings

BODY = {"Emails": [{"Subject": "Hei på deg", "To": [{"Address": "kari@fjordtech.no"}]}]}


@pytest.mark.parametrize(
    "media_type", ["application/json", "text/json", "application/json-patch+json", "application/merge-patch+json"]
)
def test_every_json_media_type_is_read_as_the_request_object(client: TestClient, media_type: str) -> None:
    response = client.post(SEND, content=json.dumps(BODY).encode(), headers={**AUTH, "Content-Type": media_type})
    assert response.status_code == 200
    assert response.json()[0]["Subject"] == "Hei på deg"


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf-16", "utf-16-le", "iso-8859-1", "windows-1252"])
def test_declared_charset_is_respected(client: TestClient, charset: str) -> None:
    raw = json.dumps(BODY, ensure_ascii=False).encode(charset)
    response = client.post(SEND, content=raw, headers={**AUTH, "Content-Type": f"application/json; charset={charset}"})
    assert response.status_code == 200, response.text
    assert response.json()[0]["Subject"] == "Hei på deg"


def test_utf8_byte_order_mark_is_skipped(client: TestClient) -> None:
    raw = codecs.BOM_UTF8 + json.dumps(BODY).encode()
    response = client.post(SEND, content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "detail"),
    [
        (b'{"Emails": [{"Subject": "\xff\xfe"}]}', "application/json", 400, "not valid utf-8"),
        (b"\xff", "application/json; charset=utf-8", 400, "not valid utf-8"),
        (b"{", "application/json", 400, "not valid JSON"),
        (b"NaN", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b"   ", "application/json", 400, "empty"),
        (b"null", "application/json", 400, "null"),
        (b"[]", "application/json", 400, "not of type"),
        (b'{"Emails": "x"}', "application/json", 400, "Emails"),
        (b'{"Emails": [{"Size": 2147483648}]}', "application/json", 400, "Emails[0].Size"),
        (b'{"Emails": [{"Priority": "Urgent"}]}', "application/json", 400, "Emails[0].Priority"),
        (b'{"Emails": [{"Attachments": [{"Stream": "not base64!"}]}]}', "application/json", 400, "Stream"),
        (b'{"Emails": [{"Sent": "2023-02-30T10:00:00"}]}', "application/json", 400, "Sent"),
        (b"{}", "application/json; charset=klingon", 415, "klingon"),
        (b"{}", "text/plain", 415, "text/plain"),
        (b"{}", "application/octet-stream", 415, "application/octet-stream"),
    ],
)
def test_bad_bodies_get_a_4xx_in_the_vendor_shape(
    client: TestClient, raw: bytes, content_type: str, status: int, detail: str
) -> None:
    response = client.post(SEND, content=raw, headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == status, response.text
    payload = response.json()
    assert "Message" in payload
    assert detail.lower() in json.dumps(payload).lower()


def test_body_over_the_limit_is_a_413_and_never_fully_read() -> None:
    with create_app(mock_settings(seed=1, max_body_bytes=1000)).test_client() as client:
        big = json.dumps({"Emails": [{"Subject": "x" * 5000}]}).encode()
        response = client.post(SEND, content=big, headers={**AUTH, "Content-Type": "application/json"})
        gws = client.post(GWS_SEND, content=big, headers={**gws_login(client), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["Message"] == "The request entity is too large."
    assert gws.status_code == 413
    assert gws.json()["statusCode"] == 10


def test_unknown_properties_are_ignored_as_json_net_does(client: TestClient) -> None:
    body = {"Emails": [{"Subject": "x", "Unknown": {"deep": [1, 2]}}], "Extra": True}
    response = client.post(SEND, json=body, headers=AUTH)
    assert response.status_code == 200
    assert "Unknown" not in response.json()[0]


def test_nullable_becomes_a_null_type_and_enum_member() -> None:
    converted = to_json_schema(
        {"type": "string", "nullable": True, "enum": ["A", "B"], "example": "A", "x-extra": 1, "format": "int32"}
    )
    assert converted == {"type": ["string", "null"], "enum": ["A", "B", None]}
    assert to_json_schema({"allOf": [{"type": "object"}], "nullable": True}) == {
        "anyOf": [{"type": "null"}, {"allOf": [{"type": "object"}]}]
    }
    # Property names are data, not keywords: a property called "description" survives.
    assert to_json_schema({"properties": {"description": {"type": "string"}}}) == {
        "properties": {"description": {"type": "string"}}
    }


@pytest.mark.parametrize(
    ("value", "valid"),
    [("", True), ("QUJD", True), ("QUJ D\r\nRA==", True), ("QUJDRA", False), ("not base64!", False)],
)
def test_base64_is_what_dotnet_accepts(value: str, valid: bool) -> None:
    assert is_base64(value) is valid


def test_first_error_reports_the_path_and_a_kind() -> None:
    schema = {
        "type": "object",
        "required": ["to"],
        "properties": {"to": {"type": "array", "minItems": 1}, "n": {"type": "integer", "maximum": 3}},
    }
    missing = first_error(schema, {})
    assert missing is not None and missing.kind == "missing" and "to" in str(missing.detail)
    empty = first_error(schema, {"to": []})
    assert empty is not None and empty.kind == "missing"
    big = first_error(schema, {"to": [1], "n": 4})
    assert big is not None and big.kind == "range" and "'n'" in str(big.detail)
    assert first_error(schema, {"to": [1]}) is None


def test_an_error_inside_a_nullable_carrier_names_the_property_not_the_carrier(client: TestClient) -> None:
    # `OutgoingConnectionInfo` is `{allOf: [$ref], nullable: true}`: the schema error is an anyOf of "not null"
    # and the carrier's own error, and the client is told the latter
    body = {**BODY, "OutgoingConnectionInfo": {"UserName": "kari", "ServerName": 25}}
    response = client.post(SEND, json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    detail = json.dumps(response.json())
    assert "OutgoingConnectionInfo.ServerName" in detail and "any of" not in detail
    wrapped = {"nullable": True, "allOf": [{"type": "object", "properties": {"n": {"type": "integer"}}}]}
    schema = {"type": "object", "properties": {"c": {**wrapped}}}
    problem = first_error(schema, {"c": {"n": "x"}})
    assert problem is not None and "'c.n'" in str(problem.detail)
    assert first_error(schema, {"c": None}) is None


def test_byte_strings_are_checked_where_the_schema_asks_for_them() -> None:
    """format: byte is checked in place (not by jsonschema-rs, which would copy every such string)."""
    attachment = {"type": "object", "properties": {"Stream": {"type": "string", "format": "byte", "nullable": True}}}
    mail = {"properties": {"Attachments": {"type": "array", "items": attachment}}}
    schema = {
        "type": "object",
        "properties": {"Emails": {"type": "array", "items": {"allOf": [mail]}}, "Note": {"type": "string"}},
    }
    assert body_validator(schema).byte_paths == (("Emails", None, "Attachments", None, "Stream"),)
    good = {"Emails": [{"Attachments": [{"Stream": "QUJD"}, {"Stream": None}, {}]}], "Note": "not base64 either"}
    assert first_error(schema, good) is None
    bad = {"Emails": [{"Attachments": [{"Stream": "QUJD"}]}, {"Attachments": [{"Stream": "x!" * 250}]}]}
    problem = first_error(schema, bad)
    assert problem is not None and problem.kind == "invalid"
    assert str(problem.detail) == '"' + ("x!" * 40)[:77] + '..." is not a "byte" at \'Emails[1].Attachments[0].Stream\''
    # A value of the wrong type is the schema's to report, before any byte check.
    typed = first_error(schema, {"Emails": [{"Attachments": [{"Stream": 5}]}]})
    assert typed is not None and "Emails[0].Attachments[0].Stream" in str(typed.detail)
