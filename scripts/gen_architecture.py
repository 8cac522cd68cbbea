"""Regenerate the generated parts of ``docs/architecture.md`` from the code.

    python scripts/gen_architecture.py           # rewrite the generated blocks
    python scripts/gen_architecture.py --check   # exit 1 if they are out of date

Two blocks of the page are written by this script, never by hand, each
between a pair of markers (``<!-- phases:begin -->`` ... ``<!-- phases:end -->``):

* ``phases``: the connection's state machine, drawn from the tables in
  ``aioweb/http11/phases.py`` (``TRANSITIONS``, ``MEANING``, ``DEADLINES``)
  and the defaults in ``aioweb/config.py``;
* ``layers``: the layers of the package and which may import which, from
  :data:`LAYERS` below. ``tests/docs/test_layering.py`` checks every
  ``import`` in ``aioweb/`` against the same table, so the picture and the
  rule cannot disagree.

``tests/docs/test_docs.py`` fails when the page differs from what this
script would write: change the code, run the script, commit both.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from pathlib import Path

from aioweb.config import Config
from aioweb.http11.phases import DEADLINES, MEANING, TRANSITIONS, Phase, mermaid_diagram

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE_MD = PROJECT_ROOT / "docs" / "architecture.md"


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer: its modules, the layers it may import, and why it exists."""

    name: str
    # Module names; "pkg.*" means every module below pkg (pkg itself is listed apart).
    modules: tuple[str, ...]
    # Layers this one may import from (besides itself).
    may_import: tuple[str, ...]
    # Top-level modules outside aioweb that it must not import.
    forbidden: tuple[str, ...]
    role: str


# Bottom to top. A module may import its own layer and the layers named in
# may_import, nothing else from aioweb.
LAYERS: tuple[Layer, ...] = (
    Layer("plain data", ("aioweb.headers", "aioweb.errors", "aioweb.config"),
          (), ("asyncio", "socket", "httptools", "uvloop"),
          "Values with no I/O: request headers, the exceptions, every limit and timeout."),
    Layer("contract", ("aioweb.contract",),
          ("plain data",), ("asyncio", "socket", "httptools", "uvloop"),
          "What a container promises a handler: the ABCs and Response. No event loop in sight."),
    Layer("http11", ("aioweb.http11", "aioweb.http11.*"),
          ("plain data",), ("asyncio", "socket", "selectors", "threading", "uvloop"),
          "HTTP/1.1 without I/O (sans-IO): bytes in, events out; responses in, bytes out."),
    Layer("server", ("aioweb.server", "aioweb.server.*"),
          ("plain data", "contract", "http11"), (),
          "Where asyncio meets HTTP: the protocol on the transport, futures and tasks, "
          "the timer, the signals."),
    Layer("adapters", ("aioweb.router", "aioweb.asgi", "aioweb.asgi.*"),
          ("plain data", "contract"), (),
          "Handlers written against the contract alone (routing, ASGI): "
          "they run on any Container."),
    Layer("entry points", ("aioweb", "aioweb.__main__", "aioweb.cli", "aioweb.options",
                           "aioweb.supervisor", "aioweb.reloader"),
          ("plain data", "contract", "http11", "server", "adapters"), (),
          "The package's front door and the command line: they put the layers together."),
)


def layer_of(module: str) -> Layer | None:
    """The layer a module of aioweb belongs to, or None if no layer lists it."""
    for layer in LAYERS:
        for pattern in layer.modules:
            if module == pattern or (pattern.endswith(".*") and module.startswith(pattern[:-1])):
                return layer
    return None


# --- the generated blocks ----------------------------------------------------

def _mermaid_safe(diagram: str) -> str:
    """The diagram with colons inside transition labels written as ``#58;``.

    mermaid's state diagram parser takes a second colon in a transition line
    for a syntax error (mermaid-js/mermaid#7418, fixed in 2026, not yet in
    every renderer); ``#58;`` is mermaid's escape for ":".
    """
    lines = []
    for line in diagram.splitlines():
        arrow, colon, label = line.partition(": ")
        lines.append(arrow + colon + label.replace(":", "#58;") if "-->" in arrow else line)
    return "\n".join(lines)


def render_phases() -> str:
    """The state diagram of a connection, and its tables."""
    defaults = Config()
    lines = ["```mermaid", _mermaid_safe(mermaid_diagram()), "```", "",
             "| phase | what it means | deadline (`Config` field, default) |",
             "|---|---|---|"]
    for phase in Phase:
        field = DEADLINES[phase]
        deadline = "none" if field is None else f"`{field}`, {getattr(defaults, field)} s"
        lines.append(f"| `{phase.name}` | {MEANING[phase]} | {deadline} |")
    lines += ["", "| from | to | what makes the step |", "|---|---|---|"]
    for (source, target), why in TRANSITIONS.items():
        lines.append(f"| `{source.name}` | `{target.name}` | {why} |")
    return "\n".join(lines)


def _node_id(layer: Layer) -> str:
    return re.sub(r"\W", "_", layer.name)


def _short(module: str) -> str:
    return module.removeprefix("aioweb.") if module != "aioweb" else "aioweb (package)"


def render_layers() -> str:
    """The layers as a graph, and a table.

    An arrow reads "may import from"; arrows implied by a path through another
    layer are left out, the table lists them all.
    """
    lines = ["```mermaid", "flowchart BT"]
    for layer in LAYERS:
        modules = ", ".join(_short(m) for m in layer.modules)
        lines.append(f'    {_node_id(layer)}["<b>{layer.name}</b><br/>{modules}"]')
    for layer in LAYERS:
        for lower in _direct(layer):
            lines.append(f"    {_node_id(layer)} --> {_node_id(_by_name(lower))}")
    lines += ["```", "",
              "| layer | modules | may import from aioweb | must not import | role |",
              "|---|---|---|---|---|"]
    for layer in LAYERS:
        modules = ", ".join(f"`{m}`" for m in layer.modules)
        allowed = ", ".join([layer.name, *layer.may_import])
        forbidden = ", ".join(f"`{m}`" for m in layer.forbidden) or "—"
        lines.append(f"| {layer.name} | {modules} | {allowed} | {forbidden} | {layer.role} |")
    return "\n".join(lines)


def _reachable(name: str) -> set[str]:
    """Every layer that ``name`` reaches along may_import, transitively."""
    seen: set[str] = set()
    todo = list(_by_name(name).may_import)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(_by_name(current).may_import)
    return seen


def _direct(layer: Layer) -> list[str]:
    """The arrows worth drawing: those not implied by a path through another layer."""
    return [lower for lower in layer.may_import
            if not any(lower in _reachable(other) for other in layer.may_import if other != lower)]


def _by_name(name: str) -> Layer:
    for layer in LAYERS:
        if layer.name == name:
            return layer
    raise KeyError(name)


BLOCKS: dict[str, Callable[[], str]] = {"phases": render_phases, "layers": render_layers}


def update(text: str) -> str:
    """``text`` with every generated block rewritten from the code."""
    for name, render in BLOCKS.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        start, stop = text.find(begin), text.find(end)
        if start < 0 or stop < start:
            raise ValueError(f"{begin} ... {end} not found in order")
        note = "<!-- generated by scripts/gen_architecture.py: edit the code, not this block -->"
        text = text[:start] + f"{begin}\n{note}\n\n{render()}\n\n" + text[stop:]
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite the page, or with --check report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the page is out of date")
    parser.add_argument("path", nargs="?", type=Path, default=ARCHITECTURE_MD,
                        help="the page (docs/architecture.md)")
    args = parser.parse_args(argv)
    current = args.path.read_text(encoding="utf-8")
    wanted = update(current)
    if args.check:
        if wanted != current:
            print(f"{args.path} is out of date: run python scripts/gen_architecture.py",
                  file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        args.path.write_text(wanted, encoding="utf-8")
        print(f"{args.path}: updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
