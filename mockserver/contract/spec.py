"""The contract documents under openapi/, loaded once per process."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mockserver.formats.timezones import VENDOR_ZONES

# libyaml's parser when PyYAML was built with it (the wheels are): the contract takes ~0.3 s to parse in pure
# Python and ~0.04 s in C, and it is parsed at every start. Same constructor, so the same document.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

EMAIL_API = "email-api.yaml"
CONTROL_API = "mock-control.yaml"


def spec_dir() -> Path:
    """Where the OpenAPI documents live: the repository's openapi/ or the copy installed with the package."""
    repo = Path(__file__).resolve().parents[2] / "openapi"  # mockserver/contract/spec.py → the checkout
    if (repo / EMAIL_API).is_file():
        return repo
    return Path(str(resources.files("mockserver") / "openapi"))


@functools.cache
def load(name: str = EMAIL_API) -> dict[str, Any]:
    with open(spec_dir() / name, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_LOADER)
    return document


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = load()["components"]["schemas"][name]
    return found


def _ref_of(node: Mapping[str, Any]) -> str:
    """The component a schema uses, directly (`$ref`) or through a single-`allOf` wrapper; "" for none."""
    wrapped = node.get("allOf") or [{}]
    return str(node.get("$ref") or (wrapped[0].get("$ref") if len(wrapped) == 1 else "") or "")


def _dotnet_type(prop: dict[str, Any]) -> str | None:
    """The .NET type name the vendor reports in FieldProperties for a scalar property, or None."""
    ref = _ref_of(prop)
    if ref:
        target = schema(ref.rsplit("/", 1)[1])
        if target.get("type") == "object":
            return None
        if ref.endswith("/DotNetDateTime"):
            return "System.DateTime"
        prop = target
    kind = prop.get("type")
    if kind == "integer":
        return "System.Int32"
    if kind == "boolean":
        return "System.Boolean"
    if kind == "string":
        return "System.String"
    return None


@functools.cache
def carrier_scalar_fields(carrier: str) -> tuple[tuple[str, str], ...]:
    """(property, .NET type) for each scalar property of a carrier, in declaration order."""
    fields = []
    for name, prop in schema(carrier).get("properties", {}).items():
        dotnet = _dotnet_type(prop)
        if dotnet is not None:
            fields.append((name, dotnet))
    return tuple(fields)


_NULLABLE: dict[int, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}


def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow `$ref` within the contract, and unwrap the single-`allOf` wrappers that carry XML item names or
    make one use of a component nullable (the component itself is not: `{allOf: [$ref], nullable: true}`)."""
    seen = 0
    nullable = False
    while True:
        if "$ref" in node:
            section, name = str(node["$ref"]).split("/")[-2:]
            node = load()["components"][section][name]
        elif "allOf" in node and len(node["allOf"]) == 1 and "properties" not in node and "type" not in node:
            nullable = nullable or node.get("nullable") is True
            node = node["allOf"][0]
        else:
            return _as_nullable(node) if nullable and node.get("nullable") is not True else node
        seen += 1
        if seen > 32:
            raise ValueError("reference cycle in the contract")


def _as_nullable(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The component with `nullable: true`, one copy per component (the codecs look schemas up by identity)."""
    found = _NULLABLE.get(id(node))
    if found is None or found[0] is not node:
        found = _NULLABLE[id(node)] = (node, {**node, "nullable": True})
    return found[1]


MEDIA_VIEWS = ("json",)


def check_media_view(media: str) -> None:
    if media not in MEDIA_VIEWS:
        raise ValueError(f"unknown media view {media!r}; choose from {', '.join(MEDIA_VIEWS)}")


def media_view(document: Mapping[str, Any], media: str) -> dict[str, Any]:
    """The contract with only `application/json` request and response bodies (`media="json"`), derived from
    the one written contract, for client generators that take every listed media type as another way to send
    the same call (openapi-python-client sends `json=` and then `data=`, a form body) or parse every
    documented error as JSON, whatever the media type says. Everything else (paths, parameters, components,
    their `$ref`s) is the contract as written; an operation without a JSON body keeps what it has."""
    check_media_view(media)

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, Mapping):
            return node
        found = {key: walk(value) for key, value in node.items()}
        content = node.get("content")
        if isinstance(content, Mapping) and "application/json" in content:
            found["content"] = {"application/json": walk(content["application/json"])}
        return found

    viewed: dict[str, Any] = walk(document)
    return viewed


@functools.cache
def operations() -> dict[str, dict[str, Any]]:
    """operationId → operation object (raw, with $refs)."""
    found: dict[str, dict[str, Any]] = {}
    for item in load()["paths"].values():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                found[operation["operationId"]] = {**operation, "x-method": method}
    return found


@functools.cache
def responses(operation_id: str) -> dict[str, Mapping[str, Any]]:
    """status → resolved response object; cached, as every request with a mock control looks it up."""
    return {code: resolve(response) for code, response in operations()[operation_id]["responses"].items()}


def _root_name(schema: Mapping[str, Any]) -> str:
    """The XML root element for a schema: its `xml.name`, else the component it refers to."""
    name = (schema.get("xml") or {}).get("name")
    if name:
        return str(name)
    ref = _ref_of(schema)
    if ref:  # a use of a component, nullable or not, is rooted where the component is
        target = resolve(schema)
        return str((target.get("xml") or {}).get("name") or ref.rsplit("/", 1)[1])
    return "Result"


@functools.cache
def response_schema(operation_id: str, status: int, media_type: str) -> tuple[Mapping[str, Any], str] | None:
    """(schema, XML root name) of a documented response, or None when it has no body in that media type."""
    response = responses(operation_id).get(str(status))
    if response is None:
        return None
    content = response.get("content") or {}
    media = content.get(media_type) or content.get("application/json")
    if media is None or "schema" not in media:
        return None
    schema = media["schema"]
    return schema, _root_name(schema)


@functools.cache
def request_root(operation_id: str) -> str | None:
    body = operations()[operation_id].get("requestBody") or {}
    media = (body.get("content") or {}).get("application/json")
    return _root_name(media["schema"]) if media else None


def examples(operation_id: str, status: int) -> dict[str, Any]:
    """Named examples of a response (from its JSON content); a lone `example` is named `default`."""
    response = responses(operation_id).get(str(status))
    if response is None:
        return {}
    media = (response.get("content") or {}).get("application/json") or {}
    named = {name: resolve(example).get("value") for name, example in (media.get("examples") or {}).items()}
    if "example" in media:
        named.setdefault("default", media["example"])
    return named


@functools.cache
def iana_zone_names() -> frozenset[str]:
    """The IANA names the contract's SO-TimeZone pattern admits."""
    parameter = load()["components"]["parameters"]["SOTimeZone"]
    pattern: str = parameter["schema"]["pattern"]
    body = pattern[len("^(") : pattern.index(")(")]
    vendor = {code for _, code, _ in VENDOR_ZONES} - {"UTC"}
    names = (name.replace("\\", "") for name in body.split("|"))
    return frozenset(name for name in names if not name.isdigit() and name not in vendor)


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern[str]
    methods: Mapping[str, str]  # upper-case method → operationId


@functools.cache
def routes() -> tuple[Route, ...]:
    """Every path of the contract; literal paths first, so that a template never shadows a literal path."""
    found = []
    for template, item in load()["paths"].items():
        methods = {
            method.upper(): str(operation["operationId"])
            for method, operation in item.items()
            if isinstance(operation, dict) and "operationId" in operation
        }
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        found.append(Route(template, re.compile(f"^{regex}$"), methods))
    return tuple(sorted(found, key=lambda route: route.template.count("{")))


def match(path: str) -> tuple[Route, dict[str, str]] | None:
    """The contract's route for a concrete path, and its path parameters."""
    for route in routes():
        found = route.pattern.match(path)
        if found:
            return route, found.groupdict()
    return None


def allowed_methods(path: str) -> tuple[str, ...] | None:
    """The methods the contract documents for a concrete path (`Allow` of a 405); HEAD comes with every GET."""
    found = match(path)
    if found is None:
        return None
    methods = tuple(found[0].methods)
    return (*methods, "HEAD") if "GET" in methods and "HEAD" not in methods else methods
