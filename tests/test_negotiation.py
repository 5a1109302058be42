"""Accept negotiation, table-driven: header × offered types → chosen type or 406."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from mockserver.call import GWS_MEDIA_TYPES, SUPEROFFICE_MEDIA_TYPES
from mockserver.negotiation import negotiate, parse_accept
from tests.conftest import AUTH, GWS_SEND, RELAY, SEND

SO = list(SUPEROFFICE_MEDIA_TYPES)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("*", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("text/json", "text/json"),
        ("application/*", "application/json"),
        ("text/*", "text/json"),
        ("application/merge-patch+json", "application/merge-patch+json"),
        ("text/json;q=0.9, application/json;q=0.8", "text/json"),
        ("application/json;q=0.1, text/json", "text/json"),
        ("application/xml, */*;q=0.1", "application/json"),
        ("application/json;q=0, */*", "text/json"),
        ("text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8", "application/json"),
        ("application/xml", None),
        ("text/html", None),
        ("application/json;q=0", None),
        ("garbage", "application/json"),
        ("application/json;q=abc", None),
    ],
)
def test_negotiate_table(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept, SO) == chosen


def test_parse_accept_keeps_params_and_clamps_q() -> None:
    [a, b] = parse_accept('application/json; charset="utf-8"; q=2, text/*;q=-1')
    assert (a.type, a.subtype, a.q, a.params) == ("application", "json", 1.0, (("charset", "utf-8"),))
    assert (b.type, b.subtype, b.q) == ("text", "*", 0.0)


@pytest.mark.parametrize(
    ("path", "body", "accept", "status", "content_type"),
    [
        (SEND, {"Emails": []}, "application/json", 200, "application/json; charset=utf-8"),
        (SEND, {"Emails": []}, "text/json", 200, "text/json; charset=utf-8"),
        (SEND, {"Emails": []}, "application/json-patch+json", 200, "application/json-patch+json; charset=utf-8"),
        (SEND, {"Emails": []}, "text/html", 406, "application/json; charset=utf-8"),
        (RELAY, {"Rfc822": "x", "Recipients": ["a@b.no"]}, "text/html", 204, None),
        (
            GWS_SEND,
            {"operationName": "Send", "queueName": "q", "email": {"to": ["a@b.no"], "from": "c@d.no"}},
            "application/xml",
            406,
            "application/json; charset=utf-8",
        ),
        (
            GWS_SEND,
            {"operationName": "Send", "queueName": "q", "email": {"to": ["a@b.no"], "from": "c@d.no"}},
            "*/*",
            200,
            "application/json; charset=utf-8",
        ),
    ],
)
def test_negotiation_through_the_app(
    client: TestClient, path: str, body: dict[str, object], accept: str, status: int, content_type: str | None
) -> None:
    response = client.post(path, json=body, headers={**AUTH, "Accept": accept})
    assert response.status_code == status, response.text
    assert response.headers.get("content-type") == content_type
    if status == 406:
        text = response.text
        assert accept in text


def test_gws_only_offers_json() -> None:
    assert GWS_MEDIA_TYPES == ("application/json",)
