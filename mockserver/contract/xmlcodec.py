"""XML bodies read and written by the contract's schemas and `xml` objects.

The vendor's XML is ASP.NET's DataContract style, which the contract describes this way:

* the root element is named after the carrier or request (`SendEMailsRequest`, `EMailEntity`) and an array
  result after its items (`ArrayOfEMailEntity`);
* a property is an element named after the property (`<From>`, `<Subject>`);
* an array is wrapped: `<To><EMailAddress>…</EMailAddress></To>`, `<Recipients><string>…</string></Recipients>`;
* a dictionary (`FieldProperties`) has one element per key: `<FieldProperties><Subject>…</Subject></FieldProperties>`;
* null is `<X i:nil="true"/>` (xmlns:i = XML Schema instance); integers and booleans are their XML Schema
  lexical forms.

Reading is lenient where XML clients differ and the meaning is clear: namespaces are ignored, an array may also
come as repeated elements (`<To>…</To><To>…</To>`, so one element makes an array of one), and the text `null`
stands for null where the schema's type (or a string's enum or pattern) rules out the word itself. Input is
parsed with defusedxml: DTDs, entities and external references are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, register_namespace, tostring

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NIL = f"{{{XSI}}}nil"
register_namespace("i", XSI)

# XML 1.0 cannot carry these characters at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_INTEGER = re.compile(r"^\s*[+-]?[0-9]+\s*$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_ENCODING_DECLARATION = re.compile(rb"^(\s*<\?xml[^>]*?)\sencoding\s*=\s*(['\"])[^'\"]*\2", re.IGNORECASE)

Resolver = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class XmlBodyError(ValueError):
    """An XML body that cannot be read as the schema's value."""


def xml_safe(text: str) -> str:
    """Characters XML cannot represent become U+FFFD (the same rule applies to every XML response)."""
    return _NOT_XML.sub("\ufffd", text)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag.rsplit(":", 1)[-1]


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if kind:
        return str(kind)
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def item_name(schema: Mapping[str, Any], resolve: Resolver) -> str | None:
    items = schema.get("items") or {}
    name = (items.get("xml") or {}).get("name")
    if name:
        return str(name)
    target = resolve(items)
    return (target.get("xml") or {}).get("name")


def _admits(schema: Mapping[str, Any], text: str) -> bool:
    """Whether a string schema's enum or pattern allows `text`."""
    if "enum" in schema and text not in schema["enum"]:
        return False
    pattern = schema.get("pattern")
    return not (pattern and re.search(str(pattern), text) is None)


def _is_nil(element: Element) -> bool:
    return element.get(NIL, "").strip().lower() in ("true", "1")


class XmlCodec:
    """Converts between XML elements and JSON-shaped values, guided by OpenAPI 3.0 schemas.

    `resolve` follows `$ref` (and unwraps single-`allOf` schemas), so the codec works on the raw contract as
    well as on Connexion's resolved copy.
    """

    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve

    # Reading

    def parse(self, raw: bytes, charset: str | None) -> Element:
        """Parse untrusted XML: DTDs (and so entity bombs and XXE) are refused outright."""
        data = raw
        if charset:
            try:
                text = raw.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise XmlBodyError(f"The request body is not valid {charset}: {exc}") from None
            # The Content-Type charset wins over the document's own declaration (RFC 7303 §3).
            data = _ENCODING_DECLARATION.sub(rb"\1", text.encode("utf-8"))
        try:
            root: Element = SafeTree.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as exc:
            refused = type(exc).__name__
            raise XmlBodyError(f"The XML body was refused: {refused} (DTDs and entities are not allowed)") from None
        except ParseError as exc:
            raise XmlBodyError(f"The request body is not well-formed XML: {exc}") from None
        return root

    def read(self, element: Element, schema: Mapping[str, Any], path: str = "") -> Any:
        schema = self.resolve(schema)
        name = path or _local(element.tag)
        if _is_nil(element):
            return None
        kind = _kind(schema)
        children = list(element)
        text = element.text or ""
        if kind in ("object", "array"):
            if not children and text.strip():
                if text.strip() == "null":
                    return None
                raise XmlBodyError(f"'{name}' must contain elements, not text")
            if kind == "array":
                return self._read_array_items(children, schema, name)
            return self._read_object(element, schema, name)
        if children:
            raise XmlBodyError(f"'{name}' must be a simple value, not contain elements")
        return self._scalar(text, schema, kind, name)

    def _read_object(self, element: Element, schema: Mapping[str, Any], name: str) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        by_element: dict[str, str] = {}
        attributes: dict[str, str] = {}
        for prop, prop_schema in properties.items():
            options = prop_schema.get("xml") or {}
            xml_name = str(options.get("name", prop))
            (attributes if options.get("attribute") else by_element)[xml_name] = prop
        extra = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for attribute, prop in attributes.items():
            if attribute in element.attrib:
                prop_schema = self.resolve(properties[prop])
                result[prop] = self._scalar(element.attrib[attribute], prop_schema, None, f"{name}.{prop}")
        grouped: dict[str, list[Element]] = {}
        for child in element:
            grouped.setdefault(_local(child.tag), []).append(child)
        for local, occurrences in grouped.items():
            prop_name = by_element.get(local)
            if prop_name is not None:
                prop_schema = self.resolve(properties[prop_name])
                where = f"{name}.{prop_name}"
                if _kind(prop_schema) == "array":
                    result[prop_name] = self._read_array(occurrences, prop_schema, where)
                else:
                    # Json.NET keeps the last of repeated properties; so does this reader.
                    result[prop_name] = self.read(occurrences[-1], prop_schema, where)
            elif isinstance(extra, Mapping):
                result[local] = self.read(occurrences[-1], extra, f"{name}.{local}")
        return result

    def _read_array(self, occurrences: list[Element], schema: Mapping[str, Any], name: str) -> list[Any] | None:
        expected = item_name(schema, self.resolve)
        if len(occurrences) == 1:
            only = occurrences[0]
            if _is_nil(only):
                return None
            children = list(only)
            text = (only.text or "").strip()
            if not children and text == "null":
                return None
            wrapped = (not children and not text) or (
                bool(children) and all(_local(c.tag) == expected for c in children) if expected else bool(children)
            )
            if wrapped:
                return self._read_array_items(children, schema, name)
        # Repeated elements, each one item (what a writer without `wrapped` produces).
        items = schema.get("items") or {}
        return [self.read(element, items, f"{name}[{index}]") for index, element in enumerate(occurrences)]

    def _read_array_items(self, children: list[Element], schema: Mapping[str, Any], name: str) -> list[Any]:
        items = schema.get("items") or {}
        return [self.read(child, items, f"{name}[{index}]") for index, child in enumerate(children)]

    def _scalar(self, text: str, schema: Mapping[str, Any], kind: str | None, name: str) -> Any:
        kind = kind or _kind(schema)
        nullable = bool(schema.get("nullable"))
        if kind == "string" or kind is None:
            if nullable and text.strip() == "null" and not _admits(schema, "null"):
                return None  # a writer's spelling of null where the string "null" could not be meant
            return text
        stripped = text.strip()
        if stripped == "null" and nullable:
            return None
        if kind == "integer":
            if not _INTEGER.match(text):
                raise XmlBodyError(f"'{name}' must be an integer, not '{stripped}'")
            return int(stripped)
        if kind == "boolean":
            if stripped in ("true", "1"):
                return True
            if stripped in ("false", "0"):
                return False
            raise XmlBodyError(f"'{name}' must be true or false, not '{stripped}'")
        if kind == "number":
            try:
                return float(stripped)
            except ValueError:
                raise XmlBodyError(f"'{name}' must be a number, not '{stripped}'") from None
        return text

    # Writing

    def write(self, value: Any, schema: Mapping[str, Any], root: str, render: Callable[[Any], Any]) -> bytes:
        """The XML document for a response value; `render` turns non-JSON leaves (dates) into JSON values."""
        element = Element(root)
        self._fill(element, value, self.resolve(schema), render)
        # A raw CR would come back as LF (XML end-of-line handling); as a character reference it survives.
        document: bytes = tostring(element, encoding="utf-8", xml_declaration=False)
        return document.replace(b"\r", b"&#13;")

    def _fill(self, element: Element, value: Any, schema: Mapping[str, Any], render: Callable[[Any], Any]) -> None:
        if value is None:
            element.set(NIL, "true")
            return
        if isinstance(value, dict):
            properties: Mapping[str, Any] = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                prop_schema = properties.get(key)
                if prop_schema is None:
                    prop_schema = extra if isinstance(extra, Mapping) else {}
                child_name = str((prop_schema.get("xml") or {}).get("name", key))
                if not _XML_NAME.match(child_name):
                    child_name = "_" + re.sub(r"[^A-Za-z0-9._-]", "_", child_name)
                self._fill(SubElement(element, child_name), item, self.resolve(prop_schema), render)
            return
        if isinstance(value, list):
            name = item_name(schema, self.resolve) or "item"
            items = schema.get("items") or {}
            for item in value:
                self._fill(SubElement(element, name), item, self.resolve(items), render)
            return
        leaf = render(value) if not isinstance(value, str | int | float | bool) else value
        if isinstance(leaf, bool):
            element.text = "true" if leaf else "false"
        elif isinstance(leaf, str):
            element.text = xml_safe(leaf)
        else:
            element.text = str(leaf)
