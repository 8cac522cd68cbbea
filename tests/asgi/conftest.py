"""Fixtures for the ASGI adapter's tests: real apps, real sockets, servers in threads.

* ``serve_asgi(app, **options)`` — an ASGI app behind :class:`AsgiHandler` on
  an :class:`HttpToolsContainer`, its lifespan run first; returns a
  :class:`Served` with ``url``. Options: ``lifespan``, ``root_path``,
  ``proxies``, ``access_log``, ``loop``, ``eager``, and any :class:`Config` field.
* ``serve_native(handler, **options)`` — the same for a native handler.
* ``serve_uvicorn(app)`` — the app on uvicorn (httptools, uvloop), for the
  differential tests.
* ``raw_exchange(url, data)`` — send bytes, read until the server closes (or a
  timeout), return what came back: for the framing checks httpx hides.

Each server runs on its own event loop in a daemon thread; teardown stops it
gracefully and fails the test if its loop reported an error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from loop_thread import LoopThread

from aioweb import Config, HttpToolsContainer
from aioweb.asgi import AsgiHandler, Lifespan, TrustedProxies
from aioweb.asgi.access_log import AccessLog
from aioweb.asgi.spec import AsgiApp
from aioweb.contract import Handler, HandlerFunction

TIMEOUT = 5.0


@dataclasses.dataclass
class Served:
    """A running server: where it listens, and how to reach its loop."""

    url: str
    host: str
    port: int
    loop: asyncio.AbstractEventLoop
    handler: Handler | HandlerFunction
    lifespan: Lifespan | None = None


class ServerThread(LoopThread):
    """A container (and an optional lifespan) on its own loop in a thread."""

    def __init__(self, handler: Handler | HandlerFunction, config: Config,
                 lifespan: Lifespan | None, loop_kind: str) -> None:
        super().__init__(loop_kind, f"asgi-{loop_kind}", TIMEOUT)
        self.container = HttpToolsContainer(handler, config)
        self.lifespan = lifespan
        self.handler = handler

    async def starting(self) -> None:
        if self.lifespan is not None:
            await self.lifespan.startup()
        await self.container.start()

    def start(self) -> Served:
        """Start; return once listening."""
        self.start_thread()
        host, port = self.container.address
        return Served(f"http://{host}:{port}", host, port, self.loop, self.handler, self.lifespan)

    async def _stop(self) -> None:
        await self.container.stop()
        if self.lifespan is not None:
            await self.lifespan.shutdown(TIMEOUT)

    def stop(self) -> list[str]:
        """Stop gracefully; return what the loop reported."""
        if self.started:
            self.run(self._stop(), TIMEOUT * 2)
            self.end_thread()
        return self.loop_errors


def _config(options: dict[str, Any], gzip: bool = True) -> Config:
    options.setdefault("graceful_shutdown_timeout", 1.0)
    options.setdefault("gzip", gzip)
    return Config(port=0, **options)


@pytest.fixture
def serve_asgi() -> Iterator[Callable[..., Served]]:
    """``serve_asgi(app, lifespan="auto", root_path="", proxies=None, access_log=False,
    loop="uvloop", eager=False, **config)``."""
    threads: list[ServerThread] = []

    def start(app: AsgiApp, *, lifespan: str = "auto", root_path: str = "",
              proxies: str | None = None, access_log: bool = False, loop: str = "uvloop",
              eager: bool = False, **config: Any) -> Served:
        asgi = AsgiHandler(app, root_path,
                           proxies=None if proxies is None else TrustedProxies(proxies),
                           eager=eager)
        handler: Handler = AccessLog(asgi) if access_log else asgi
        runner = Lifespan(app, lifespan, asgi.state)  # type: ignore[arg-type]
        # gzip off, as the CLI does for ASGI apps: the app decides its encoding.
        thread = ServerThread(handler, _config(config, gzip=False), runner, loop)
        threads.append(thread)
        return thread.start()

    yield start
    problems = [error for thread in threads for error in thread.stop()]
    assert not problems, problems


@pytest.fixture
def serve_native() -> Iterator[Callable[..., Served]]:
    """``serve_native(handler, loop="uvloop", **config)``."""
    threads: list[ServerThread] = []

    def start(handler: Handler | HandlerFunction, *, loop: str = "uvloop",
              **config: Any) -> Served:
        thread = ServerThread(handler, _config(config), None, loop)
        threads.append(thread)
        return thread.start()

    yield start
    problems = [error for thread in threads for error in thread.stop()]
    assert not problems, problems


class _UvicornThread(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """Signals belong to the main thread (pytest's)."""


@pytest.fixture
def serve_uvicorn() -> Iterator[Callable[[AsgiApp], str]]:
    """``serve_uvicorn(app)`` → the base URL of uvicorn serving ``app``."""
    running: list[tuple[_UvicornThread, threading.Thread]] = []

    def start(app: AsgiApp) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning",
                                access_log=False, lifespan="auto")
        server = _UvicornThread(config)
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                                  daemon=True)
        thread.start()
        running.append((server, thread))
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(TIMEOUT)


def raw_exchange(served: Served, data: bytes, timeout: float = 2.0) -> tuple[bytes, bool]:
    """Send ``data``; read until the server closes or ``timeout`` passes quietly.

    Returns the bytes read and whether the server closed the connection.
    """
    with socket.create_connection((served.host, served.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        sock.settimeout(timeout)
        received = bytearray()
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return bytes(received), False
        except ConnectionResetError:
            pass
        return bytes(received), True


@pytest.fixture(name="raw_exchange")
def raw_exchange_fixture() -> Callable[..., tuple[bytes, bool]]:
    """The :func:`raw_exchange` helper."""
    return raw_exchange



def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``condition`` (for what the server thread does after answering); its last value."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()
