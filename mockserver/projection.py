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
