"""Hypothesis properties over requests generated from the contract itself."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

import mockserver.tools.conformance  # noqa: F401 - form bodies in bracket notation, XML responses read back
from mockserver import create_app
from mockserver.contract import spec
from mockserver.contract.xmlcodec import XmlCodec, xml_safe
from tests.conftest import AUTH, SEND, mock_settings

SUPEROFFICE_TYPES = [
    "application/json",
    "text/json",
    "application/xml",
    "text/xml",
    "application/x-www-form-urlencoded",
    "application/json-patch+json",
    "application/merge-patch+json",
]
OPERATIONS = [
    ("/api/v1/Agents/EMail/SendEMails", SUPEROFFICE_TYPES),
    ("/api/v1/Agents/EMail/SaveToMailServer", SUPEROFFICE_TYPES),
    ("/api/v1/Agents/EMail/RelayMessage", SUPEROFFICE_TYPES),
    ("/api/v2/me/emails/{id}", ["application/json"]),
]


@pytest.fixture(scope="module")
def twin_apps() -> tuple[Any, Any, Any]:
    """An app checking its own responses, and the contract as schemathesis reads it.

    GWS CSRF protection is off: these properties are about bodies; the session flow has tests of its own.
    """
    first = create_app(mock_settings(seed=2024, validate_responses=True, gws_csrf=False))
    second = create_app(mock_settings(seed=2024, validate_responses=True, gws_csrf=False))
    schema = schemathesis.openapi.from_asgi("/openapi.json", first)
    return first, second, schema


@pytest.fixture(scope="module")
def restart_pair() -> tuple[Any, Any, Any]:
    first = create_app(mock_settings(seed=2024, gws_csrf=False))
    second = create_app(mock_settings(seed=2024, gws_csrf=False))
    return first, second, schemathesis.openapi.from_asgi("/openapi.json", first)


def cases(schema: Any, path: str, media_types: list[str]) -> st.SearchStrategy[Any]:
    operation = schema[path]["POST"]
    return operation.as_strategy().filter(lambda case: case.media_type in media_types)


@pytest.mark.parametrize(("path", "media_types"), OPERATIONS, ids=[p for p, _ in OPERATIONS])
def test_valid_requests_get_2xx_responses_that_conform(
    twin_apps: tuple[Any, Any, Any], path: str, media_types: list[str]
) -> None:
    first, _, schema = twin_apps
    operation = schema[path]["POST"]

    @given(case=cases(schema, path, media_types))
    @settings(max_examples=settings().max_examples)
    def check(case: Any) -> None:
        response = case.call(headers=AUTH, app=first)
        assert 200 <= response.status_code < 300, response.text
        operation.validate_response(response)

    check()


@pytest.mark.parametrize(("path", "media_types"), OPERATIONS, ids=[p for p, _ in OPERATIONS])
def test_same_seed_and_request_give_the_same_bytes_after_a_restart(
    restart_pair: tuple[Any, Any, Any], path: str, media_types: list[str]
) -> None:
    first, second, schema = restart_pair

    @given(case=cases(schema, path, media_types))
    def check(case: Any) -> None:
        a = case.call(headers=AUTH, app=first)
        b = case.call(headers=AUTH, app=second)
        assert a.status_code == b.status_code
        assert a.content == b.content
        assert a.headers.get("x-mock-seed") == b.headers.get("x-mock-seed")

    check()


def test_different_requests_give_different_data() -> None:
    with create_app(mock_settings(seed=1)).test_client() as client:
        a = client.post(SEND, json={"Emails": [{"Subject": "a"}]}, headers=AUTH)
        b = client.post(SEND, json={"Emails": [{"Subject": "b"}]}, headers=AUTH)
        again = client.post(SEND, json={"Emails": [{"Subject": "a"}]}, headers=AUTH)
    assert a.headers["X-Mock-Seed"] != b.headers["X-Mock-Seed"]
    assert a.json()[0]["MessageID"] != b.json()[0]["MessageID"]
    assert again.content == a.content


def test_without_a_seed_the_clock_is_real_and_runs_differ() -> None:
    body = {"Emails": [{"Subject": "a"}]}
    with create_app(mock_settings()).test_client() as one, create_app(mock_settings()).test_client() as two:
        first = one.post(SEND, json=body, headers=AUTH).json()[0]
        second = two.post(SEND, json=body, headers=AUTH).json()[0]
    assert first["MessageID"] != second["MessageID"]
    assert not first["Sent"].startswith("2025-05-13T10:24:31")


def test_client_fixture_is_deterministic(client: TestClient) -> None:
    body = {"Emails": [{"Subject": "x", "To": [{"Address": "kari@fjordtech.no"}]}]}
    assert client.post(SEND, json=body, headers=AUTH).content == client.post(SEND, json=body, headers=AUTH).content


XML_OPERATIONS = [p for p, _ in OPERATIONS if "Relay" not in p and "v2" not in p]


@pytest.mark.parametrize("path", XML_OPERATIONS)
def test_the_xml_answer_read_back_equals_the_json_answer(twin_apps: tuple[Any, Any, Any], path: str) -> None:
    first, _, schema = twin_apps
    operation = schema[path]["POST"]
    operation_id = operation.definition.raw["operationId"]

    @given(case=cases(schema, path, SUPEROFFICE_TYPES))
    def check(case: Any) -> None:
        as_json = case.call(headers={**AUTH, "Accept": "application/json"}, app=first)
        as_xml = case.call(headers={**AUTH, "Accept": "application/xml"}, app=first)
        assert as_json.status_code == as_xml.status_code == 200
        assert as_json.headers["x-mock-seed"] == as_xml.headers["x-mock-seed"]
        described = spec.response_schema(operation_id, 200, "application/xml")
        assert described is not None
        codec = XmlCodec(spec.resolve)
        read_back = codec.read(codec.parse(as_xml.content, None), described[0])
        assert read_back == xml_safe_value(orjson.loads(as_json.content))

    check()


def xml_safe_value(value: Any) -> Any:
    """What XML can carry of a JSON value: characters XML 1.0 forbids become U+FFFD."""
    if isinstance(value, str):
        return xml_safe(value)
    if isinstance(value, list):
        return [xml_safe_value(v) for v in value]
    if isinstance(value, dict):
        return {k: xml_safe_value(v) for k, v in value.items()}
    return value
