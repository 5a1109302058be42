"""Accept negotiation, table-driven: header × offered types → chosen type or 406."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver.call import GWS_MEDIA_TYPES, SUPEROFFICE_MEDIA_TYPES
from mockserver.contract import forms, spec
from mockserver.contract.negotiation import negotiate, parse_accept
from mockserver.contract.problems import ERROR_MEDIA_TYPES
from mockserver.contract.xmlcodec import XmlCodec
from tests.conftest import AUTH, GWS_SEND, RELAY, SAVE, SEND, gws_login

SUPEROFFICE_READS = [
    "application/json",
    "text/json",
    "application/xml",
    "text/xml",
    "application/x-www-form-urlencoded",
    "application/json-patch+json",
    "application/merge-patch+json",
]

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
        ("application/xml, */*;q=0.1", "application/xml"),
        ("application/json;q=0, */*", "text/json"),
        # A browser's own Accept: ASP.NET famously answers it in XML, and so does this server.
        ("text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8", "application/xml"),
        ("application/xml", "application/xml"),
        ("text/xml;q=0.5, application/json;q=0.4", "text/xml"),
        ("image/png", None),
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
    auth = gws_login(client) if path == GWS_SEND else AUTH
    response = client.post(path, json=body, headers={**auth, "Accept": accept})
    assert response.status_code == status, response.text
    assert response.headers.get("content-type") == content_type
    if status == 406:
        text = response.text
        assert accept in text


def test_gws_only_offers_json() -> None:
    assert GWS_MEDIA_TYPES == ("application/json",)


# The negotiation table: Accept × Content-Type × operation → status and response media type.
XML_CODEC = XmlCodec(spec.resolve)
REQUESTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "SendEMails": ("v1EMailAgent_SendEMails", SEND, {"Emails": [{"Subject": "Hei", "To": [{"Address": "a@b.no"}]}]}),
    "SaveToMailServer": ("v1EMailAgent_SaveToMailServer", SAVE, {"Email": {"Subject": "Hei"}}),
    "RelayMessage": ("v1EMailAgent_RelayMessage", RELAY, {"Rfc822": "Subject: x\r\n\r\nhei", "Recipients": ["a@b.no"]}),
    "GWS Send": (
        "gwsEmail_Send",
        GWS_SEND,
        {"operationName": "Send", "queueName": "q", "email": {"to": ["a@b.no"], "from": "c@d.no"}},
    ),
}
CONTENT_TYPES = [*SUPEROFFICE_READS, "text/plain", "application/octet-stream"]
ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/json",
    "application/xml",
    "text/xml",
    "application/merge-patch+json",
    "text/html",
]


def encode(operation_id: str, value: dict[str, Any], content_type: str) -> bytes:
    content = spec.operations()[operation_id]["requestBody"]["content"]
    if content_type.endswith("/xml") and content_type in content:
        root = spec.request_root(operation_id) or "Request"
        return XML_CODEC.write(
            value,
            spec.resolve(spec.operations()[operation_id]["requestBody"]["content"][content_type]["schema"]),
            root,
            str,
        )
    if content_type == "application/x-www-form-urlencoded":
        return forms.encode(value).encode()
    return json.dumps(value).encode()


def expected(operation: str, content_type: str, accept: str | None) -> tuple[int, str | None]:
    reads = ["application/json"] if operation == "GWS Send" else SUPEROFFICE_READS
    if content_type not in reads:
        # SuperOffice negotiates its error bodies too (XML, text/json); GWS errors are always JSON.
        errors = ["application/json"] if operation == "GWS Send" else list(ERROR_MEDIA_TYPES)
        return 415, negotiate(accept, errors) or "application/json"
    if operation == "RelayMessage":
        return 204, None
    offered = ["application/json"] if operation == "GWS Send" else list(SUPEROFFICE_MEDIA_TYPES)
    chosen = negotiate(accept, offered)
    return (200, chosen) if chosen else (406, "application/json")


@pytest.mark.parametrize("accept", ACCEPTS, ids=lambda a: f"accept={a}")
@pytest.mark.parametrize("content_type", CONTENT_TYPES, ids=lambda c: f"ct={c}")
@pytest.mark.parametrize("operation", list(REQUESTS))
def test_negotiation_matrix(client: TestClient, operation: str, content_type: str, accept: str | None) -> None:
    operation_id, path, value = REQUESTS[operation]
    body = encode(operation_id, value, content_type)
    headers = {**(gws_login(client) if path == GWS_SEND else AUTH), "Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    status, media_type = expected(operation, content_type, accept)
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    if media_type is None:
        assert response.content == b""
    else:
        assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
