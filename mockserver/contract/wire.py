"""The contract's wire formats read back as the JSON values they stand for, and validators for them: what the
conformance checks, the validation proxy and the docs tests share. Free of schemathesis, so that importing it
costs a server nothing."""

from __future__ import annotations

import functools
from typing import Any
from xml.etree.ElementTree import ParseError

import jsonschema_rs

from mockserver.contract import forms, spec
from mockserver.contract.bodies import is_base64, to_json_schema
from mockserver.contract.xmlcodec import XmlBodyError, XmlCodec

XML = XmlCodec(spec.resolve)
XML_MEDIA_TYPES = ("application/xml", "text/xml")
FORM = "application/x-www-form-urlencoded"


@functools.cache
def _components() -> dict[str, Any]:
    return {name: to_json_schema(body) for name, body in spec.load()["components"]["schemas"].items()}


def contract_validator(schema: Any) -> Any:
    """jsonschema-rs validator of one of the contract's schemas, with its components to resolve `$ref`s."""
    root = {"components": {"schemas": _components()}, **to_json_schema(schema)}
    return jsonschema_rs.Draft4Validator(root, validate_formats=True, formats={"byte": is_base64})


@functools.cache
def request_validator(operation_id: str) -> Any:
    """Validator of an operation's request body (the JSON form; XML and form bodies read into the same value)."""
    return contract_validator(spec.operations()[operation_id]["requestBody"]["content"]["application/json"]["schema"])


@functools.cache
def response_validator(operation_id: str, status: int, media_type: str) -> Any:
    """Validator of a documented response body; None when the contract documents none."""
    described = spec.response_schema(operation_id, status, media_type)
    return contract_validator(described[0]) if described is not None else None


def read_xml(operation_id: str | None, status: int, media_type: str, content: bytes) -> Any:
    """An XML response as the JSON value it stands for, read by the response's schema; its root element must
    be the one the contract names. ValueError when it is not readable as that."""
    described = spec.response_schema(operation_id, status, media_type) if operation_id else None
    try:
        root = XML.parse(content, None)
    except (XmlBodyError, ParseError) as exc:
        raise ValueError(f"Invalid XML response: {exc}") from None
    if described is None:
        return XML.read(root, {})
    schema, expected = described
    found = root.tag.rsplit("}", 1)[-1]
    if expected and found != expected:
        raise ValueError(f"Invalid XML response: root element <{found}>, the contract names <{expected}>")
    try:
        return XML.read(root, schema)
    except XmlBodyError as exc:
        raise ValueError(f"Invalid XML response: {exc}") from None


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
    return bool(request_validator(operation_id).is_valid(value))
