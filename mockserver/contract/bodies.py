"""Request bodies: read once, decode by media type, validate against the contract, hand to the handler.

Plugged into Connexion's validator map. Validation uses jsonschema-rs on the operation's schema converted
from OpenAPI 3.0 (`nullable`) to plain JSON Schema, compiled once per schema. The decoded body is left in
the ASGI scope for the handler, so it is parsed exactly once.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from connexion.exceptions import NonConformingResponseBody
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.validators import AbstractRequestBodyValidator, AbstractResponseBodyValidator, ParameterValidator
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from mockserver.contract import forms, problems, spec
from mockserver.contract.xmlcodec import XmlBodyError, XmlCodec
from mockserver.formats.base64text import base64_text

BODY_KEY = "mockserver.body"
RAW_BODY_KEY = "mockserver.raw_body"
RUNTIME_KEY = "mockserver.runtime"

EMPTY_BODY = {"type": "http.request", "body": b"", "more_body": False}
JSON_MEDIA_TYPES = (
    "application/json",
    "text/json",
    "application/json-patch+json",
    "application/merge-patch+json",
)

_DROP = frozenset(
    {"nullable", "example", "examples", "xml", "description", "discriminator", "externalDocs", "components"}
)


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
    """What .NET's Convert.FromBase64String accepts: padded base64, whitespace ignored (checked in bounded
    chunks: a large attachment is never decoded whole)."""
    return base64_text(value) is not None


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


BytePath = tuple[str | None, ...]  # property names; None: every item of an array


@dataclass(frozen=True)
class BodyValidator:
    """A request body's validator: jsonschema-rs for everything but `format: byte`, which is checked here.

    jsonschema-rs hands every string it checks against a Python format function to Python as a new copy: a
    second copy of each attachment, for as long as the check takes. The byte-format strings are few and their
    places known from the schema, so they are checked in place (`base64text.base64_text`, in bounded chunks).
    """

    validator: Any
    byte_paths: tuple[BytePath, ...]

    def byte_errors(self, value: Any) -> str | None:
        for path in self.byte_paths:
            for where, found in _at(value, path, ()):
                if isinstance(found, str) and base64_text(found) is None:
                    shown = found if len(found) <= 80 else found[:77] + "..."
                    return f"{orjson.dumps(shown).decode()} is not a \"byte\" at '{json_pointer_to_path(list(where))}'"
        return None


def _at(value: Any, path: BytePath, where: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if not path:
        yield where, value
        return
    step, rest = path[0], path[1:]
    if step is None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from _at(item, rest, (*where, index))
    elif isinstance(value, dict) and step in value:
        yield from _at(value[step], rest, (*where, step))


def _byte_paths(node: Any, path: BytePath = (), depth: int = 0) -> Iterator[BytePath]:
    """Where a schema asks for `format: byte` (through `allOf`/`anyOf`/`oneOf`, properties and items; Connexion
    hands the validators schemas with every `$ref` resolved)."""
    if not isinstance(node, Mapping) or depth > 32:
        return
    if node.get("format") == "byte":
        yield path
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or ():
            yield from _byte_paths(sub, path, depth + 1)
    for name, sub in (node.get("properties") or {}).items():
        yield from _byte_paths(sub, (*path, name), depth + 1)
    if "items" in node:
        yield from _byte_paths(node["items"], (*path, None), depth + 1)


def _without_byte_format(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_byte_format(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    return {k: _without_byte_format(v) for k, v in schema.items() if not (k == "format" and v == "byte")}


_body_validators: dict[int, tuple[Any, BodyValidator]] = {}


def body_validator(schema: Mapping[str, Any]) -> BodyValidator:
    """The validator of a request body schema; built on first use and kept."""
    entry = _body_validators.get(id(schema))
    if entry is None or entry[0] is not schema:
        validator = jsonschema_rs.Draft4Validator(to_json_schema(_without_byte_format(schema)), validate_formats=True)
        entry = (schema, BodyValidator(validator, tuple(dict.fromkeys(_byte_paths(schema)))))
        _body_validators[id(schema)] = entry
    return entry[1]


def json_pointer_to_path(parts: list[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def schema_errors(validator: Any, value: Any) -> Iterator[Any]:
    """The validator's errors, each nullable use of a carrier looked through: `{allOf: [$ref], nullable: true}`
    fails as "not valid under any of the given schemas" when the carrier is wrong inside, and the error that
    says where (`OutgoingConnectionInfo.Password: 4711 is not of type "string"`) is in its non-null branch."""
    for error in validator.iter_errors(value):
        yield from _looked_through(error)


def _looked_through(error: Any) -> Iterator[Any]:
    if type(error.kind).__name__ in ("AnyOf", "OneOfNotValid"):
        here = list(error.instance_path)
        branches = [
            branch
            for branch in error.kind.context or []
            if not (
                len(branch) == 1
                and type(branch[0].kind).__name__ == "Type"
                and list(branch[0].kind.types) == ["null"]
                and list(branch[0].instance_path) == here
            )
        ]
        if len(branches) == 1 and branches[0]:
            for inner in branches[0]:
                yield from _looked_through(inner)
            return
    yield error


def first_error(schema: Mapping[str, Any], value: Any) -> problems.MockProblem | None:
    """The first schema violation of a request body as a 400 problem, or None when `value` is valid."""
    checks = body_validator(schema)
    validator = checks.validator
    if validator.is_valid(value):  # no error objects to build for the common case
        not_bytes = checks.byte_errors(value)
        return problems.bad_request(not_bytes) if not_bytes else None
    for error in schema_errors(validator, value):
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


async def read_body(receive: Receive, limit: int) -> bytearray:
    """The whole request body, refusing bodies over `limit` bytes.

    Gathered in one growing buffer: a list of the pieces joined at the end held the body twice over, and the
    freed pieces kept the process that much larger.
    """
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            raise problems.payload_too_large(limit)
        more = message.get("more_body", False)
    return body


def decode_json(raw: bytes | bytearray, encoding: str) -> Any:
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
    return split_content_type(Headers(scope=scope).get("content-type", ""))


def split_content_type(header: str) -> tuple[str, str | None]:
    """(media type, charset) of a Content-Type value; ("", None) when there is none."""
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

    allows_empty = False

    def decode(self, raw: bytearray, media_type: str, charset: str | None, scope: Scope) -> Any:
        return decode_json(raw, charset or "utf-8")

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        raw = await read_body(receive, runtime_limit(scope))
        if (not raw or raw.isspace()) and not self.allows_empty:  # isspace: no stripped copy of a large body
            raise problems.bad_request(
                "The request body is empty; this operation needs a request object.", kind="missing"
            )
        media_type, charset = content_type(scope)
        value = self.decode(raw, media_type, charset, scope)
        if value is None:
            raise problems.bad_request("The request object is null.", kind="missing")
        problem = first_error(self._schema, value)
        if problem is not None:
            raise problem
        scope[BODY_KEY] = value
        scope[RAW_BODY_KEY] = raw
        # Downstream reads the decoded body from the scope. Connexion's handler wrapper would parse a form
        # body a second time (and trips over the contract's allOf items), so it is handed an empty one.
        return self._insert_messages(receive, messages=[EMPTY_BODY]), scope


def operation_id(scope: Scope) -> str | None:
    """The operation the routing chose for the request (Connexion's routing context in the scope)."""
    routing = scope.get("extensions", {}).get(ROUTING_CONTEXT, {})
    found = routing.get("operation_id")
    return str(found) if found else None


class XmlBodyValidator(JsonBodyValidator):
    """application/xml and text/xml, read into the request object by the contract's `xml` objects."""

    def decode(self, raw: bytearray, media_type: str, charset: str | None, scope: Scope) -> Any:
        codec = XmlCodec(spec.resolve)
        try:
            root = codec.parse(bytes(raw), charset)
            found = root.tag.rsplit("}", 1)[-1]
            operation = operation_id(scope)
            expected = spec.request_root(operation) if operation else None
            if expected and found != expected:
                raise XmlBodyError(f"Expecting element '{expected}', found '{found}'")
            return codec.read(root, self._schema, found)
        except XmlBodyError as exc:
            raise problems.bad_request(str(exc)) from None


class FormBodyValidator(JsonBodyValidator):
    """application/x-www-form-urlencoded, read with ASP.NET's bracket notation (see mockserver.contract.forms)."""

    allows_empty = True

    def decode(self, raw: bytearray, media_type: str, charset: str | None, scope: Scope) -> Any:
        encoding = charset or "utf-8"
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise problems.bad_request("A form body must be ASCII, with other characters percent-encoded") from None
        try:
            codecs.lookup(encoding)
            return forms.read(text, self._schema, spec.resolve, encoding=encoding)
        except LookupError:
            raise problems.MockProblem(
                415, f"The charset '{encoding}' is not supported; send UTF-8.", message="Unsupported charset"
            ) from None
        except forms.FormBodyError as exc:
            raise problems.bad_request(str(exc)) from None


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
        for error in schema_errors(compiled(self._schema), body):
            path = json_pointer_to_path(list(error.instance_path))
            raise NonConformingResponseBody(
                detail=f"Response body does not conform to specification. {error.message} at '{path}'"
            )


class ContractParameterValidator(ParameterValidator):
    """Query, path and header parameters checked with the same compiled validators as bodies.

    Connexion's own check rebuilds a validator (and deep-copies the schema) per parameter and request, and
    its messages quote the whole schema, which for SO-TimeZone is the list of every zone name.
    """

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        name = param.get("name", param_name)
        if value is None:
            return f"Missing {parameter_type} parameter '{name}'" if param.get("required") else None
        schema = param.get("schema", param)
        for error in compiled(schema).iter_errors(value):
            if type(error.kind).__name__ in ("Pattern", "Enum"):
                shown = value if len(str(value)) <= 80 else str(value)[:77] + "..."
                return f"{parameter_type.capitalize()} parameter '{name}': '{shown}' is not an accepted value"
            return f"{parameter_type.capitalize()} parameter '{name}': {error.message}"
        return None
