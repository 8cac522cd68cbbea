"""Fixtures of the docs' tests, independent of ``tests/conftest.py``.

* ``loop_name`` — ``"asyncio"`` or ``"uvloop"``: a test that takes it runs on both.
* ``run_server(handler, **config)`` — a :class:`support.ServerThread` on port 0.
  At teardown it is stopped gracefully, and the test fails if a connection
  outlived the stop or the event loop reported an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioweb import Config

from .support import LOOPS, ServerThread


@pytest.fixture(name="loop_name", params=LOOPS)
def fixture_loop_name(request: pytest.FixtureRequest) -> str:
    """The server's event loop: asyncio's own, or uvloop's."""
    name: str = request.param
    if name == "uvloop":
        pytest.importorskip("uvloop")
    return name


@pytest.fixture(name="run_server")
def fixture_run_server(loop_name: str) -> Iterator[Callable[..., ServerThread]]:
    """``run_server(handler, **config_fields)`` → a started server on 127.0.0.1, port 0."""
    servers: list[ServerThread] = []

    def start(handler: Any, **fields: Any) -> ServerThread:
        fields.setdefault("graceful_shutdown_timeout", 1.0)
        server = ServerThread(handler, loop_name, Config(port=0, **fields))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        assert server.container.connection_count == 0, "a connection outlived stop()"
        assert not server.errors, f"the event loop reported errors: {server.errors}"
