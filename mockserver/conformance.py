"""Schemathesis, taught this contract's wire formats.

Importing this module registers, once per process:

* an XML response deserializer, so that schemathesis really validates XML responses against the contract
  (without one it silently skips them);
* a `before_call` hook that sends form bodies in ASP.NET's bracket notation (`Emails[0][To][0][Address]=…`):
  schemathesis' own form encoding treats each property as an OpenAPI query parameter, which cannot spell
  the nested carriers of this contract.
"""

from __future__ import annotations

import functools
from typing import Any
from xml.etree.ElementTree import ParseError

import jsonschema_rs
import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection

from mockserver import forms, spec
from mockserver.bodies import is_base64, to_json_schema
from mockserver.xmlcodec import XmlBodyError, XmlCodec

XML = XmlCodec(spec.resolve)
XML_MEDIA_TYPES = ("application/xml", "text/xml")
FORM = "application/x-www-form-urlencoded"
BODY_KWARGS = frozenset({"data", "json", "content", "files"})


def _operation_id(ctx: Any) -> str | None:
    definition = getattr(getattr(ctx, "operation", None), "definition", None)
    raw = getattr(definition, "raw", definition)
    if isinstance(raw, dict):
        found = raw.get("operationId")
        return str(found) if found else None
    return None


@schemathesis.deserializer(*XML_MEDIA_TYPES)
def deserialize_xml(ctx: Any, response: Any) -> Any:
    """An XML response as the JSON value it stands for, read by the response's schema."""
    content: bytes = response.content
    operation_id = _operation_id(ctx)
    media_type = response.headers.get("content-type", ["application/xml"])
    media_type = (media_type[0] if isinstance(media_type, list) else media_type).split(";")[0].strip()
    described = spec.response_schema(operation_id, response.status_code, media_type) if operation_id else None
    try:
        root = XML.parse(content, None)
        return XML.read(root, described[0] if described else {})
    except (XmlBodyError, ParseError) as exc:
        raise ValueError(f"Invalid XML response: {exc}") from None


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Form bodies go out in bracket notation.

    Schemathesis would serialise each top-level property like an OpenAPI query parameter (style `form`),
    which has no spelling for the nested carriers of this contract; a body given here replaces that.
    """
    if case.media_type == FORM and isinstance(case.body, dict) and not BODY_KWARGS.intersection(kwargs):
        kwargs["data"] = forms.encode(case.body).encode("ascii")


@functools.cache
def _request_validator(operation_id: str) -> Any:
    """jsonschema-rs validator of an operation's request body, with the contract's components to resolve $refs."""
    schemas = {name: to_json_schema(body) for name, body in spec.load()["components"]["schemas"].items()}
    body = spec.operations()[operation_id]["requestBody"]["content"]["application/json"]["schema"]
    root = {"components": {"schemas": schemas}, **to_json_schema(body)}
    return jsonschema_rs.Draft4Validator(root, validate_formats=True, formats={"byte": is_base64})


def wire_body_is_valid(operation_id: str, media_type: str, raw: bytes) -> bool:
    """Whether a body *as sent* satisfies the contract, read by its media type's documented rules.

    XML and form fields carry no types: a string property sent the boolean `true` arrives as the text
    "true", which is a valid string. A negative test whose violation did not survive its wire format has
    nothing for the server to reject.
    """
    schema = spec.resolve(spec.operations()[operation_id]["requestBody"]["content"]["application/json"]["schema"])
    try:
        if media_type in XML_MEDIA_TYPES:
            root = XML.parse(raw, None)
            if root.tag.rsplit("}", 1)[-1] != spec.request_root(operation_id):
                return False
            value = XML.read(root, schema)
        elif media_type == "application/x-www-form-urlencoded":
            value = forms.read(raw.decode("ascii"), schema, spec.resolve)
        else:
            return False
    except (XmlBodyError, ParseError, forms.FormBodyError, UnicodeDecodeError):
        return False
    return bool(_request_validator(operation_id).is_valid(value))


def gws_session_headers(get: Any, authorization: str) -> dict[str, str]:
    """Log in as a GWS client does: `GET /api/v2/me` with Basic credentials gives the JSESSIONID cookie and
    the CSRF token; POSTs must send both. `get(path, headers)` performs the GET and returns the response.

    Returns the headers every later request must carry (Authorization included); without a session (a server
    that answers no cookie, or CSRF protection off) just the Authorization header.
    """
    response = get("/api/v2/me", {"Authorization": authorization})
    headers = {"Authorization": authorization}
    cookie = response.headers.get("set-cookie")
    if cookie:
        headers["Cookie"] = cookie.split(";", 1)[0].strip()
    token_header = response.headers.get("x-csrf-header")
    token = response.headers.get(token_header) if token_header else None
    if token_header and token:
        headers[token_header] = token
    return headers


def call_and_validate(case: Any, headers: dict[str, str], **kwargs: Any) -> Any:
    """Send a case and run every check on the answer, as schemathesis' own `call_and_validate` does, except
    `negative_data_rejection` for a negative body whose violation its wire format could not carry."""
    response = case.call(headers=headers, **kwargs)
    excluded = []
    meta = case.meta
    raw = response.request.body
    if (
        meta is not None
        and meta.generation.mode.is_negative
        and case.media_type in (*XML_MEDIA_TYPES, "application/x-www-form-urlencoded")
        and isinstance(raw, bytes)
        and wire_body_is_valid(case.operation.definition.raw["operationId"], case.media_type, raw)
    ):
        excluded.append(negative_data_rejection)
    case.validate_response(response, headers=headers, excluded_checks=excluded, transport_kwargs={"headers": headers})
    return response
