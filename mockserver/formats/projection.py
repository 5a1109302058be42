"""`$select`: null out every property that was not selected (the vendor nulls, it does not remove)."""

from __future__ import annotations

from typing import Any

# A selection tree maps case-folded property names to the selection beneath them; ALL keeps a whole value.
ALL: dict[str, Any] = {}
SelectTree = dict[str, Any]


def parse_select(text: str | None) -> SelectTree | None:
    """`"Subject,To/Address"` → tree; None when nothing is selected (then every field is shown)."""
    if text is None:
        return None
    tree: SelectTree = {}
    for item in text.split(","):
        parts = [part.strip().casefold() for part in item.split("/")]
        if not parts or not all(parts):
            continue
        node = tree
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            child = node.get(part)
            if child is ALL:
                break  # an ancestor is already selected whole
            if last:
                node[part] = ALL
            else:
                if child is None:
                    child = {}
                    node[part] = child
                node = child
    return tree or None


def apply_select(value: Any, tree: SelectTree | None) -> Any:
    """The value with every unselected property of every object set to None; arrays apply per element."""
    if tree is None or tree is ALL:
        return value
    if isinstance(value, list):
        return [apply_select(item, tree) for item in value]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            sub = tree.get(key.casefold())
            result[key] = None if sub is None else apply_select(item, sub)
        return result
    return value


def unselected(value: Any, tree: SelectTree | None) -> list[str]:
    """The properties a selection leaves out that still carry a value, as dotted paths (`[].HTMLBody`): what a
    server that ignores `$select` gives away. Empty when the selection was honoured or selects nothing."""
    return sorted(_unselected(value, tree, "")) if tree is not None else []


def _unselected(value: Any, tree: SelectTree, where: str) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _unselected(item, tree, where + "[]")
    elif isinstance(value, dict) and tree:
        for key, item in value.items():
            sub = tree.get(key.casefold())
            if sub is None and item is not None:
                found.add(f"{where}.{key}".lstrip("."))
            elif sub:
                found |= _unselected(item, sub, f"{where}.{key}")
    return found
