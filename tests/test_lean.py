"""The lean request path answers every request exactly as Connexion's own middleware stack does."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from typing import Any

import connexion
import pytest
from connexion.json_schema import resolve_refs
from starlette.testclient import TestClient

from mockserver import create_app, lean
from mockserver.contract import bodies
from tests.conftest import AUTH, GWS_SEND, RELAY, SAVE, SEND, mock_settings

PDF = base64.b64encode(b"%PDF-1.4 rapport").decode()
MAIL = {
    "From": {"Address": "anna.berg@nordlys.no", "Name": "Anna Berg"},
    "To": [{"Address": "kari.nilsen@fjordtech.no"}],
    "Subject": "Møte på fredag",
    "PlainBody": "Hei",
    "Attachments": [{"Filename": "rapport.pdf", "Type": "application/pdf", "Stream": PDF}],
}
JSON = {**AUTH, "Content-Type": "application/json"}

# (method, path, headers, body): valid requests, and every way a request can fail before a handler runs.
REQUESTS: list[tuple[str, str, dict[str, str], Any]] = [
    ("POST", SEND, JSON, {"Emails": [MAIL, MAIL]}),
    ("POST", SEND + "?$select=Subject,To/Address", JSON, {"Emails": [MAIL]}),
    ("POST", SEND, {**JSON, "Accept": "application/xml"}, {"Emails": [MAIL]}),
    ("POST", SEND, {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}, "Emails[0][Subject]=Hei"),
    ("POST", SEND, {**AUTH, "Content-Type": "text/json; charset=utf-8"}, {"Emails": []}),
    ("POST", SEND, JSON, {"Emails": [{"To": "not-a-list"}]}),
    ("POST", SEND, JSON, {"Emails": [{**MAIL, "Attachments": [{"Stream": "not base64!"}]}]}),
    ("POST", SEND, JSON, "{not json"),
    ("POST", SEND, {**AUTH, "Content-Type": "image/png"}, "x"),
    ("POST", SEND, {"Content-Type": "application/json"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Authorization": "Basic bm9jb2xvbg=="}, {"Emails": []}),
    ("POST", SEND, {**JSON, "SO-TimeZone": "Nowhere/Else"}, {"Emails": []}),
    ("POST", SEND, {**JSON, "Accept-Language": "nb-NO, en;q=0.5", "SO-Culture": "nb-NO"}, {"Emails": [MAIL]}),
    ("POST", SEND, {**JSON, "so-language": "x" * 300}, {"Emails": []}),
    ("POST", SEND + "?unknown=1", JSON, {"Emails": []}),
    ("POST", SEND, {**JSON, "Accept": "image/png"}, {"Emails": []}),
    ("GET", SEND, AUTH, None),
    ("POST", SAVE, JSON, {"Email": {**MAIL, "IsSent": False}}),
    ("POST", RELAY, JSON, {"Rfc822": "Subject: Hei\r\n\r\nbody", "Recipients": ["kari@fjordtech.no"]}),
    ("POST", RELAY, JSON, {"Rfc822": "", "Recipients": ["kari@fjordtech.no"]}),
    ("POST", GWS_SEND, JSON, {"operationName": "Send", "email": {"to": [], "from": "a@b.no"}}),
    ("POST", "/api/v1/Agents/EMail/Nothing", JSON, {}),
    ("GET", "/_mock/outbox?subject=nothing-like-it", {}, None),  # rows carry the time they were written
    ("GET", "/_mock/outbox?limit=many", {}, None),
    ("GET", "/_mock/outbox?since=yesterday", {}, None),
    ("GET", "/_mock/outbox/999999", {}, None),  # a handler that takes its path parameter, as an integer
    ("GET", "/_mock/outbox/999999/attachments/3", {}, None),
    ("GET", "/_mock/outbox/abc", {}, None),
    ("GET", "/openapi.json", {}, None),
    ("GET", "/_mock/openapi.json", {}, None),
    ("GET", "/ui/", {}, None),
    ("GET", "/ui", {}, None),
    ("GET", "/_mock/ui/", {}, None),
]


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, TestClient]]:
    """The app as served, and the same app on Connexion's own classes (its middlewares, operations, security)."""
    settings = mock_settings(seed=4, gws_csrf=False)
    served = create_app(settings)
    with monkeypatch.context() as patched:
        patched.setattr(lean, "LeanAsyncApp", connexion.AsyncApp)
        patched.setattr(lean, "middlewares", functools.partial(lean.middlewares, replace={}))
        patched.setattr(lean, "security_map", lambda own: own)
        plain = create_app(settings)
    assert type(served) is lean.LeanAsyncApp and type(plain) is connexion.AsyncApp
    with served.test_client() as fast, plain.test_client() as slow:
        yield fast, slow


def answer(client: TestClient, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if isinstance(body, str):
        kwargs["content"] = body.encode()
    elif body is not None:
        kwargs["json"] = body
    response = client.request(method, path, **kwargs)
    kept = {k: v for k, v in response.headers.items() if k not in ("date", "content-length")}
    return response.status_code, kept, response.content


def test_every_kind_of_request_gets_the_same_answer_on_both_stacks(clients: tuple[TestClient, TestClient]) -> None:
    fast, slow = clients
    statuses = set()
    for method, path, headers, body in REQUESTS:
        # Twice each: what the lean stack keeps from the first request must not change the second's answer.
        for _ in range(2):
            got, expected = answer(fast, method, path, headers, body), answer(slow, method, path, headers, body)
            if path.endswith("/openapi.json"):
                # The lean stack serves the contract as written; Connexion's serves it with the `$ref`s inlined.
                assert got[:2] == expected[:2], (method, path)
                assert resolve_refs(json.loads(got[2])) == json.loads(expected[2])
                continue
            assert got == expected, (method, path, headers)
        statuses.add(got[0])
    assert statuses >= {200, 204, 307, 400, 401, 404, 405, 406, 415}  # the list reaches every layer


def test_the_parameter_check_is_skipped_only_where_it_has_nothing_to_refuse(
    clients: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean stack skips the check for a request with no query and none of the operation's header
    parameters; any of those, or an operation with a path parameter, still goes through it."""
    checked: list[str] = []
    validate = bodies.ContractParameterValidator.validate

    def spy(self: bodies.ContractParameterValidator, scope: dict[str, Any]) -> None:
        checked.append(scope["path"])
        validate(self, scope)

    monkeypatch.setattr(bodies.ContractParameterValidator, "validate", spy)
    fast, _ = clients
    cases = [
        (SEND, JSON, False),
        (SEND, {**JSON, "X-Something-Else": "1"}, False),
        (SEND, {**JSON, "SO-TimeZone": "Europe/Oslo"}, True),
        (SEND + "?$select=Subject", JSON, True),
        (GWS_SEND, JSON, True),  # {id} in the path
    ]
    for path, headers, expected in cases:
        checked.clear()
        body = (
            {"operationName": "Send", "email": {"to": ["a@b.no"], "from": "a@b.no"}}
            if path == GWS_SEND
            else {"Emails": []}
        )
        fast.post(path, json=body, headers=headers)
        assert bool(checked) is expected, (path, headers)
