"""The floor: the least a server can do per request and still do the job aioweb does.

    python -m bench.floor_server [--port 8888]          # native: an echo handler
    python -m bench.floor_server --asgi [--port 8888]   # bench/asgi_echo.py's app
    python -m bench.floor_server --asgi --app examples.asgi_hello:fastapi_app

The control server (``control_server.py``) is the ceiling: it answers without
looking at the request. This is the floor under aioweb instead: the same two
libraries doing the least work that the same answer needs. Per request it
parses the request line and every header through httptools' callbacks, keeps
the headers, checks Host, builds a request object, runs an ``async`` handler
(the sample server's echo) or, with ``--asgi``, builds an ASGI scope and runs
the app in a Task of its own, then writes head (with Date and Server) and body
in one write.

What it leaves out is everything else aioweb promises: limits, timeouts,
streamed bodies and back-pressure, Expect, gzip, error answers for a failing
handler, graceful shutdown. So no server with those can run faster than this
one, and the gap between the floor and aioweb is what those promises, and
aioweb's own structure, cost. It is not a server to use: bad input gets a bare
400 and a handler that waits for anything is not supported.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import time
from collections.abc import Coroutine
from email.utils import formatdate
from typing import Any, cast

import httptools
import uvloop

from bench.asgi_echo import app as echo_app
from bench.control_server import serve

BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
ASGI_VERSIONS = {"version": "3.0", "spec_version": "2.3"}

_date_block = [0, b""]  # the second it was made for, and "date: ...\r\nserver: ...\r\n"


def date_and_server() -> bytes:
    """The Date and Server lines, made again at most once a second."""
    now = int(time.time())
    if now != _date_block[0]:
        date = formatdate(now, usegmt=True).encode("ascii")
        _date_block[:] = [now, b"date: %s\r\nserver: floor\r\n" % date]
    return cast(bytes, _date_block[1])


class FloorRequest:
    """What a handler needs: the request line, the headers, the body."""

    __slots__ = ("method", "target", "headers", "keep_alive", "chunks")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]],
                 keep_alive: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.keep_alive = keep_alive
        self.chunks: list[bytes] = []

    async def body(self) -> bytes:
        """The whole body (it has arrived when the handler runs)."""
        return b"".join(self.chunks)


async def echo(request: FloorRequest) -> bytes:
    """The sample server's handler: the request's own body."""
    return await request.body()


def run_to_end(handler: Coroutine[Any, Any, bytes]) -> bytes:
    """Run a handler that never waits, in one step; what it returned."""
    try:
        handler.send(None)
    except StopIteration as finished:
        return cast(bytes, finished.value)
    raise RuntimeError("the floor runs only handlers that never wait")


class FloorProtocol(asyncio.Protocol):
    """One connection, native: parse, build the request, run the handler, write."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.hosts = 0
        self.request: FloorRequest | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        """httptools callback: the request target (assumed to come in one piece)."""
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools callback: one header, kept; Host counted."""
        self.headers.append((name, value))
        if len(name) == 4 and name.lower() == b"host":
            self.hosts += 1

    def on_headers_complete(self) -> None:
        """httptools callback: the head is complete: check Host, build the request."""
        parser = self.parser
        if self.hosts != 1:
            raise ValueError("one Host header is required")
        self.request = self.new_request(parser.get_method(), parser.should_keep_alive())
        self.headers = []
        self.hosts = 0

    def new_request(self, method: bytes, keep_alive: bool) -> Any:
        """The object the rest of the request is collected in."""
        return FloorRequest(method, self.url, self.headers, keep_alive)

    def on_body(self, data: bytes) -> None:
        """httptools callback: a piece of the body."""
        self.request.chunks.append(data)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        """httptools callback: run the handler to its end, write its answer."""
        request = self.request
        assert request is not None and self.transport is not None
        body = run_to_end(echo(request))
        self.transport.write(b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (
            date_and_server(), len(body), body))
        if not request.keep_alive:
            self.transport.close()


class AsgiCycle:
    """One ASGI request: its scope, its receive() and its send()."""

    __slots__ = ("transport", "scope", "chunks", "keep_alive", "body_given", "start")

    def __init__(self, transport: asyncio.Transport, scope: dict[str, Any],
                 keep_alive: bool) -> None:
        self.transport = transport
        self.scope = scope
        self.chunks: list[bytes] = []
        self.keep_alive = keep_alive
        self.body_given = False
        self.start: dict[str, Any] = {}

    async def receive(self) -> dict[str, Any]:
        """The whole body in one message, then nothing (the floor never says disconnect)."""
        if self.body_given:
            await asyncio.get_running_loop().create_future()  # waits forever
        self.body_given = True
        return {"type": "http.request", "body": b"".join(self.chunks), "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        """Hold the start; write it with the (single) body message."""
        if message["type"] == "http.response.start":
            self.start = message
            return
        lines = b"".join([b"%s: %s\r\n" % pair for pair in self.start.get("headers", ())])
        self.transport.write(b"HTTP/1.1 %d OK\r\n%s%s\r\n%s" % (
            self.start["status"], date_and_server(), lines, message.get("body", b"")))
        if not self.keep_alive:
            self.transport.close()


class AsgiFloorProtocol(FloorProtocol):
    """One connection, ASGI: the scope and the app's Task instead of the handler call."""

    app: Any = staticmethod(echo_app)  # what --app names, set before serving

    def __init__(self) -> None:
        super().__init__()
        self.peer: tuple[str, int] | None = None
        self.local: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.peer = transport.get_extra_info("peername")
        self.local = transport.get_extra_info("sockname")

    def new_request(self, method: bytes, keep_alive: bool) -> Any:
        assert self.transport is not None
        path, _, query = self.url.partition(b"?")
        scope = {"type": "http", "asgi": ASGI_VERSIONS, "http_version": "1.1",
                 "method": method.decode("ascii"), "scheme": "http",
                 "path": path.decode("utf-8"), "raw_path": path, "query_string": query,
                 "root_path": "",
                 "headers": [(name.lower(), value) for name, value in self.headers],
                 "client": self.peer, "server": self.local, "state": {}}
        return AsgiCycle(self.transport, scope, keep_alive)

    def on_message_complete(self) -> None:
        cycle = self.request
        assert isinstance(cycle, AsgiCycle)
        asyncio.get_running_loop().create_task(self.app(cycle.scope, cycle.receive, cycle.send))


def main() -> None:
    """Parse the flags and serve on uvloop; Ctrl-C or SIGTERM ends the process."""
    parser = argparse.ArgumentParser(description="the least work per request: the floor")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to bind (8888)")
    parser.add_argument("--asgi", action="store_true", help="serve an ASGI app")
    parser.add_argument("--app", default="bench.asgi_echo:app", metavar="MODULE:ATTR",
                        help="the ASGI app (bench.asgi_echo:app); one that needs no lifespan "
                             "and reads no body in a GET")
    args = parser.parse_args()
    module, _, attribute = args.app.partition(":")
    AsgiFloorProtocol.app = staticmethod(getattr(importlib.import_module(module), attribute))
    try:
        uvloop.run(serve(args.host, args.port, AsgiFloorProtocol if args.asgi else FloorProtocol,
                         f"floor server ({'ASGI' if args.asgi else 'native'})"))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
