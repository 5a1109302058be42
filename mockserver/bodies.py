"""Request bodies: read once, decode by media type, validate against the contract, hand to the handler.

Plugged into Connexion's validator map. Validation uses jsonschema-rs on the operation's schema converted
from OpenAPI 3.0 (`nullable`) to plain JSON Schema, compiled once per schema. The decoded body is left in
the ASGI scope for the handler, so it is parsed exactly once.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import jsonschema_rs
import orjson
from connexion.exceptions import NonConformingResponseBody
from connexion.validators import AbstractRequestBodyValidator, AbstractResponseBodyValidator
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from mockserver import problems

BODY_KEY = "mockserver.body"
RAW_BODY_KEY = "mockserver.raw_body"
RUNTIME_KEY = "mockserver.runtime"

JSON_MEDIA_TYPES = (
    "application/json",
    "text/json",
    "application/json-patch+json",
    "application/merge-patch+json",
)

_DROP = frozenset(
    {"nullable", "example", "examples", "xml", "description", "discriminator", "externalDocs", "components"}
)
_WHITESPACE = re.compile(r"\s+")


def to_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0 schema object → JSON Schema (draft 4) that jsonschema-rs understands."""
    if isinstance(schema, list):
        return [to_json_schema(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key == "format" and value != "byte":
            continue  # int32 ranges are explicit minimum/maximum; other formats are annotations here
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        else:
            out[key] = to_json_schema(value)
    if schema.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif "type" not in out:
            out = {"anyOf": [{"type": "null"}, out]}
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def is_base64(value: str) -> bool:
    """What .NET's Convert.FromBase64String accepts: padded base64, whitespace ignored."""
    try:
        base64.b64decode(_WHITESPACE.sub("", value), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_FORMATS: dict[str, Callable[[str], bool]] = {"byte": is_base64}
_compiled: dict[int, tuple[Any, Any]] = {}


def compiled(schema: Mapping[str, Any]) -> Any:
    """The jsonschema-rs validator for an OpenAPI schema; built on first use and kept."""
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        validator = jsonschema_rs.Draft4Validator(to_json_schema(schema), validate_formats=True, formats=_FORMATS)
        # Keeping the schema alive keeps its id() from being reused by another dict.
        entry = (schema, validator)
        _compiled[id(schema)] = entry
    return entry[1]


def json_pointer_to_path(parts: list[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def first_error(schema: Mapping[str, Any], value: Any) -> problems.MockProblem | None:
    """The first schema violation as a 400 problem, or None when `value` is valid."""
    validator = compiled(schema)
    for error in validator.iter_errors(value):
        kind_name = type(error.kind).__name__
        path = json_pointer_to_path(list(error.instance_path))
        kind = "invalid"
        if kind_name == "Required":
            missing = getattr(error.kind, "property", None)
            missing_name = missing if isinstance(missing, str) else str(missing)
            full = f"{path}.{missing_name}" if path else missing_name
            return problems.bad_request(f"Required parameter '{full}' is missing", kind="missing")
        if kind_name in ("MinItems", "MinLength"):
            kind = "missing"
        elif kind_name in ("Maximum", "Minimum", "MaxLength", "MaxItems"):
            kind = "range"
        where = f" at '{path}'" if path else ""
        return problems.bad_request(f"{error.message}{where}", kind=kind)
    return None


async def read_body(receive: Receive, limit: int) -> tuple[bytes, list[MutableMapping[str, Any]]]:
    """The whole request body and the messages it came in, refusing bodies over `limit` bytes."""
    chunks: list[bytes] = []
    messages: list[MutableMapping[str, Any]] = []
    size = 0
    more = True
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise problems.payload_too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), messages


def decode_json(raw: bytes, encoding: str) -> Any:
    """Parse a JSON body in the declared charset; a body that is not valid text or JSON is a 400."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise problems.MockProblem(
            415,
            f"The charset '{encoding}' is not supported; send UTF-8.",
            message=f"The request entity's charset '{encoding}' is not supported for this resource.",
            gws_code=2,
        ) from None
    try:
        if codec == "utf-8":
            # Json.NET skips a UTF-8 byte order mark; orjson does not.
            return orjson.loads(raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw)
        return orjson.loads(raw.decode(codec))
    except UnicodeDecodeError as exc:
        raise problems.bad_request(
            f"The request body is not valid {encoding}: {exc.reason} at byte {exc.start}"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise problems.bad_request(f"The request body is not valid JSON: {exc}") from None


def content_type(scope: Scope) -> tuple[str, str | None]:
    """(media type, charset) of the request; Connexion's own split misses `; charset=` after a space."""
    header = Headers(scope=scope).get("content-type", "")
    media_type, *params = header.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def runtime_limit(scope: Scope) -> int:
    runtime = scope.get(RUNTIME_KEY)
    limit: int = runtime.settings.max_body_bytes if runtime is not None else 64 * 1024 * 1024
    return limit


class JsonBodyValidator(AbstractRequestBodyValidator):
    """JSON, text/json and the JSON patch media types (the vendor binds all of them as the request object)."""

    def __init__(self, *, schema: dict[str, Any], encoding: str, **kwargs: Any) -> None:
        super().__init__(
            schema=schema,
            required=kwargs.get("required", False),
            nullable=kwargs.get("nullable", False),
            encoding=encoding,
            strict_validation=kwargs.get("strict_validation", False),
        )

    def decode(self, raw: bytes, media_type: str, charset: str | None) -> Any:
        return decode_json(raw, charset or "utf-8")

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        raw, messages = await read_body(receive, runtime_limit(scope))
        if not raw.strip():
            raise problems.bad_request(
                "The request body is empty; this operation needs a request object.", kind="missing"
            )
        media_type, charset = content_type(scope)
        value = self.decode(raw, media_type, charset)
        if value is None:
            raise problems.bad_request("The request object is null.", kind="missing")
        problem = first_error(self._schema, value)
        if problem is not None:
            raise problem
        scope[BODY_KEY] = value
        scope[RAW_BODY_KEY] = raw
        return self._insert_messages(receive, messages=messages), scope


class NotYetSupportedValidator(AbstractRequestBodyValidator):
    """Media types the contract lists but this server cannot read yet: a clean 415."""

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        media_type, _ = content_type(scope)
        path = scope.get("path", "")
        raise problems.unsupported_media_type(media_type, path.rstrip("/").rsplit("/", 1)[-1] + "Request")


class JsonResponseValidator(AbstractResponseBodyValidator):
    """Response check used in tests: the same compiled validators as requests, so both sides agree."""

    def _parse(self, stream: Any) -> Any:
        raw = b"".join(stream)
        if not raw:
            return None
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise NonConformingResponseBody(f"Response body is not JSON: {exc}") from None

    def _validate(self, body: Any) -> None:
        for error in compiled(self._schema).iter_errors(body):
            path = json_pointer_to_path(list(error.instance_path))
            raise NonConformingResponseBody(
                detail=f"Response body does not conform to specification. {error.message} at '{path}'"
            )
