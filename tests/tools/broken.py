"""Deliberately broken implementations of the contract, one real-world defect each.

Each is the mock (configured like a real server: only listed credentials pass) behind a thin ASGI layer that
plants one defect in what goes in or comes out, the way a real implementation gets it wrong. The conformance
command must fail on every one of them, naming the check that catches it (`catches`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import create_app
from tests.conftest import basic, mock_settings

SO_USER, SO_PASSWORD = "so-user", "so-pass"
GWS_USER, GWS_PASSWORD = "gws-agent", "gws-pass"
SEND = "/api/v1/Agents/EMail/SendEMails"
RELAY = "/api/v1/Agents/EMail/RelayMessage"
GWS_EMAILS = "/api/v2/me/emails/"


def server_settings(**overrides: Any) -> Any:
    """A mock that behaves like a real server: wrong credentials are refused."""
    values: dict[str, Any] = {
        "seed": 21,
        "users": (f"{SO_USER}:{SO_PASSWORD}", f"{GWS_USER}:{GWS_PASSWORD}"),
    }
    values.update(overrides)
    return mock_settings(**values)


RequestHook = Callable[[Scope, bytes], tuple[Scope, bytes]]
ResponseHook = Callable[[Scope, int, list[tuple[bytes, bytes]], bytes], tuple[int, list[tuple[bytes, bytes]], bytes]]


class Defect:
    """An ASGI layer that rewrites requests before the app sees them and responses before the client does."""

    def __init__(self, app: ASGIApp, request: RequestHook | None = None, response: ResponseHook | None = None) -> None:
        self.app = app
        self.on_request = request
        self.on_response = response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.on_request is not None:
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            scope, body = self.on_request(dict(scope), body)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay
        if self.on_response is None:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    status, headers, content = self.on_response(  # type: ignore[misc]
                        scope, start["status"], list(start.get("headers", [])), b"".join(chunks)
                    )
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                    headers.append((b"content-length", str(len(content)).encode()))
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, capture)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    return "json" in _header(headers, b"content-type")


def _json_response(path: str, change: Callable[[Any], Any]) -> ResponseHook:
    def hook(scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
        if scope["path"].startswith(path) and _is_json(headers) and body:
            body = json.dumps(change(json.loads(body))).encode()
        return status, headers, body

    return hook


def _each_email(value: Any, change: Callable[[dict[str, Any]], None]) -> Any:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            change(item)
    return value


# -- the defects -----------------------------------------------------------------------------------------


def wrong_type_in_a_response_field(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """`Size` as a string: a serializer that writes every number as text."""

    def change(mail: dict[str, Any]) -> None:
        if mail.get("Size") is not None:
            mail["Size"] = str(mail["Size"])

    return _json_response(SEND, lambda value: _each_email(value, change))(scope, status, headers, body)


def credentials_not_checked(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    """Any Authorization header, or none, lets a SuperOffice request in: the auth filter is not wired up."""
    if scope["path"].startswith("/api/v1/"):
        kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
        kept.append((b"authorization", basic(SO_USER, SO_PASSWORD).encode()))
        scope = {**scope, "headers": kept}
    return scope, body


def server_error_on_empty_recipients(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """A mail without recipients crashes the sender (a NullReferenceException behind a 500)."""
    request = scope.get("defect.request")
    if scope["path"] == SEND and 200 <= status < 300 and isinstance(request, dict):
        mails = request.get("Emails") or []
        if any(isinstance(m, dict) and not m.get("To") for m in mails):
            error = {
                "Error": True,
                "ErrorType": "NullReferenceException",
                "ErrorMessage": "Object reference not set to an instance of an object.",
                "ErrorSource": "SuperOffice.Services.Implementation",
            }
            return 500, [(b"content-type", b"application/json; charset=utf-8")], json.dumps(error).encode()
    return status, headers, body


def _superoffice_500(message: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    error = {"Error": True, "ErrorType": "Exception", "ErrorMessage": message, "ErrorSource": "SuperOffice.Mail"}
    return 500, [(b"content-type", b"application/json; charset=utf-8")], json.dumps(error).encode()


def server_error_on_an_empty_mail_list(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """`{"Emails": []}` reaches `Emails[0]` (an IndexOutOfRangeException behind a 500)."""
    request = scope.get("defect.request")
    if scope["path"] == SEND and 200 <= status < 300 and isinstance(request, dict) and request.get("Emails") == []:
        return _superoffice_500("Index was outside the bounds of the array.")
    return status, headers, body


def server_error_on_a_long_subject(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """A subject longer than the 255 characters of a database column overflows it (a 500)."""
    request = scope.get("defect.request")
    if scope["path"] == SEND and 200 <= status < 300 and isinstance(request, dict):
        mails = request.get("Emails") or []
        if any(isinstance(m, dict) and len(str(m.get("Subject") or "")) > 255 for m in mails):
            return _superoffice_500("String or binary data would be truncated.")
    return status, headers, body


def xml_without_nil(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """XML answers write a null as an empty element, without `i:nil="true"` (as XmlSerializer without
    IsNullable does)."""
    if "xml" in _header(headers, b"content-type") and 200 <= status < 300 and body:
        body = re.sub(rb'<([A-Za-z_][\w.]*) i:nil="true"\s*/>', rb"<\1 />", body)
    return status, headers, body


def select_removes(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """`$select` leaves the unselected properties out of the answer instead of nulling them."""
    if "$select" not in scope.get("query_string", b"").decode("latin-1").replace("%24", "$"):
        return status, headers, body

    def change(mail: dict[str, Any]) -> None:
        for key in [key for key, value in mail.items() if value is None]:
            del mail[key]

    return _json_response("/api/v1/", lambda value: _each_email(value, change))(scope, status, headers, body)


def gws_empty_to_sent(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    """Genesys Send with an empty `to` list is accepted (`statusCode: 0`) and fails only later, if at all."""
    if scope["path"].startswith(GWS_EMAILS):
        try:
            value = json.loads(body)
        except ValueError:
            return scope, body
        email = value.get("email") if isinstance(value, dict) else None
        if isinstance(email, dict) and email.get("to") == []:
            email["to"] = ["nobody@gplus-w2k3-gf80"]
            body = json.dumps(value).encode()
            scope = _with_length(scope, body)
    return scope, body


def remember_json_request(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    try:
        scope["defect.request"] = json.loads(body)
    except ValueError:
        scope["defect.request"] = None
    return scope, body


def select_ignored(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    """`$select` is dropped on the floor: every field comes back."""
    query = scope.get("query_string", b"").decode("latin-1")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "$select"]
    return {**scope, "query_string": urlencode(kept).encode()}, body


def relay_answers_200(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """RelayMessage answers 200 with `null`, as the vendor's own page prints it, instead of 204."""
    if scope["path"] == RELAY and status == 204:
        return 200, [(b"content-type", b"application/json; charset=utf-8")], b"null"
    return status, headers, body


def xml_with_the_wrong_root(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """XML results under a root the contract does not name (`<Result>`), as a hand-rolled serializer writes."""
    if "xml" in _header(headers, b"content-type") and 200 <= status < 300 and body:
        text = body.decode("utf-8")
        match = re.search(r"<([A-Za-z_][\w.]*)", text.split("?>", 1)[-1])
        if match:
            name = match[1]
            text = text.replace(f"<{name}", "<Result", 1)
            text = text[::-1].replace(f"</{name}>"[::-1], "</Result>"[::-1], 1)[::-1]
            body = text.encode("utf-8")
    return status, headers, body


def gws_error_without_message(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """Genesys errors carry only `statusCode`."""
    if scope["path"].startswith("/api/v2/me") and status >= 400 and _is_json(headers):
        value = json.loads(body)
        if isinstance(value, dict):
            value.pop("statusMessage", None)
            body = json.dumps(value).encode()
    return status, headers, body


def any_operation_name_accepted(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    """Genesys Send does not look at `operationName`: `Reply`, `42` or nothing all send."""
    if scope["path"].startswith(GWS_EMAILS):
        try:
            value = json.loads(body)
        except ValueError:
            return scope, body
        if isinstance(value, dict):
            value["operationName"] = "Send"
            body = json.dumps(value).encode()
            scope = _with_length(scope, body)
    return scope, body


def invalid_priority_accepted(scope: Scope, body: bytes) -> tuple[Scope, bytes]:
    """An unknown `Priority` silently becomes `Normal` instead of a 400 (lenient enum parsing)."""
    if scope["path"] == SEND:
        try:
            value = json.loads(body)
        except ValueError:
            return scope, body
        if isinstance(value, dict) and isinstance(value.get("Emails"), list):
            for mail in value["Emails"]:
                if isinstance(mail, dict) and mail.get("Priority") not in (None, "None", "Low", "Normal", "High"):
                    mail["Priority"] = "Normal"
            body = json.dumps(value).encode()
            scope = _with_length(scope, body)
    return scope, body


def wrong_content_type(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """JSON answered as `text/plain`."""
    if scope["path"].startswith("/api/v1/") and _is_json(headers):
        headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    return status, headers, body


_DOTNET = re.compile(rb'"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})\.\d{7}(?:[+-]\d{2}:?\d{2}|Z)?"')


def dates_not_round_trip(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """Date-times as `2025-05-13 10:24:31`, not .NET's round-trip format."""
    if scope["path"].startswith("/api/v1/") and _is_json(headers):
        body = _DOTNET.sub(rb'"\1 \2"', body)
    return status, headers, body


def flags_as_numbers(scope: Scope, status: int, headers: Any, body: bytes) -> Any:
    """`Flags` as the enum's number (`1`), not its member names (`"Seen"`)."""

    def change(mail: dict[str, Any]) -> None:
        if isinstance(mail.get("Flags"), str):
            mail["Flags"] = 1

    return _json_response("/api/v1/", lambda value: _each_email(value, change))(scope, status, headers, body)


def _with_length(scope: Scope, body: bytes) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    return {**scope, "headers": headers}


@dataclass(frozen=True)
class Broken:
    name: str
    defect: str
    catches: str
    build: Callable[[], ASGIApp]
    # The operations the defect is in (operationId prefixes): the campaign's cases for them are the ones that
    # can find it, and sending only those keeps 17 runs of the campaign inside the suite's time.
    operations: tuple[str, ...]


def _app(request: RequestHook | None = None, response: ResponseHook | None = None) -> Callable[[], ASGIApp]:
    return lambda: Defect(create_app(server_settings()), request, response)


BROKEN = [
    Broken(
        "wrong-type",
        "`Size` in SendEMails' answer is a string",
        "response_schema_conformance",
        _app(response=wrong_type_in_a_response_field),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "no-auth-check",
        "SuperOffice requests pass without valid credentials",
        "ignored_auth",
        _app(request=credentials_not_checked),
        operations=("v1EMailAgent_",),
    ),
    Broken(
        "500-empty-recipients",
        "SendEMails answers 500 for a mail without recipients",
        "not_a_server_error",
        _app(request=remember_json_request, response=server_error_on_empty_recipients),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "select-ignored",
        "`$select` is ignored",
        "select_honoured",
        _app(request=select_ignored),
        operations=("v1EMailAgent_",),
    ),
    Broken(
        "relay-200",
        "RelayMessage answers 200 `null` instead of 204",
        "status_code_conformance",
        _app(response=relay_answers_200),
        operations=("v1EMailAgent_RelayMessage",),
    ),
    Broken(
        "xml-wrong-root",
        "XML results have the root element <Result>",
        "response_schema_conformance",
        _app(response=xml_with_the_wrong_root),
        operations=("v1EMailAgent_",),
    ),
    Broken(
        "gws-no-status-message",
        "Genesys errors lack statusMessage",
        "response_schema_conformance",
        _app(response=gws_error_without_message),
        operations=("gws",),
    ),
    Broken(
        "gws-any-operation",
        "Genesys Send accepts any operationName",
        "negative_data_rejection",
        _app(request=any_operation_name_accepted),
        operations=("gwsEmail_Send",),
    ),
    Broken(
        "invalid-priority",
        "an unknown Priority is accepted as Normal",
        "negative_data_rejection",
        _app(request=invalid_priority_accepted),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "text-plain",
        "JSON answers are labelled text/plain",
        "content_type_conformance",
        _app(response=wrong_content_type),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "dates",
        "date-times are not .NET round-trip strings",
        "response_schema_conformance",
        _app(response=dates_not_round_trip),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "flags-number",
        "`Flags` is a number",
        "response_schema_conformance",
        _app(response=flags_as_numbers),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "500-empty-mail-list",
        'SendEMails answers 500 for `{"Emails": []}`',
        "not_a_server_error",
        _app(request=remember_json_request, response=server_error_on_an_empty_mail_list),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "500-long-subject",
        "SendEMails answers 500 for a subject over 255 characters",
        "not_a_server_error",
        _app(request=remember_json_request, response=server_error_on_a_long_subject),
        operations=("v1EMailAgent_SendEMails",),
    ),
    Broken(
        "xml-no-nil",
        "XML answers drop `i:nil` for null",
        "response_schema_conformance",
        _app(response=xml_without_nil),
        operations=("v1EMailAgent_",),
    ),
    Broken(
        "select-removes",
        "`$select` removes properties instead of nulling them",
        "select_honoured",
        _app(response=select_removes),
        operations=("v1EMailAgent_",),
    ),
    Broken(
        "gws-empty-to",
        "Genesys Send answers 200 `statusCode: 0` to an empty `to` list",
        "negative_data_rejection",
        _app(request=gws_empty_to_sent),
        operations=("gwsEmail_Send",),
    ),
]
