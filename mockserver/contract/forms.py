"""application/x-www-form-urlencoded bodies, read the way ASP.NET Web API binds them.

Field names address nested carriers with jQuery's bracket notation, which ASP.NET's form binder reads, or with
dots: `Emails[0][To][0][Address]=kari@fjordtech.no` and `Emails[0].To[0].Address=kari@fjordtech.no` mean the
same. Array items are numbered from 0 (`Recipients[0]=a&Recipients[1]=b`); `Recipients[]=a`, and a name given
several times (`Recipients=a&Recipients=b`), append items. A top-level field whose property is an object or an
array may also hold that value as JSON (`Emails=[{"Subject":"Hei"}]`). Values are converted to the types the
schema declares; an empty value is null for non-string properties. Fields that name no property, or whose
name is not in this notation, are ignored, as unknown JSON properties are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

Resolver = Callable[[Mapping[str, Any]], Mapping[str, Any]]

_SEGMENT = re.compile(r"\[([^\]]*)\]|\.([^.\[\]]+)")
MAX_FIELDS = 10_000
MAX_INDEX = 10_000


class FormBodyError(ValueError):
    """A form body that cannot be read as the schema's value."""


def split_name(name: str) -> list[str]:
    """`Emails[0][To][0].Address` → ["Emails", "0", "To", "0", "Address"]; `X[]` ends in ""."""
    head = re.match(r"[^.\[\]]*", name)
    first = head.group(0) if head else ""
    parts = [first]
    position = len(first)
    for match in _SEGMENT.finditer(name, position):
        if match.start() != position:
            raise FormBodyError(f"Field name '{name}' is not in Name[0][Property] or Name[0].Property form")
        parts.append(match.group(1) if match.group(1) is not None else match.group(2))
        position = match.end()
    if position != len(name) or not first:
        raise FormBodyError(f"Field name '{name}' is not in Name[0][Property] or Name[0].Property form")
    return parts


def _kind(schema: Mapping[str, Any]) -> str | None:
    if schema.get("type"):
        return str(schema["type"])
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


class _Node:
    """A value being assembled from fields: leaves hold the raw strings."""

    __slots__ = ("appended", "children", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.appended: list[_Node] = []
        self.values: list[str] = []


def read(body: str, schema: Mapping[str, Any], resolve: Resolver, encoding: str = "utf-8") -> dict[str, Any]:
    """The request object a form body stands for; percent-escapes are decoded in `encoding`."""
    try:
        pairs = parse_qsl(
            body,
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            encoding=encoding,
            errors="strict",
        )
    except UnicodeDecodeError as exc:
        raise FormBodyError(f"A form field is not valid {encoding}: {exc.reason}") from None
    except ValueError as exc:
        raise FormBodyError(f"The form body has too many fields: {exc}") from None
    root = _Node()
    for name, value in pairs:
        try:
            parts = split_name(name)
        except FormBodyError:
            continue  # a field no property can be named by is ignored, as ASP.NET's form binder does
        node = root
        for part in parts:
            if part == "":
                child = _Node()
                node.appended.append(child)
                node = child
            else:
                node = node.children.setdefault(part, _Node())
        node.values.append(value)
    converted = _convert(root, resolve(schema), resolve, "")
    if not isinstance(converted, dict):
        raise FormBodyError("The form body must describe an object")
    return converted


def _convert(node: _Node, schema: Mapping[str, Any], resolve: Resolver, path: str) -> Any:
    kind = _kind(schema)
    if kind == "object" or (kind is None and node.children):
        if node.values and not node.children:
            return _from_text(node.values[-1], schema, kind, path)
        properties: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for key, child in node.children.items():
            sub = properties.get(key)
            if sub is None:
                if not isinstance(extra, Mapping):
                    continue  # unknown fields are ignored, as for JSON bodies
                sub = extra
            result[key] = _convert(child, resolve(sub), resolve, f"{path}.{key}" if path else key)
        return result
    if kind == "array":
        items = resolve(schema.get("items") or {})
        if node.values and not node.children and not node.appended:
            if len(node.values) == 1 and _kind(items) in ("object", "array"):
                return _from_text(node.values[0], schema, kind, path)
            return [_convert_leaf(value, items, f"{path}[{i}]") for i, value in enumerate(node.values)]
        indexed: list[tuple[int, _Node]] = []
        for key, child in node.children.items():
            if not key.isdigit() or int(key) > MAX_INDEX:
                raise FormBodyError(f"'{path}[{key}]': array items are numbered 0, 1, 2 …")
            indexed.append((int(key), child))
        ordered = [child for _, child in sorted(indexed)] + node.appended
        return [_convert(child, items, resolve, f"{path}[{i}]") for i, child in enumerate(ordered)]
    if node.children or node.appended:
        raise FormBodyError(f"'{path}' is a simple value; it has no parts")
    return _convert_leaf(node.values[-1] if node.values else "", schema, path)


def _from_text(text: str, schema: Mapping[str, Any], kind: str | None, path: str) -> Any:
    """An object or array given as one field: JSON, or empty for null."""
    if text.strip() in ("", "null"):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        shape = "an object" if kind == "object" else "a list"
        raise FormBodyError(f"'{path}' is {shape}; send it as JSON or field by field") from None


def _convert_leaf(text: str, schema: Mapping[str, Any], path: str) -> Any:
    kind = _kind(schema)
    if kind in ("object", "array"):
        return _from_text(text, schema, kind, path)
    if kind == "string" or kind is None:
        return text
    stripped = text.strip()
    if stripped == "":
        return None
    if kind == "integer":
        if not re.fullmatch(r"[+-]?[0-9]+", stripped):
            raise FormBodyError(f"'{path}' must be an integer, not '{stripped}'")
        return int(stripped)
    if kind == "boolean":
        lowered = stripped.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        raise FormBodyError(f"'{path}' must be true or false, not '{stripped}'")
    if kind == "number":
        try:
            return float(stripped)
        except ValueError:
            raise FormBodyError(f"'{path}' must be a number, not '{stripped}'") from None
    return text


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The fields a nested value becomes in bracket notation (what jQuery's $.param sends); None is left out."""
    fields: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            fields.extend(flatten(item, f"{prefix}[{key}]" if prefix else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            fields.extend(flatten(item, f"{prefix}[{index}]"))
    elif value is None:
        pass
    elif isinstance(value, bool):
        fields.append((prefix, "true" if value else "false"))
    else:
        fields.append((prefix, str(value)))
    return fields


def encode(value: Mapping[str, Any]) -> str:
    return urlencode(flatten(value))
