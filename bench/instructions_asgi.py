"""What an ASGI request costs, in CPU instructions (not seconds).

    python -m bench.instructions_asgi                 # every stage, under valgrind
    python -m bench.instructions_asgi --stages asgi-raw,asgi-fastapi

The method of ``bench/instructions.py``: each stage feeds N identical GETs to
one connection through a fake transport (no sockets, no kernel) and runs under
``valgrind --tool=callgrind`` for two values of N. The difference in
instructions, divided by the difference in N, is one request's cost with
start-up (imports, app construction) subtracted. ``PYTHONHASHSEED`` is fixed
and no ``.pyc`` is written (else the first run would pay for compiling what
the second reads back), so two runs of a stage differ only in N.

An ASGI request runs in a Task (``AsgiHandler.runs_eagerly`` is False), so the
driver here is a coroutine on a real event loop (uvloop, as the CLI picks by
default): it hands a request to the connection from a loop callback (as a
socket's bytes would come, with no Task current), waits for the response's
write, and gives the loop a turn (a handler Task ends after its write) before
the next request. Every stage pays the same driver overhead (a callback, a future, two
loop turns), so compare stages with each other, not with bench/instructions.py.

The stages (``GET /`` unless said otherwise):

- ``native-hello``: a native ``async def`` handler returning ``b"hello"``
- ``asgi-raw``: ``examples/asgi_hello.py``'s raw ASGI app through AsgiHandler
- ``asgi-raw-eager``: the same, with ``AsgiHandler(app, eager=True)`` (no Task)
- ``asgi-echo``: ``bench/asgi_echo.py`` (what ``make bench`` serves): it reads
  the (empty) body with ``receive()`` before answering
- ``asgi-fastapi``: the same hello in FastAPI, through AsgiHandler
- ``router-hop``, ``router-lazy``, ``router-two-tasks``: the raw app as a
  Router's fallback, reached by the ways docs/asgi.md ("Eagerness") compares
- ``router-native``, ``router-lazy-native``: ``GET /native``, a native route
  of the same Routers
- ``floor``, ``floor-asgi``: ``bench/floor_server.py``'s protocols, the least
  work per request that the echo's answer needs (native, and ASGI with a Task
  per request): what is left of a stage's cost once aioweb's promises and
  structure are taken away
- ``uvicorn-raw``, ``uvicorn-echo``, ``uvicorn-fastapi``: the peer, for scale:
  uvicorn's own httptools protocol serving ``asgi-raw``'s, ``asgi-echo``'s and
  ``asgi-fastapi``'s apps, fed and drained the same way (no access log, as
  ``make bench`` runs it)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from bench.instructions import measure_stages

STAGES = ("native-hello", "asgi-raw", "asgi-raw-eager", "asgi-echo", "asgi-fastapi",
          "router-hop", "router-lazy", "router-two-tasks", "router-native", "router-lazy-native",
          "floor", "floor-asgi", "uvicorn-raw", "uvicorn-echo", "uvicorn-fastapi")
# (small N, large N) per stage: FastAPI costs a few times more per request.
COUNTS = {stage: (500, 2_500) if stage.endswith("fastapi") else (2_000, 12_000)
          for stage in STAGES}


def request_for(stage: str) -> bytes:
    """The GET a stage is fed, the same as bench/instructions.py's but for the path."""
    path = b"/native" if stage.endswith("-native") else b"/"
    return b"GET %s HTTP/1.1\r\nHost: localhost:8888\r\nUser-Agent: wrk\r\n\r\n" % path


class _FakeTransport:
    """Just enough of a transport: writes go nowhere, and wake whoever waits for one."""

    def __init__(self) -> None:
        self.writes = 0
        self.waiter: asyncio.Future[None] | None = None

    def write(self, _data: bytes) -> None:
        """Count the write; a response was (at least partly) written."""
        self.writes += 1
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_extra_info(self, _name: str, default: Any = None) -> Any:
        """No socket behind it."""
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """No buffer."""

    def is_closing(self) -> bool:
        """Never: see close()."""
        return False

    def pause_reading(self) -> None:
        """Never paused: requests are fed one at a time."""

    def resume_reading(self) -> None:
        """See pause_reading."""

    def close(self) -> None:
        """A stage whose connection closes is broken: say so."""
        raise RuntimeError("the connection was closed")


async def _native_hello(_request: Any) -> bytes:
    return b"hello"


def _handler(stage: str) -> Any:
    # pylint: disable=import-outside-toplevel
    from aioweb.asgi import AsgiHandler
    from bench import asgi_echo
    from examples import asgi_hello

    handlers: dict[str, Callable[[], Any]] = {
        "native-hello": lambda: _native_hello,
        "asgi-raw": lambda: AsgiHandler(asgi_hello.app),
        "asgi-raw-eager": lambda: AsgiHandler(asgi_hello.app, eager=True),
        "asgi-echo": lambda: AsgiHandler(asgi_echo.app),
        "asgi-fastapi": lambda: AsgiHandler(asgi_hello.fastapi_app),
        "router-hop": lambda: asgi_hello.routed_hop,
        "router-lazy": lambda: asgi_hello.routed_lazy,
        "router-two-tasks": lambda: asgi_hello.routed_two_tasks,
        "router-native": lambda: asgi_hello.routed_hop,
        "router-lazy-native": lambda: asgi_hello.routed_lazy,
    }
    return handlers[stage]()


def _connection(stage: str, loop: asyncio.AbstractEventLoop) -> asyncio.Protocol:
    """The server side of one connection: aioweb's, the floor's, or uvicorn's."""
    # pylint: disable=import-outside-toplevel
    if stage.startswith("floor"):
        from bench import floor_server
        return floor_server.AsgiFloorProtocol() if stage == "floor-asgi" else \
            floor_server.FloorProtocol()
    if stage.startswith("uvicorn-"):
        import uvicorn
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        from uvicorn.server import ServerState as UvicornState

        app = {"uvicorn-raw": "examples.asgi_hello:app", "uvicorn-echo": "bench.asgi_echo:app",
               "uvicorn-fastapi": "examples.asgi_hello:fastapi_app"}[stage]
        config = uvicorn.Config(app, http="httptools", lifespan="off", access_log=False,
                                log_level="warning")
        return HttpToolsProtocol(config, UvicornState(), {}, loop)
    from aioweb import Config
    from aioweb.server.connection import HttpToolsConnection
    from aioweb.server.container import ServerState

    return HttpToolsConnection(ServerState(Config(gzip=False), _handler(stage), loop))


async def _drive(stage: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    connection = _connection(stage, loop)
    transport = _FakeTransport()
    connection.connection_made(cast(asyncio.Transport, transport))
    request = request_for(stage)
    for _ in range(count):
        waiter = transport.waiter = loop.create_future()
        # From a loop callback, as a socket's bytes arrive: no Task is current
        # there (called from this coroutine, the handler would run on its Task).
        loop.call_soon(connection.data_received, request)
        await waiter  # the response's write
        await asyncio.sleep(0)  # let a handler Task that wrote its response finish
    if transport.writes < count:
        raise RuntimeError(f"{count} requests, {transport.writes} responses")


def _run_stage(stage: str, count: int) -> None:
    import uvloop  # pylint: disable=import-outside-toplevel
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(_drive(stage, count))
    finally:
        loop.close()


def main() -> int:
    """Print instructions per request for each stage."""
    return measure_stages((__doc__ or "").split("\n\n", 1)[0], COUNTS, _run_stage,
                          "bench.instructions_asgi")


if __name__ == "__main__":
    raise SystemExit(main())
