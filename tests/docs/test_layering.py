"""Every import in ``aioweb/`` goes down the layers of ``docs/architecture.md``, never up.

The layers and what each may import are the table ``LAYERS`` in
``scripts/gen_architecture.py``, which also draws the picture on the page.
Imports are read from the source with :mod:`ast`, so an import inside a
function or under ``if TYPE_CHECKING:`` counts too: a dependency that exists
only for the type checker is still a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scripts.gen_architecture import LAYERS, Layer, layer_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_ROOT / "aioweb"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement in the file.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a
    module of aioweb, else as importing ``pkg``.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else base))
    return found


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in a layer (LAYERS in scripts/gen_architecture.py)."""
    homeless = sorted(m for m in MODULES if layer_of(m) is None)
    assert not homeless, (
        f"{homeless}: add each to a layer in scripts/gen_architecture.py (LAYERS), "
        "then run python scripts/gen_architecture.py to redraw docs/architecture.md")


def test_layers_name_only_existing_layers() -> None:
    """may_import refers to layers that exist, and only to layers below (no cycles)."""
    seen: set[str] = set()
    for layer in LAYERS:
        assert set(layer.may_import) <= seen, f"{layer.name} may import a layer above it"
        seen.add(layer.name)


def violations(module: str, path: Path) -> list[str]:
    """The imports of ``module`` (source at ``path``) that break the layering."""
    layer = layer_of(module)
    assert layer is not None
    allowed = {layer.name, *layer.may_import}
    wrong = []
    for line, imported in _imports(module, path):
        top = imported.split(".")[0]
        if top == "aioweb":
            target: Layer | None = layer_of(imported)
            if target is None or target.name not in allowed:
                where = "no layer" if target is None else f"layer {target.name!r}"
                wrong.append(f"line {line}: {imported} ({where})")
        elif top in layer.forbidden:
            wrong.append(f"line {line}: {imported} (never in layer {layer.name!r})")
    return wrong


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_respect_the_layers(module: str) -> None:
    """Each import stays in the module's layer or goes to a layer it may use."""
    layer = layer_of(module)
    if layer is None:
        pytest.skip("no layer (test_every_module_has_a_layer reports it)")
    wrong = violations(module, MODULES[module])
    assert not wrong, f"{module} (layer {layer.name!r}, may import {layer.may_import}): {wrong}"


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """An upward import, a forbidden one, and one hidden in a function are all caught."""
    fake = tmp_path / "fake.py"
    fake.write_text(
        "from typing import TYPE_CHECKING\n"
        "from aioweb.config import Config\n"          # allowed: plain data
        "if TYPE_CHECKING:\n"
        "    from aioweb.server.connection import HttpToolsConnection\n"  # upward
        "def later():\n"
        "    import asyncio\n"                          # forbidden in http11
        "    from aioweb import contract\n", encoding="utf-8")
    wrong = violations("aioweb.http11.fake", fake)
    assert [w.split(":")[0] for w in wrong] == ["line 4", "line 6", "line 7"], wrong
