"""The contract documents under openapi/, loaded once per process."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

EMAIL_API = "email-api.yaml"


def spec_dir() -> Path:
    """Where the OpenAPI documents live: the repository's openapi/ or the copy installed with the package."""
    repo = Path(__file__).resolve().parent.parent / "openapi"
    if (repo / EMAIL_API).is_file():
        return repo
    return Path(str(resources.files("mockserver") / "openapi"))


@functools.cache
def load(name: str = EMAIL_API) -> dict[str, Any]:
    with open(spec_dir() / name, encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = load()["components"]["schemas"][name]
    return found


def _dotnet_type(prop: dict[str, Any]) -> str | None:
    """The .NET type name the vendor reports in FieldProperties for a scalar property, or None."""
    ref = prop.get("$ref", "")
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
