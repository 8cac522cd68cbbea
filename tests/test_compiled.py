"""The compiled copy (``make compiled``, docs/compiled.md) is what runs when it is asked for.

``make test`` runs the whole suite twice: on the package, then with
``AIOWEB_COMPILED=1`` on build/compiled. These tests make sure the second run
really tests compiled code, in the test process and in the servers the tests
start, rather than the readable package it would fall back to.
"""

from __future__ import annotations

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
