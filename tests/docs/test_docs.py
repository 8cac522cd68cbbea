"""The pages say only what is true of the code: ``docs/**/*.md`` and ``README.md``.

* Every backticked file path (``aioweb/server/connection.py``, ``errors.py``)
  names a file that exists; every relative link leads to one, and to one of
  its headings when it has an ``#anchor``.
* A link whose text is a backticked name and whose target is a Python file
  (``[`HttpToolsConnection.data_received`](../aioweb/server/connection.py)``)
  names something defined in that file.
* Every backticked dotted name (``Config.debug``, ``asyncio.Transport.write``,
  ``transport.pause_reading``) resolves: by import and ``getattr``, starting
  from a module, from a name defined in aioweb, or from one of the short names
  in ``ALIASES`` (``transport`` is an ``asyncio.Transport``, ``Handle`` is
  ``asyncio.events.Handle``, ...); or it is the name of one of aioweb's
  loggers (``aioweb.trace``). Names starting from anything else
  (``self._debug``) are prose, not checked.
* Every trace line quoted in a page (``conn 1: read 83 bytes``) is one the
  connection can still print: it matches one of its ``_step`` formats.
* Every ```` ```python ```` block compiles, and runs (in a subprocess, from the
  project root, within ``RUN_TIMEOUT``) unless it carries the comment
  ``# doc-test: skip-run`` or calls ``serve_forever()`` (a server that runs
  until stopped cannot be a test; it is compiled only).
* ``docs/architecture.md`` is what ``scripts/gen_architecture.py`` would write.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import pkgutil
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import aioweb
from scripts.gen_architecture import ARCHITECTURE_MD, update

from . import trace_cost

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((PROJECT_ROOT / "docs").rglob("*.md")) + [PROJECT_ROOT / "README.md"]
RUN_TIMEOUT = 20.0
SKIP_RUN = "# doc-test: skip-run"

# Names the pages use for objects of a known type (variables such as
# `transport`), and short names of classes inside the standard library.
ALIASES = {
    "sock": "socket.socket",
    "BaseEventLoop": "asyncio.base_events.BaseEventLoop",
    "BaseSelectorEventLoop": "asyncio.selector_events.BaseSelectorEventLoop",
    "Handle": "asyncio.events.Handle",
    "_SelectorSocketTransport": "asyncio.selector_events._SelectorSocketTransport",
    "StreamReader": "asyncio.StreamReader",
    "StreamWriter": "asyncio.StreamWriter",
    "transport": "asyncio.Transport",
    "loop": "asyncio.AbstractEventLoop",
    "task": "asyncio.Task",
    "future": "asyncio.Future",
    "coro": "collections.abc.Coroutine",
    "request": "aioweb.contract.Request",
    "response": "aioweb.contract.Response",
    "container": "aioweb.server.container.HttpToolsContainer",
    "connection": "aioweb.server.connection.HttpToolsConnection",
    "config": "aioweb.config.Config",
}
# Top-level modules a dotted name may start from (imported to check it).
IMPORTABLE = {"aioweb", "asyncio", "collections", "contextvars", "dataclasses", "functools",
              "gzip", "httptools", "itertools", "logging", "sample_server", "selectors",
              "signal", "socket", "sys", "time", "types", "typing", "uvloop", "zlib"}
FILE_SUFFIXES = (".py", ".md", ".toml", ".txt", ".json", ".go", ".sh", ".cfg", ".yml", ".yaml")
TOP_DIRS = ("aioweb/", "docs/", "tests/", "scripts/", "bench/")


# --- reading the pages ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced code block."""

    page: Path
    line: int  # of the opening fence
    language: str
    text: str

    @property
    def where(self) -> str:
        """``page:line``, for messages and test ids."""
        return f"{self.page.relative_to(PROJECT_ROOT)}:{self.line}"


@dataclasses.dataclass(frozen=True)
class Span:
    """A backticked span or a link in the prose (outside code blocks)."""

    page: Path
    line: int
    text: str
    target: str | None = None  # a link's target; None for a plain code span

    @property
    def where(self) -> str:
        """``page:line``."""
        return f"{self.page.relative_to(PROJECT_ROOT)}:{self.line}"


_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^()\s]+)\)")


@cache
def parse(page: Path) -> tuple[list[Block], list[Span]]:
    """The page's code blocks, and the code spans and links of its prose."""
    blocks: list[Block] = []
    spans: list[Span] = []
    fence: str | None = None
    start, language = 0, ""
    body: list[str] = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence, start, language, body = match.group(1), number, match.group(2), []
                continue
            for link in _LINK.finditer(line):
                spans.append(Span(page, number, link.group(1), link.group(2)))
            for span in _CODE_SPAN.finditer(_LINK.sub(r"\1", line)):
                spans.append(Span(page, number, span.group(1)))
        elif match and match.group(1).startswith(fence) and not match.group(2):
            blocks.append(Block(page, start, language.lower(), "\n".join(body) + "\n"))
            fence = None
        else:
            body.append(line)
    assert fence is None, f"{page}: unclosed code block from line {start}"
    return blocks, spans


def all_blocks(language: str | None = None) -> list[Block]:
    """Every code block of every page (of one language if given)."""
    return [b for page in PAGES for b in parse(page)[0] if language in (None, b.language)]


def all_spans() -> list[Span]:
    """Every code span and link of every page."""
    return [s for page in PAGES for s in parse(page)[1]]


# --- file paths ----------------------------------------------------------------

def _looks_like_path(text: str) -> bool:
    if not re.fullmatch(r"[\w.*/-]+", text) or text.startswith(("/", ".")):
        return False
    return text.endswith(FILE_SUFFIXES) or (text.endswith("/") and text.startswith(TOP_DIRS))


@cache
def _all_files() -> frozenset[str]:
    """Every file of the project, as a path relative to its root."""
    skip = {".venv", ".git", ".mypy_cache", ".pytest_cache", ".hypothesis", "__pycache__"}
    return frozenset(p.relative_to(PROJECT_ROOT).as_posix() for p in PROJECT_ROOT.rglob("*")
                     if p.is_file() and not skip & set(p.relative_to(PROJECT_ROOT).parts))


def _path_exists(text: str) -> bool:
    """From the project root; or, for a file, as the end of a path in the project
    (``errors.py``, ``asgi/handler.py``: a page may leave out what its context says)."""
    if "*" in text:
        return any(PROJECT_ROOT.glob(text))
    if (PROJECT_ROOT / text).exists():
        return True
    return not text.endswith("/") and any(f.endswith("/" + text) for f in _all_files())


def test_backticked_paths_exist() -> None:
    """Every `path/to/file.py` (or bare `file.py`) in the prose names an existing file."""
    missing = [f"{s.where}: {s.text}" for s in all_spans()
               if s.target is None and _looks_like_path(s.text) and not _path_exists(s.text)]
    assert not missing, missing


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: links unwrapped, punctuation dropped, spaces to -."""
    text = _LINK.sub(r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of a page's headings (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    inside = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            inside = not inside
        elif not inside and (heading := re.match(r"#{1,6} (.*)", line)):
            slug = _slug(heading.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


def test_links_lead_somewhere() -> None:
    """Every relative link's target exists, relative to its page, and so does its #anchor."""
    missing = []
    for span in all_spans():
        if span.target is None or re.match(r"[a-z]+:", span.target):
            continue
        path, _, fragment = span.target.partition("#")
        target = span.page.parent / path if path else span.page
        if not target.exists():
            missing.append(f"{span.where}: {span.target}")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            missing.append(f"{span.where}: no heading for #{fragment} in {target.name}")
    assert not missing, missing


# --- names defined in a file (by ast) ------------------------------------------

def _defined(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """Names a module or class body defines: defs, classes, assignments."""
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _self_attributes(cls: ast.ClassDef) -> set[str]:
    """Attributes the methods of a class assign on ``self``."""
    found = set()
    for node in ast.walk(cls):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for part in ast.walk(target):
                if (isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name)
                        and part.value.id == "self"):
                    found.add(part.attr)
    return found


def defined_in_file(path: Path, dotted: str) -> bool:
    """Whether ``dotted`` (``name``, ``Class.method``, ``Class.attribute``) is defined in a file.

    An attribute counts as defined in a class when the class body assigns it
    or one of its methods assigns ``self.<attribute>``.
    """
    *outer, last = dotted.split(".")
    scope = _defined(ast.parse(path.read_text(encoding="utf-8")).body)
    cls: ast.ClassDef | None = None
    for part in outer:
        node = scope.get(part)
        if not isinstance(node, ast.ClassDef):
            return False
        cls, scope = node, _defined(node.body)
    return last in scope or (cls is not None and last in _self_attributes(cls))


_NAME = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?")


def test_linked_names_are_defined_in_their_files() -> None:
    """[`Class.method`](path/to/file.py): the file defines Class.method."""
    wrong = []
    for span in all_spans():
        if span.target is None or not span.target.split("#")[0].endswith(".py"):
            continue
        label = _CODE_SPAN.fullmatch(span.text)
        name = _NAME.fullmatch(label.group(1)) if label else None
        if name is None or name.group(1).endswith(FILE_SUFFIXES):
            continue  # not a name, or a file name (checked as a path)
        path = span.page.parent / span.target.split("#")[0]
        if path.exists() and not defined_in_file(path, name.group(1)):
            wrong.append(f"{span.where}: {name.group(1)} is not defined in {span.target}")
    assert not wrong, wrong


# --- dotted names (by import) -------------------------------------------------

@cache
def _aioweb_names() -> dict[str, list[Any]]:
    """Every name defined at the top of an aioweb module -> the objects it names."""
    index: dict[str, list[Any]] = {}
    for info in pkgutil.walk_packages(aioweb.__path__, "aioweb."):
        if info.name.endswith("__main__"):
            continue  # importing it would run the program
        module = importlib.import_module(info.name)
        source = inspect.getsourcefile(module)
        if source is None and module.__file__:  # compiled (docs/compiled.md): the .py is beside
            source = str(Path(module.__file__).with_name(info.name.rpartition(".")[2] + ".py"))
        if source is None:
            continue
        for name in _defined(ast.parse(Path(source).read_text(encoding="utf-8")).body):
            if hasattr(module, name):
                index.setdefault(name, []).append(getattr(module, name))
    return index


def _import_longest(parts: list[str]) -> tuple[Any, list[str]] | None:
    for cut in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:cut])), parts[cut:]
        except ImportError:
            continue
    return None


def _has(obj: Any, attribute: str) -> bool:
    if hasattr(obj, attribute):
        return True
    if inspect.isclass(obj):  # an attribute set in __init__, say
        for klass in obj.__mro__:
            try:
                source = inspect.getsourcefile(klass)
            except TypeError:
                continue
            if source and defined_in_file(Path(source), f"{klass.__name__}.{attribute}"):
                return True
    return False


def _resolves(start: Any, rest: list[str]) -> bool:
    obj = start
    for index, attribute in enumerate(rest):
        if not _has(obj, attribute):
            return False
        if index < len(rest) - 1:
            obj = getattr(obj, attribute, None)
            if obj is None:
                return False
    return True


def resolve(dotted: str) -> bool | None:
    """True/False whether ``dotted`` exists; None when it starts from an unknown name."""
    parts = dotted.split(".")
    root = parts[0]
    if root in ALIASES:
        return resolve(".".join([ALIASES[root], *parts[1:]]))
    if root in IMPORTABLE:
        if "__main__" in parts:  # importing it would run the program: look, don't import
            return importlib.util.find_spec(".".join(parts[:parts.index("__main__") + 1])) \
                is not None and parts[-1] == "__main__"
        found = _import_longest(parts)
        return found is not None and _resolves(*found)
    candidates = _aioweb_names().get(root)
    if candidates is None:
        return None
    return any(_resolves(obj, parts[1:]) for obj in candidates)


@cache
def _logger_names() -> frozenset[str]:
    """The names passed to ``logging.getLogger`` in aioweb: `aioweb.trace` is one, not a module."""
    names = set()
    for path in (PROJECT_ROOT / "aioweb").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "getLogger" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                names.add(str(node.args[0].value))
    return frozenset(names)


def test_dotted_names_resolve() -> None:
    """`module.Symbol`, `Class.method`, `transport.write`: each exists (or is a logger's name)."""
    wrong = []
    for span in all_spans():
        if span.target is not None or _looks_like_path(span.text):
            continue
        name = _NAME.fullmatch(span.text)
        if name is None or "." not in name.group(1) or name.group(1).endswith(FILE_SUFFIXES):
            continue
        if resolve(name.group(1)) is False and name.group(1) not in _logger_names():
            wrong.append(f"{span.where}: {name.group(1)}")
    assert not wrong, wrong


def test_the_name_checker_can_fail() -> None:
    """The checks above are not vacuous."""
    assert resolve("HttpToolsConnection.data_received") is True
    assert resolve("HttpToolsConnection._waiting") is True  # set in __init__
    assert resolve("transport.pause_reading") is True
    assert resolve("HttpToolsConnection.no_such_method") is False
    assert resolve("asyncio.no_such_thing") is False
    assert resolve("self._debug") is None
    connection_py = PROJECT_ROOT / "aioweb" / "server" / "connection.py"
    assert defined_in_file(connection_py, "HttpToolsConnection.data_received")
    assert defined_in_file(connection_py, "HttpToolsConnection.phase")
    assert not defined_in_file(connection_py, "HttpToolsConnection.nothing")


# --- trace lines --------------------------------------------------------------

def _step_formats() -> list[re.Pattern[str]]:
    """The connection's trace lines, as regular expressions."""
    patterns = []
    nodes = [node for name in trace_cost.TRACED_MODULES
             for node in ast.walk(ast.parse((PROJECT_ROOT / "aioweb" / "server" / name)
                                            .read_text(encoding="utf-8")))]
    for node in nodes:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "_step" and node.args):
            continue
        message = node.args[0]
        if isinstance(message, ast.Constant) and isinstance(message.value, str):
            body = re.sub(r"%[srd]", ".*", re.escape(message.value))
            # Tracer.step (aioweb/server/trace.py) puts "conn <id>: " first.
            patterns.append(re.compile(rf"conn \d+: {body}"))
    return patterns


def test_quoted_trace_lines_are_ones_the_code_prints() -> None:
    """A quoted ``conn N: ...`` line matches one of HttpToolsConnection's _step formats."""
    formats = _step_formats()
    assert len(formats) > 5
    quoted = [(block, line) for block in all_blocks() for line in block.text.splitlines()
              if re.match(r"conn \d+: ", line)]
    assert quoted, "the pages quote no trace at all"
    stale = [f"{block.where}: {line}" for block, line in quoted
             if not any(f.fullmatch(line) for f in formats)]
    assert not stale, stale


# --- Python blocks ------------------------------------------------------------

PYTHON_BLOCKS = all_blocks("python")


def _runs(block: Block) -> bool:
    return SKIP_RUN not in block.text and "serve_forever(" not in block.text


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.where for b in PYTHON_BLOCKS])
def test_python_block_compiles(block: Block) -> None:
    """Every Python block is valid Python."""
    compile(block.text, block.where, "exec")


RUNNABLE = [b for b in PYTHON_BLOCKS if _runs(b)]


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.where for b in RUNNABLE])
def test_python_block_runs(block: Block) -> None:
    """Every Python block not marked skip-run runs to completion, without error."""
    completed = subprocess.run([sys.executable, "-c", block.text], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=RUN_TIMEOUT,
                               check=False)
    assert completed.returncode == 0, f"{block.where}:\n{completed.stderr}"


def test_some_blocks_run() -> None:
    """The runner is not vacuous: the walkthrough has blocks that run."""
    assert any(b.page.name == "walkthrough.md" for b in RUNNABLE)


# --- generated and measured parts ---------------------------------------------

def test_architecture_page_is_up_to_date() -> None:
    """docs/architecture.md is what scripts/gen_architecture.py writes from the code."""
    current = ARCHITECTURE_MD.read_text(encoding="utf-8")
    assert update(current) == current, (
        "docs/architecture.md is out of date: run python scripts/gen_architecture.py")


def test_trace_cost_script_still_measures() -> None:
    """tests/docs/trace_cost.py runs on today's code, and its guard stripper works."""
    assert trace_cost.run(50, debug=False) == trace_cost.run(50, debug=True) > 0
    source = (PROJECT_ROOT / "aioweb" / "server" / "connection.py").read_text(encoding="utf-8")
    stripped, count = trace_cost.strip_guards(source)
    assert count > 5
    assert not re.search(r"^\s*if self\._debug\b", stripped, re.MULTILINE)
    compile(stripped, "connection.py (stripped)", "exec")
    assert len(stripped.splitlines()) == len(source.splitlines())
