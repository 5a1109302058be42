"""Schemathesis, taught this contract's wire formats.

Importing this module registers, once per process:

* an XML response deserializer, so that schemathesis really validates XML responses against the contract
  (without one it silently skips them);
* a `before_call` hook that sends form bodies in ASP.NET's bracket notation (`Emails[0][To][0][Address]=…`):
  schemathesis' own form encoding treats each property as an OpenAPI query parameter, which cannot spell
  the nested carriers of this contract.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection

from mockserver.contract import forms, spec
from mockserver.contract.wire import FORM, XML_MEDIA_TYPES, read_xml, wire_body_is_valid
from mockserver.formats.projection import apply_select, parse_select, unselected

BODY_KWARGS = frozenset({"data", "json", "content", "files"})


def _operation_id(ctx: Any) -> str | None:
    definition = getattr(getattr(ctx, "operation", None), "definition", None)
    raw = getattr(definition, "raw", definition)
    if isinstance(raw, dict):
        found = raw.get("operationId")
        return str(found) if found else None
    return None


def _media_type(response: Any) -> str:
    value = response.headers.get("content-type", ["application/xml"])
    return str(value[0] if isinstance(value, list) else value).split(";")[0].strip()


@schemathesis.deserializer(*XML_MEDIA_TYPES)
def deserialize_xml(ctx: Any, response: Any) -> Any:
    """Lets schemathesis validate XML responses against the response schema."""
    return read_xml(_operation_id(ctx), response.status_code, _media_type(response), response.content)


@schemathesis.check
def select_honoured(ctx: Any, response: Any, case: Any) -> bool | None:
    """`$select` (SuperOffice): every property that was not selected is null, in every returned carrier."""
    query = case.query or {}
    selected = query.get("$select")
    if not isinstance(selected, str) or not 200 <= response.status_code < 300 or not response.content:
        return None
    tree = parse_select(selected)
    if tree is None:
        return None
    operation_id = str(case.operation.definition.raw.get("operationId", ""))
    media_type = _media_type(response)
    try:
        if media_type in XML_MEDIA_TYPES:
            value = read_xml(operation_id, response.status_code, media_type, response.content)
        else:
            value = response.json()
    except ValueError:
        return None  # unreadable bodies are response_schema_conformance's business
    if apply_select(value, tree) != value:
        kept = unselected(value, tree)[:8]
        raise AssertionError(
            f"`$select={selected}` was not honoured: properties that were not selected still have values "
            f"({', '.join(kept)})"
        )
    documented = spec.response_schema(operation_id, response.status_code, media_type)
    gone = _absent(value, documented[0]) if documented else []
    if gone:
        raise AssertionError(
            f"`$select={selected}` removed properties instead of nulling them: {', '.join(gone[:8])} "
            "(the vendor's serializer writes every member of a carrier, null or not)"
        )
    return None


def _absent(value: Any, schema: Any, where: str = "", depth: int = 0) -> list[str]:
    """The documented properties missing from each carrier of an answer (under `$select` all are written)."""
    schema = spec.resolve(schema)
    if depth > 6 or not isinstance(schema, dict):
        return []
    if isinstance(value, list):
        found: list[str] = []
        for index, item in enumerate(value):
            found += _absent(item, schema.get("items", {}), f"{where}[{index}]", depth + 1)
        return found
    properties = schema.get("properties")
    if not isinstance(value, dict) or not isinstance(properties, dict):
        return []
    found = [f"{where}.{name}".lstrip(".") for name in properties if name not in value]
    for name, sub in properties.items():
        if isinstance(value.get(name), dict | list):
            found += _absent(value[name], sub, f"{where}.{name}", depth + 1)
    return found


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Form bodies go out in bracket notation.

    Schemathesis would serialise each top-level property like an OpenAPI query parameter (style `form`),
    which has no spelling for the nested carriers of this contract; a body given here replaces that.
    """
    if case.media_type == FORM and isinstance(case.body, dict) and not BODY_KWARGS.intersection(kwargs):
        kwargs["data"] = forms.encode(case.body).encode("ascii")


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


def excluded_checks(case: Any, response: Any) -> list[Any]:
    """`negative_data_rejection` does not apply to a negative body whose violation its wire format could not
    carry (XML and form fields have no types)."""
    meta = case.meta
    raw = response.request.body
    if (
        meta is not None
        and meta.generation.mode.is_negative
        and case.media_type in (*XML_MEDIA_TYPES, "application/x-www-form-urlencoded")
        and isinstance(raw, bytes)
        and wire_body_is_valid(case.operation.definition.raw["operationId"], case.media_type, raw)
    ):
        return [negative_data_rejection]
    return []


def call_and_validate(case: Any, headers: dict[str, str], **kwargs: Any) -> Any:
    """Send a case and run every check on the answer, as schemathesis' own `call_and_validate` does, minus
    the excluded ones."""
    response = case.call(headers=headers, **kwargs)
    excluded = excluded_checks(case, response)
    case.validate_response(response, headers=headers, excluded_checks=excluded, transport_kwargs={"headers": headers})
    return response
