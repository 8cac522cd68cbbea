"""Fixtures for aioweb's tests: a server in a thread, and a raw-socket client.

The server under test runs on its own event loop (asyncio's or uvloop's, per
the ``loop_kind`` parameter) in a background thread; a test talks to it from
the main thread with blocking sockets that have short timeouts, so a test that
goes wrong fails instead of hanging. Synchronisation between the two threads
goes through events (:class:`CrossThreadEvent`), never through sleeps.

Fixtures:

* ``loop_kind`` — ``"asyncio"`` or ``"uvloop"``: every wire test runs on both.
* ``serve(handler, **config)`` — starts an :class:`HttpToolsContainer` on port
  0 and returns a :class:`ServerThread`; at teardown the server is stopped
  gracefully and the test fails if a connection is left open or the event loop
  reported an error (a protocol callback that raised, say).
* ``connect(address)`` — a :class:`RawClient`, closed at teardown.
* ``make_event()`` — a :class:`CrossThreadEvent`.
* ``poll(condition)`` — for state that has no event to wait on (counters).
* ``certificate_authority`` — a trustme CA of the session's own, for clients
  to trust; ``tls_files`` — PEM files it issued for HTTPS on 127.0.0.1:
  ``cert``, ``key``, and ``ca`` (the CA's certificate).
* ``sample_server`` — the project's ``sample_server.py``, imported.
* ``project_root`` — the directory holding ``sample_server.py``.

The helper classes are reached through these fixtures, not imported, so that
no test module depends on which ``conftest`` module pytest imported last.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import socket
import ssl
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trustme
from scripts.build_compiled import DEFAULT_DESTINATION as COMPILED_COPY
from scripts.wire import CutOff, Response, ResponseParser, wait_until

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# AIOWEB_COMPILED=1 (make pytest-compiled) runs every test against the
# compiled copy that scripts/build_compiled.py makes: it has to come before the
# readable package on sys.path before anything imports aioweb, here and in the
# servers the tests start as subprocesses (PYTHONSAFEPATH keeps a script's
# own directory, the project root, from coming first; docs/compiled.md).
if os.environ.get("AIOWEB_COMPILED"):
    if "aioweb" in sys.modules or not (COMPILED_COPY / "aioweb").is_dir():
        raise RuntimeError(f"AIOWEB_COMPILED: build {COMPILED_COPY} first, "
                           "and import it before anything imports aioweb")
    sys.path.insert(0, str(COMPILED_COPY))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(COMPILED_COPY), str(PROJECT_ROOT)])
    os.environ["PYTHONSAFEPATH"] = "1"

# pylint: disable=wrong-import-position,wrong-import-order  # (after the compiled copy's set-up)
from loop_thread import LoopThread  # (it imports aioweb)

from aioweb import Config, HttpToolsContainer

# pylint: enable=wrong-import-position,wrong-import-order
LOOP_KINDS = ("asyncio", "uvloop")
# How long a client socket waits for the server before the test fails.
SOCKET_TIMEOUT = 5.0
# Default grace period of the servers under test: a test that leaves a
# handler hanging costs this much at teardown, not the production 10 s.
TEST_GRACE_PERIOD = 1.0


# --- the event loops ------------------------------------------------------

@pytest.fixture(name="loop_kind", params=LOOP_KINDS)
def fixture_loop_kind(request: pytest.FixtureRequest) -> str:
    """The event loop the server runs on: asyncio's own, or uvloop's."""
    kind: str = request.param
    if kind == "uvloop":
        pytest.importorskip("uvloop")
    return kind


# --- synchronisation between the test thread and the server's loop ------

class CrossThreadEvent:
    """A one-shot event that the test thread and the server's loop can both use.

    ``set()`` works from any thread; the test thread blocks in ``wait()``; a
    handler on the server's loop does ``await event.wait_async()``.
    """

    def __init__(self) -> None:
        self._future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def set(self) -> None:
        """Fire the event (again is harmless)."""
        try:
            self._future.set_result(None)
        except concurrent.futures.InvalidStateError:
            pass

    def is_set(self) -> bool:
        """Whether the event has fired."""
        return self._future.done()

    def wait(self, timeout: float = SOCKET_TIMEOUT) -> bool:
        """Block the calling thread until the event fires; False on timeout."""
        try:
            self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            return False
        return True

    async def wait_async(self) -> None:
        """Wait on the running event loop until the event fires."""
        await asyncio.wrap_future(self._future)


@pytest.fixture
def make_event() -> Callable[[], CrossThreadEvent]:
    """A factory of :class:`CrossThreadEvent`."""
    return CrossThreadEvent


# --- the server under test ------------------------------------------------

class ServerThread(LoopThread):
    """An :class:`HttpToolsContainer` serving on its own loop in a background thread."""

    def __init__(self, handler: Any, loop_kind: str, config: Config,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(loop_kind, f"aioweb-{loop_kind}", SOCKET_TIMEOUT)
        self.config = config
        self.container = HttpToolsContainer(handler, config, tls=tls)
        self._stopping: concurrent.futures.Future[int] | None = None

    async def starting(self) -> None:
        await self.container.start()

    def start(self) -> None:
        """Start the thread; return once the container listens."""
        self.start_thread()

    @property
    def address(self) -> tuple[str, int]:
        """Where the container listens."""
        return self.container.address

    @property
    def connection_count(self) -> int:
        """The container's open connections, read on its own loop."""
        count: int = self.call(lambda: self.container.connection_count)
        return count

    @property
    def requests_served(self) -> int:
        """The container's count of completed responses, read on its own loop."""
        served: int = self.call(lambda: self.container.requests_served)
        return served

    def begin_stop(self, grace_period: float | None = None) -> concurrent.futures.Future[int]:
        """Start ``container.stop()``; return once its first step has run.

        By then the listener is closed and every connection has been told to
        shut down (idle ones are closing). The future's result, when stop()
        returns, is the number of connections still open at that moment.
        """
        done: concurrent.futures.Future[int] = concurrent.futures.Future()

        async def stop_then_count() -> int:
            await self.container.stop(grace_period)
            return self.container.connection_count  # read in the step stop() returned in

        def copy_outcome(task: asyncio.Task[int]) -> None:
            if task.cancelled():
                done.cancel()
            elif (error := task.exception()) is not None:
                done.set_exception(error)
            else:
                done.set_result(task.result())

        async def first_steps() -> None:
            task = asyncio.ensure_future(stop_then_count())
            task.add_done_callback(copy_outcome)
            # Let the stop task take its first few steps (each sleep(0) lets
            # every ready callback run once): stop() tells the connections
            # without waiting on anything, so by then it has.
            for _ in range(5):
                await asyncio.sleep(0)

        self.run(first_steps())
        self._stopping = done
        return done

    def stop(self, grace_period: float | None = None) -> int:
        """Stop the container gracefully; return the connections left open after it."""
        grace = self.config.graceful_shutdown_timeout if grace_period is None else grace_period
        return self.begin_stop(grace_period).result(grace + SOCKET_TIMEOUT)

    def close(self) -> list[str]:
        """Teardown: stop gracefully, end the thread; return what went wrong."""
        if not self.started:
            return []
        problems = []
        try:
            if self._stopping is not None:  # a stop the test began: let it end first
                concurrent.futures.wait([self._stopping], TEST_GRACE_PERIOD + SOCKET_TIMEOUT)
            left_open = self.stop()
            if left_open:
                problems.append(f"{left_open} connection(s) still open after stop()")
        finally:
            self.end_thread()
        if self.loop_errors:
            problems.append("the event loop reported errors: " + "; ".join(self.loop_errors))
        return problems


@pytest.fixture
def serve(loop_kind: str) -> Iterator[Callable[..., ServerThread]]:
    """Start a container: ``serve(handler, tls=None, **config_overrides)`` → ServerThread.

    Port 0 always; ``graceful_shutdown_timeout`` defaults to 1 s; ``tls``, a
    server-side ``ssl.SSLContext``, makes it serve HTTPS. At teardown
    each server is stopped gracefully, and the test fails if a connection
    remained open after stop() or the loop reported an error.
    """
    servers: list[ServerThread] = []

    def start(handler: Any, tls: ssl.SSLContext | None = None, **overrides: Any) -> ServerThread:
        overrides.setdefault("graceful_shutdown_timeout", TEST_GRACE_PERIOD)
        server = ServerThread(handler, loop_kind, Config(port=0, **overrides), tls)
        servers.append(server)
        server.start()
        return server

    yield start
    problems = []
    for server in servers:
        problems += server.close()
    assert not problems, problems


# --- the raw-socket client --------------------------------------------------

class ServerClosed(EOFError):
    """The server closed the connection before a whole response arrived.

    An EOFError, so tests can catch it without importing this module.
    """


# The tests' name for a parsed response (scripts/wire.py's, with its version
# and the trailers of a chunked body).
RawResponse = Response


class RawClient:
    """A blocking socket with a response parser, for byte-exact wire tests.

    Responses are read with ``scripts/wire.py``'s strict parser, one at a
    time: any byte the server sends that is not valid HTTP/1.1 fails the
    test (BadResponse), whatever the test itself checks. Every read has a
    timeout, so a server that does not answer fails the test too.
    """

    def __init__(self, address: tuple[str, int], timeout: float = SOCKET_TIMEOUT,
                 receive_buffer: int | None = None, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connect, so the window starts small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        sock.connect(address)
        if tls is not None:  # a client-side context: TLS over the connection (the handshake here)
            sock = tls.wrap_socket(sock, server_hostname=address[0])
        self.sock = sock
        self.timeout = timeout
        self._parser = ResponseParser()
        self.eof = False

    # --- sending ----------------------------------------------------------

    def send(self, data: bytes, bytewise: bool = False) -> None:
        """Send ``data`` whole, or one byte per send call."""
        if not bytewise:
            self.sock.sendall(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])

    def send_until_blocked(self, chunk: bytes, limit: int, stall: float = 0.5) -> int:
        """Send ``chunk`` repeatedly until ``limit`` bytes went or a send stalls.

        Returns how many bytes the kernel accepted. A send that makes no
        progress for ``stall`` seconds means the server stopped reading.
        """
        self.sock.settimeout(stall)
        sent = 0
        view = memoryview(chunk)
        offset = 0
        try:
            while sent < limit:
                count = self.sock.send(view[offset:])
                sent += count
                offset = (offset + count) % len(chunk)
        except (TimeoutError, BlockingIOError):
            pass
        finally:
            self.sock.settimeout(self.timeout)
        return sent

    def shutdown_write(self) -> None:
        """Half-close: the server reads EOF, we can still read."""
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close the socket (a FIN; a reset if unread data is pending)."""
        self.sock.close()

    def reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    # --- receiving --------------------------------------------------------

    def _fill(self) -> bool:
        """Read more bytes into the parser's buffer; False at end of stream."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(256 * 1024)
        except (ConnectionResetError, ssl.SSLEOFError):  # (TLS: closed without close_notify)
            data = b""
        if not data:
            self.eof = True
            return False
        self._parser.add(data)
        return True

    def read_response(self, method: str = "GET") -> Response:
        """Read one whole response (a 1xx counts as one); ``method`` tells HEAD apart."""
        if not self._parser.expecting:  # else an interim response came before its final one
            self._parser.expect(method)
        while (response := self._parser.next_response()) is None:
            if not self._fill():
                try:
                    finished = self._parser.feed_eof()
                except CutOff as exc:
                    raise ServerClosed(f"closed in a response: {exc}") from exc
                if not finished:
                    raise ServerClosed("closed before a response")
                return finished[0]
        return response

    def read_responses(self, count: int, method: str = "GET") -> list[RawResponse]:
        """Read ``count`` whole responses."""
        return [self.read_response(method) for _ in range(count)]

    def read_final_response(self, method: str = "GET") -> tuple[list[RawResponse], RawResponse]:
        """Read interim (1xx) responses and the final one after them."""
        interim = []
        while (response := self.read_response(method)).status < 200:
            interim.append(response)
        return interim, response

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Whether the server closes the connection within ``timeout`` (data is kept)."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            while self._fill():
                pass
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        return True

    def silent_for(self, seconds: float) -> bool:
        """True if not a byte (nor a close) arrives for ``seconds``: a negative check."""
        if self._parser.pending or self.eof:
            return False
        self.sock.settimeout(seconds)
        try:
            self._fill()
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        return False

    @property
    def pending(self) -> bytes:
        """Bytes received but not parsed yet."""
        return self._parser.pending


@pytest.fixture
def connect() -> Iterator[Callable[..., RawClient]]:
    """``connect(address, timeout=..., receive_buffer=..., tls=...)`` → RawClient, closed
    at teardown (``tls``: a client-side ``ssl.SSLContext``, for HTTPS)."""
    clients: list[RawClient] = []

    def open_client(address: tuple[str, int], **options: Any) -> RawClient:
        client = RawClient(address, **options)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def wait_for(condition: Callable[[], bool], timeout: float = SOCKET_TIMEOUT,
             interval: float = 0.01) -> bool:
    """Poll ``condition`` until true or ``timeout``: for state with no event to wait on."""
    return wait_until(condition, timeout, interval)


@pytest.fixture
def poll() -> Callable[..., bool]:
    """``poll(condition, timeout)``: wait for state that has no event (counters)."""
    return wait_for


@pytest.fixture(name="certificate_authority", scope="session")
def fixture_certificate_authority() -> trustme.CA:
    """A certificate authority made for the session, trusted by nobody else."""
    return trustme.CA()


@pytest.fixture(name="tls_files", scope="session")
def fixture_tls_files(certificate_authority: trustme.CA,
                      tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEM files for HTTPS: ``cert`` and ``key`` for 127.0.0.1, issued by the
    session's certificate authority, whose certificate is ``ca``."""
    directory = tmp_path_factory.mktemp("tls")
    issued = certificate_authority.issue_cert("127.0.0.1", "localhost")
    files = {name: directory / f"{name}.pem" for name in ("cert", "key", "ca")}
    issued.cert_chain_pems[0].write_to_path(str(files["cert"]))
    issued.private_key_pem.write_to_path(str(files["key"]))
    certificate_authority.cert_pem.write_to_path(str(files["ca"]))
    return files


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The project's top directory (where sample_server.py lives)."""
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def sample_server() -> ModuleType:
    """``sample_server.py`` imported as a module (it is a script, not in a package)."""
    path = PROJECT_ROOT / "sample_server.py"
    spec = importlib.util.spec_from_file_location("sample_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
