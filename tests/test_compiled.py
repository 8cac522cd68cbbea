"""The compiled copy (``make compiled``, docs/compiled.md) is what runs when it is asked for.

``make test`` runs the whole suite twice: on the package, then with
``AIOWEB_COMPILED=1`` on build/compiled. These tests make sure the second run
really tests compiled code, in the test process and in the servers the tests
start, rather than the readable package it would fall back to.
"""

from __future__ import annotations

import ast
import http.client
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.servers import COMPILED_STAMP, HOST, SERVERS, running_server
from scripts.build_compiled import COMPILED, DEFAULT_DESTINATION

ROOT = Path(__file__).resolve().parents[1]
compiled_only = pytest.mark.skipif(not os.environ.get("AIOWEB_COMPILED"),
                                   reason="the compiled run (make pytest-compiled) checks it")


def _module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_every_compiled_module_is_a_module_of_the_package() -> None:
    """The build's list names modules that exist (a renamed module would
    otherwise silently run uncompiled)."""
    for path in COMPILED:
        assert (ROOT / path).is_file(), path


def _awaits_while_unwinding(tree: ast.AST) -> list[int]:
    """Lines of awaits inside a ``finally`` or an ``except`` block."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for block in [node.finalbody, *(handler.body for handler in node.handlers)]:
                for statement in block:
                    lines += [inner.lineno for inner in ast.walk(statement)
                              if isinstance(inner, (ast.Await, ast.AsyncFor, ast.AsyncWith))]
    return lines


def test_no_compiled_coroutine_awaits_while_an_exception_unwinds() -> None:
    """The fifth habit in docs/compiled.md: a compiled coroutine that
    suspends in a ``finally`` or ``except`` block, while an exception passes
    through, leaves that exception set as the one being handled, for all the
    code the loop's thread runs after it (``sys.exc_info()``, and the
    ``__context__`` of every later raise). ``async with`` is compiled
    correctly, and is what these modules use instead."""
    found = {path: lines for path in COMPILED
             if (lines := _awaits_while_unwinding(ast.parse((ROOT / path).read_text())))}
    assert not found, found


def test_the_check_above_finds_what_it_looks_for() -> None:
    """The check sees an await in a finally, and an async with in an except."""
    source = (
        "async def f():\n"
        "    try:\n        pass\n    finally:\n        await g()\n"
        "    try:\n        pass\n    except E:\n        async with h():\n            pass\n")
    assert _awaits_while_unwinding(ast.parse(source)) == [5, 9]


@compiled_only
def test_the_tests_import_the_compiled_modules() -> None:
    """In the compiled run, each module of the hot path is an extension module."""
    for path in COMPILED:
        module = importlib.import_module(_module_name(path))
        assert module.__file__ is not None and module.__file__.endswith(".so"), module.__file__


@compiled_only
def test_the_servers_the_tests_start_import_them_too() -> None:
    """A server started as a subprocess (sample_server.py, ``python -m aioweb``)
    imports the compiled copy, not the package beside the script."""
    probe = "import aioweb.server.connection as c; print(c.__file__)"
    found = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                           text=True, check=True, timeout=30).stdout.strip()
    assert found.startswith(str(DEFAULT_DESTINATION)) and found.endswith(".so"), found


@pytest.mark.skipif(not (ROOT / COMPILED_STAMP).exists(), reason="make compiled builds the copy")
@pytest.mark.skipif(shutil.which("taskset") is None, reason="the bench pins servers with taskset")
@pytest.mark.parametrize("name", ["aioweb-compiled", "aioweb-asgi-compiled"])
def test_the_benchmark_runs_the_compiled_copy(name: str, tmp_path: Path) -> None:
    """The bench's compiled servers answer, and the process has the compiled
    connection module mapped (what /proc shows, not what it says of itself)."""
    with running_server(SERVERS[name], tmp_path) as (process, port):
        connection = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("POST", "/", body=b"echo me")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"echo me")
        finally:
            connection.close()
        maps = Path(f"/proc/{process.pid}/maps").read_text(encoding="utf-8")
    assert str(DEFAULT_DESTINATION / "aioweb" / "server" / "connection.cpython") in maps
