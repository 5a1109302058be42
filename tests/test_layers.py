"""Imports point one way (ARCHITECTURE.md): every module under mockserver/ imports only modules of its own
layer's part or of a lower layer, including imports under TYPE_CHECKING and inside functions.

Layers, highest first: tools and wiring → vendors (superoffice, genesys, control; none imports another) →
shared services → mail and contract (neither imports the other) → formats → nothing of ours.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mockserver"

# (rank, part): a module may import its own part, or any part of a lower rank.
FORMATS = (0, "formats")
SUBPACKAGES = {
    "formats": FORMATS,
    "mail": (1, "mail"),
    "contract": (1, "contract"),
    "superoffice": (3, "superoffice"),
    "genesys": (3, "genesys"),
    "control": (3, "control"),
    "tools": (4, "top"),
}
SHARED = frozenset({"settings", "runtime", "call", "auth", "controls", "seeding", "fakes"})
WIRING = frozenset({"__init__", "__main__", "app", "cli", "workers", "lean", "routing"})


def layer(module: str) -> tuple[int, str] | None:
    """The layer of one of our modules (`mockserver.mail.ingest` → (1, "mail")); None when unclassified."""
    parts = module.split(".")
    if parts == ["mockserver"]:
        return (4, "top")  # the package itself: `from mockserver import __version__` runs its __init__
    name = parts[1]
    if name in SUBPACKAGES:
        return SUBPACKAGES[name]
    if name in SHARED:
        return (2, "shared")
    if name in WIRING:
        return (4, "top")
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def imported(module: str, is_package: bool, tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import of one of our modules, wherever it is in the tree."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "mockserver"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "mockserver":
                continue
            for alias in node.names:
                # `from mockserver.contract import spec` imports the module spec; `from mockserver.x import Y`, x.
                candidate = f"{source}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(candidate) else source))
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every import in `source` (the text of `module`) that points up, or sideways to another part."""
    own = layer(module)
    assert own is not None, f"{module} belongs to no layer: add it to tests/test_layers.py (and ARCHITECTURE.md)"
    found = []
    for line, target in imported(module, is_package, ast.parse(source)):
        theirs = layer(target)
        if theirs is None:
            found.append(f"{module}:{line} imports {target}, which belongs to no layer")
        elif theirs[1] != own[1] and theirs[0] >= own[0]:
            rule = f"{own[1]} (layer {own[0]}) may not import {theirs[1]} (layer {theirs[0]})"
            found.append(f"{module}:{line} imports {target}: {rule}")
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    unclassified = [module_name(path) for path in modules() if layer(module_name(path)) is None]
    assert unclassified == [], "classify these in tests/test_layers.py (and ARCHITECTURE.md)"


def test_imports_point_down_the_layers() -> None:
    found = []
    for path in modules():
        found += violations(module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
    assert found == [], "imports against the layers:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("mockserver.mail.ingest", "if TYPE_CHECKING:\n    from mockserver.runtime import Runtime\n"),
        ("mockserver.contract.bodies", "from mockserver.mail import mime\n"),
        ("mockserver.formats.locales", "def f():\n    from mockserver.contract.negotiation import parse_accept\n"),
        ("mockserver.runtime", "from mockserver.genesys import bayeux\n"),
        ("mockserver.genesys.notify", "import mockserver.superoffice.directory\n"),
        ("mockserver.superoffice.handlers", "from mockserver.tools import testing\n"),
        ("mockserver.mail.delivery", "from ..settings import Settings\n"),
    ],
)
def test_the_check_names_an_import_against_the_layers(module: str, source: str) -> None:
    [found] = violations(module, source)
    assert found.startswith(f"{module}:")


def test_the_check_allows_imports_down_and_within_a_part() -> None:
    source = "from mockserver.mail import mime\nfrom mockserver.formats.dotnet import DotNetDateTime\n"
    assert violations("mockserver.mail.ingest", source) == []
    assert violations("mockserver.app", "from mockserver.tools import testing\nfrom . import routing\n") == []
