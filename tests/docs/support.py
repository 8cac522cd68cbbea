"""A real server on port 0 in a thread, and a blocking HTTP/1.1 client, for the docs' tests.

The server runs on its own event loop (asyncio's or uvloop's) in a background
thread; the test talks to it from the main thread over real sockets whose
timeouts turn a hang into a failure. Anything a test must do on the server's
loop (fill an ``asyncio.Queue``, set an ``asyncio.Event``) goes through
:meth:`ServerThread.call`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from aioweb import Config, HttpToolsContainer
from aioweb.contract import Handler, HandlerFunction

LOOPS = ("asyncio", "uvloop")
SOCKET_TIMEOUT = 5.0
T = TypeVar("T")


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the named kind."""
    if name == "uvloop":
        import uvloop  # pylint: disable=import-outside-toplevel
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class ServerThread:
    """An :class:`HttpToolsContainer` serving in a background thread until :meth:`stop`."""

    def __init__(self, handler: Handler | HandlerFunction, loop_name: str,
                 config: Config) -> None:
        self.loop = new_loop(loop_name)
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        self.container = HttpToolsContainer(handler, config)
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="docs-server", daemon=True)
        self._thread.start()
        if not self._started.wait(SOCKET_TIMEOUT):
            raise RuntimeError("the server did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.container.start())
        self._started.set()
        self.loop.run_until_complete(self.container.serve_forever())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens."""
        return self.container.address

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the server's loop and return its result."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(function(*args))
            except Exception as exc:  # pylint: disable=broad-exception-caught
                done.set_exception(exc)
        self.loop.call_soon_threadsafe(run)
        return done.result(SOCKET_TIMEOUT)

    def stop(self) -> None:
        """Stop gracefully and wait for the thread; idempotent."""
        if self._thread.is_alive():
            stopping = asyncio.run_coroutine_threadsafe(self.container.stop(), self.loop)
            stopping.result(SOCKET_TIMEOUT * 2)
            self._thread.join(SOCKET_TIMEOUT)


# --- the client side ------------------------------------------------------

@dataclasses.dataclass
class Reply:
    """One response as read off the wire; header names lower-cased."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Client:
    """A blocking connection to the server, reading responses one at a time."""

    def __init__(self, address: tuple[str, int], send_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if send_buffer is not None:  # set before connecting, so the kernel keeps it small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self.sock.settimeout(SOCKET_TIMEOUT)
        self.sock.connect(address)
        self.stream: BinaryIO = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        """Send bytes."""
        self.sock.sendall(data)

    def get(self, path: str, headers: str = "") -> Reply:
        """Send a GET and read its whole response."""
        self.send(f"GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode())
        return self.read_response()

    def read_head(self) -> Reply:
        """Read a status line and headers (the body is left unread)."""
        status_line = self.stream.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        headers = []
        while (line := self.stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return Reply(status, headers)

    def read_chunk(self) -> bytes:
        """Read one chunk of a chunked body (b"" for the last one, trailers skipped)."""
        size = int(self.stream.readline().split(b";")[0], 16)
        if size == 0:
            while self.stream.readline() not in (b"\r\n", b""):
                pass
            return b""
        data = self.stream.read(size)
        self.stream.readline()  # the CRLF after the data
        return data

    def read_response(self) -> Reply:
        """Read a whole response: Content-Length, chunked, or until close."""
        reply = self.read_head()
        length = reply.header("content-length")
        if reply.header("transfer-encoding") == "chunked":
            reply.body = b"".join(iter(self.read_chunk, b""))
        elif length is not None:
            reply.body = self.stream.read(int(length))
        elif reply.status >= 200 and reply.status not in (204, 304):
            reply.body = self.stream.read()
        return reply

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0): the server sees the client vanish at once."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.stream.close()
        self.sock.close()


def poll(condition: Callable[[], bool], timeout: float = SOCKET_TIMEOUT) -> bool:
    """Wait until ``condition()`` is true (for state with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
