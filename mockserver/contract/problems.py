"""Errors in each vendor's own shape.

SuperOffice answers binding and protocol errors the way ASP.NET Web API does (`{Message, MessageDetail}`)
and business failures as a service exception (`{Error, ErrorType, ErrorMessage, ErrorSource}`). Genesys
answers every error as `{statusCode, statusMessage}` and nothing else. Which shape applies follows from
the request path, so errors raised anywhere in the stack (routing, security, validation, handlers) come out
right.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from connexion.exceptions import (
    BadRequestProblem,
    ProblemException,
    UnsupportedMediaTypeProblem,
)
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from mockserver.contract import spec
from mockserver.contract.negotiation import negotiate
from mockserver.contract.xmlcodec import XmlCodec

logger = logging.getLogger("mockserver")
XML = XmlCodec(spec.resolve)

JSON_UTF8 = "application/json; charset=utf-8"
GWS_PREFIX = "/api/v2/"
BAYEUX_PATH = "/api/v2/notifications"
CONTROL_PREFIX = "/_mock/"

SO_UNAUTHORIZED = "Authorization has been denied for this request."
SO_CHALLENGE = 'Bearer realm="SuperOffice", SOTicket realm="SuperOffice"'
GWS_CHALLENGE = 'Basic realm="GWS"'


class MockProblem(ProblemException):
    """An error with enough detail to be rendered in either vendor's shape.

    `kind` tells Genesys which statusCode applies: `missing` → 1, `invalid` → 2, `range` → 10.
    `error_type` is the SuperOffice exception class name for service-exception bodies.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        message: str | None = None,
        kind: str = "invalid",
        error_type: str | None = None,
        gws_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status=status, title=message, detail=detail, headers=headers)
        self.message = message
        self.kind = kind
        self.error_type = error_type
        self.gws_code = gws_code


def bad_request(detail: str, *, kind: str = "invalid") -> MockProblem:
    return MockProblem(400, detail, message="The request is invalid.", kind=kind)


def unauthorized(detail: str) -> MockProblem:
    return MockProblem(401, detail, message=SO_UNAUTHORIZED, gws_code=20)


def not_acceptable(requested: str | None, supported: list[str]) -> MockProblem:
    shown = requested if requested else "(none)"
    return MockProblem(
        406,
        f"The client accepts '{shown}'; supported media types: " + ", ".join(supported) + ".",
        message=f"The requested media type '{shown}' is not acceptable for this resource.",
        gws_code=2,
    )


def unsupported_media_type(media_type: str, target: str) -> MockProblem:
    return MockProblem(
        415,
        f"No MediaTypeFormatter is available to read an object of type '{target}' from content with media "
        f"type '{media_type}'.",
        message=f"The request entity's media type '{media_type}' is not supported for this resource.",
        gws_code=2,
    )


def payload_too_large(limit: int) -> MockProblem:
    return MockProblem(
        413,
        f"The request body is larger than the server's limit of {limit} bytes.",
        message="The request entity is too large.",
        kind="range",
    )


def forbidden(detail: str, error_type: str = "SoAccessDeniedException") -> MockProblem:
    return MockProblem(403, detail, error_type=error_type, gws_code=3)


def server_error(detail: str, error_type: str = "SoException") -> MockProblem:
    return MockProblem(500, detail, error_type=error_type, gws_code=4)


def is_gws(path: str) -> bool:
    return path.startswith(GWS_PREFIX)


def is_bayeux(path: str) -> bool:
    return path == BAYEUX_PATH or path.startswith(BAYEUX_PATH + "/")


def is_control(path: str) -> bool:
    return path.startswith(CONTROL_PREFIX)


BACKEND_UNAVAILABLE = (
    "The service is temporarily unavailable (a backend it needs cannot be reached); try again shortly."
)


def _gws_code(status: int, kind: str) -> int:
    if status == 401:
        return 20
    if status == 403:
        return 3
    if status == 404:
        return 6
    if status >= 500:
        return 4
    return {"missing": 1, "range": 10}.get(kind, 2)


def _body(payload: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    return orjson.dumps(payload)


# SuperOffice negotiates error bodies like any result (ASP.NET renders HttpError in XML too); GWS is JSON only.
ERROR_MEDIA_TYPES = ("application/json", "text/json", "application/xml", "text/xml")


def render(
    exc: Exception, *, path: str, method: str = "POST", url: str = "", accept: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers for any exception raised while serving `method path`."""
    status, detail, message, kind, error_type, gws_code = _describe(exc, path, method, url)
    media_type = "application/json"
    if not is_gws(path) and status != 406:
        media_type = negotiate(accept, ERROR_MEDIA_TYPES) or "application/json"
    headers: dict[str, str] = {"Content-Type": f"{media_type}; charset=utf-8"}
    extra = getattr(exc, "headers", None) or {}
    headers.update({k: v for k, v in extra.items() if k.lower() != "content-type"})
    allowed = spec.allowed_methods(path) if status == 405 else None
    if allowed:
        # Starlette's Allow names only the first route of the path; a path with GET and POST routes has both.
        headers["Allow"] = ", ".join(allowed)
    if is_control(path):
        # The mock's own API speaks RFC 7807.
        headers["Content-Type"] = "application/problem+json"
        title = getattr(exc, "title", None) or message or "Error"
        return status, _body({"type": "about:blank", "title": title, "status": status, "detail": detail}), headers
    if is_bayeux(path):
        # A CometD client reads any answer as a batch of replies; `code::args::message` is Bayeux's error form.
        if status == 401:
            headers.setdefault("WWW-Authenticate", GWS_CHALLENGE)
        failure: dict[str, Any] = {"successful": False, "error": f"{status}::{detail or message or 'Error'}"}
        return status, _body([failure]), headers
    if is_gws(path):
        code = gws_code if gws_code is not None else _gws_code(status, kind)
        if status == 401:
            headers.setdefault("WWW-Authenticate", GWS_CHALLENGE)
        return status, _body({"statusCode": code, "statusMessage": detail or message or "Error"}), headers
    if status == 401:
        headers.setdefault("WWW-Authenticate", SO_CHALLENGE)
    if status == 403 or status >= 500:
        payload: dict[str, Any] = {
            "Error": True,
            "ErrorType": error_type or ("SoAccessDeniedException" if status == 403 else "SoException"),
            "ErrorMessage": detail or message or "Error",
            "ErrorSource": "SuperOffice.Services.Implementation",
        }
        return status, _encode(payload, "SoError", media_type), headers
    payload = {"Message": message or detail or "Error"}
    if detail and detail != message:
        payload["MessageDetail"] = detail
    return status, _encode(payload, "WebApiError", media_type), headers


def _encode(payload: dict[str, Any], schema_name: str, media_type: str) -> bytes:
    if media_type.endswith("/xml"):
        schema = spec.schema(schema_name)
        root = str((schema.get("xml") or {}).get("name", schema_name))
        return XML.write(payload, schema, root, str)
    return _body(payload)


def _describe(
    exc: Exception, path: str, method: str, url: str
) -> tuple[int, str, str | None, str, str | None, int | None]:
    if isinstance(exc, MockProblem):
        return exc.status, str(exc.detail), exc.message, exc.kind, exc.error_type, exc.gws_code
    if isinstance(exc, UnsupportedMediaTypeProblem):
        media_type = str(exc.detail or "").partition("(")[2].partition(")")[0] or "unknown"
        if is_gws(path):
            # GWS is a Java service: an ASP.NET formatter message naming a "…Request" type would give it away.
            return 415, f"Content type '{media_type}' is not supported; send application/json", None, "invalid", None, 2
        problem = unsupported_media_type(media_type, _carrier_name(path))
        return 415, str(problem.detail), problem.message, "invalid", None, 2
    if isinstance(exc, BadRequestProblem):
        return 400, str(exc.detail), "The request is invalid.", "invalid", None, None
    if isinstance(exc, ProblemException):
        if exc.status == 401:
            return 401, str(exc.detail or SO_UNAUTHORIZED), SO_UNAUTHORIZED, "invalid", None, 20
        return exc.status, str(exc.detail or exc.title or ""), exc.title, "invalid", None, None
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return (
                404,
                "Resource not found",
                f"No HTTP resource was found that matches the request URI '{url}'.",
                "invalid",
                None,
                6,
            )
        if exc.status_code == 405:
            message = f"The requested resource does not support http method '{method}'."
            return 405, message, message, "invalid", None, 2
        return exc.status_code, str(exc.detail), str(exc.detail), "invalid", None, None
    if isinstance(exc, ConnectionError) and getattr(exc, "backend_unavailable", False):
        # A backend the server needs cannot be reached (the store's database, `StoreUnavailable`; the contract does
        # not import the mail package, so the error says so itself): a passing condition, not a bug, so no
        # traceback; the vendors answer a failing database with their ordinary server error. Any other
        # ConnectionError is a bug like any other.
        logger.warning("%s %s: %s", method, path, exc)
        return 500, BACKEND_UNAVAILABLE, None, "invalid", "SoException", 4
    logger.error("unhandled error while serving %s", path, exc_info=exc)
    return 500, "An internal error occurred.", None, "invalid", "SoException", 4


def _carrier_name(path: str) -> str:
    operation = path.rstrip("/").rsplit("/", 1)[-1]
    return f"{operation}Request" if operation else "request"


def error_response(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Connexion error handler: every error in the vendor's shape, never a traceback."""
    canned = getattr(exc, "response", None)
    if isinstance(canned, Response):
        # A response the mock's controls decided on (Prefer: code=…, example=…): already rendered.
        return ConnexionResponse(status_code=canned.status_code, body=canned.body, headers=dict(canned.headers))
    status, body, headers = render(
        exc, path=request.url.path, method=request.method, url=str(request.url), accept=request.headers.get("accept")
    )
    return ConnexionResponse(status_code=status, body=body, headers=headers)
