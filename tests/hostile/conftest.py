"""Fixtures of the hostile tests, independent of ``tests/conftest.py``.

* ``loop_name`` — ``"asyncio"`` or ``"uvloop"``: tests that take it run on both.
* ``start_server(handler, **config)`` — an :class:`HttpToolsContainer` on port 0
  in a background thread (see ``support.ServerThread``). At teardown it is
  stopped, and the test fails if a connection outlived stop() or the event
  loop reported an error (a callback that raised, an exception never retrieved).
* ``counting_handler`` — a fresh :class:`support.CountingHandler`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aioweb import Config

from .support import LOOPS, CountingHandler, ServerThread


@pytest.fixture(params=LOOPS, name="loop_name")
def fixture_loop_name(request: pytest.FixtureRequest) -> str:
    """The server's event loop: asyncio's own, or uvloop's."""
    name: str = request.param
    if name == "uvloop":
        pytest.importorskip("uvloop")
    return name


@pytest.fixture
def start_server(loop_name: str) -> Iterator[Callable[..., ServerThread]]:
    """``start_server(handler, **config_fields)`` → a started ServerThread on port 0."""
    servers: list[ServerThread] = []

    def start(handler: Any, **fields: Any) -> ServerThread:
        fields.setdefault("graceful_shutdown_timeout", 1.0)
        server = ServerThread(handler, loop_name, Config(port=0, **fields))
        servers.append(server)
        return server.start()

    yield start
    problems = []
    for server in servers:
        problems += server.close()
    assert not problems, problems


@pytest.fixture
def counting_handler() -> CountingHandler:
    """A handler that counts the heads and the whole bodies that reached it."""
    return CountingHandler()
