"""The client side shared by the hostile scripts and ``tests/hostile``.

* :class:`ResponseParser` — a strict, incremental HTTP/1.1 response parser.
  It is the judge of "a complete, valid response": a status line, token
  header names, values without CR/LF/NUL, exactly one framing (Content-Length,
  chunked, or until close), and a body that ends where its framing says.
  The tests' blocking client (``RawClient`` in ``tests/conftest.py``) reads
  through it too, so every response a wire test sees has passed it.
* :func:`connect`, :func:`reset`, :func:`receive` — blocking sockets with
  deadlines, so nothing here can wait forever.
* :class:`ServerProcess` — a server script in a subprocess, with the figures
  read from ``/proc`` (RSS, open file descriptors) and its exit status.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

LOCALHOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The largest response head the parser accepts; the server's are ~150 bytes.
MAX_RESPONSE_HEAD = 64 * 1024

_STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) ([1-5][0-9][0-9]) ([\t !-~\x80-\xff]*)")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\t !-~\x80-\xff]*")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(rb"[0-9]{1,18}")


class BadResponse(Exception):
    """The bytes from the server are not a valid HTTP/1.1 response stream."""


class CutOff(BadResponse):
    """The connection ended in the middle of a response."""


@dataclasses.dataclass
class Response:
    """One parsed response: header names lower-cased, body de-chunked."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    head: bytes = b""  # the status line and header lines exactly as received
    version: str = "HTTP/1.1"
    trailers: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # after chunks

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, in order."""
        return [value for key, value in self.headers if key == name.lower()]

    @property
    def closes(self) -> bool:
        """Whether the response says ``Connection: close``."""
        return any("close" in value.lower() for value in self.header_values("connection"))


class ResponseParser:
    """Bytes in, responses out; strict about every byte.

    ``feed(data)`` returns the responses ``data`` completed (interim 1xx
    ones included); ``feed_eof()`` ends a close-delimited body, or raises
    :class:`CutOff` when the stream ends inside a response. Call
    ``expect("HEAD")`` before sending a HEAD, so that its response is read
    without a body; ``expect("HEAD?")`` for a garbled HEAD the server may
    not have understood as one: an error response that closes the
    connection may then carry its body or not.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._methods: collections.deque[str] = collections.deque()
        self._state = "head"
        self._remaining = 0
        self._response: Response | None = None
        self._body = bytearray()
        self._done: list[Response] = []

    def expect(self, method: str) -> None:
        """Note the method of the next request sent (only HEAD matters)."""
        self._methods.append(method)

    @property
    def expecting(self) -> bool:
        """Whether a noted method still waits for its (final) response."""
        return bool(self._methods)

    @property
    def pending(self) -> bytes:
        """Bytes received and not parsed yet (one response at a time leaves some)."""
        return bytes(self._buffer)

    def add(self, data: bytes) -> None:
        """Buffer ``data`` without parsing it yet (see :meth:`next_response`)."""
        self._buffer += data

    def next_response(self) -> Response | None:
        """Parse what :meth:`add` buffered until one response (interim or
        final) is complete and return it, or None when more bytes are needed.
        Bytes past it stay unparsed, so a method noted later still applies to
        the responses after it (a blocking client knows the method only when
        it reads)."""
        while not self._done and self._advance():
            pass
        return self._done.pop(0) if self._done else None

    @property
    def mid_response(self) -> bool:
        """Whether part of a response has arrived but not all of it."""
        return self._state != "head" or bool(self._buffer)

    def feed(self, data: bytes) -> list[Response]:
        """Parse ``data``; return the responses it completed.

        On :class:`BadResponse`, the responses completed before the bad
        bytes are kept: :meth:`take` returns them.
        """
        self._buffer += data
        while self._advance():
            pass
        return self.take()

    def take(self) -> list[Response]:
        """The responses completed and not yet returned."""
        done, self._done = self._done, []
        return done

    def feed_eof(self) -> list[Response]:
        """The server closed: finish a close-delimited body, or complain."""
        if self._state == "close" or (self._state == "length-or-none" and not self._body):
            self._finish()
        elif self.mid_response:
            raise CutOff(f"closed in state {self._state!r} with {len(self._buffer)} bytes buffered")
        return self.take()

    # --- the state machine: each step returns False when it needs more bytes

    def _advance(self) -> bool:
        state = self._state
        if state == "head":
            return self._read_head()
        if state in ("length", "length-or-none", "chunk-data"):
            return self._read_counted()
        if state == "chunk-size":
            line = self._line()
            if line is None:
                return False
            size = line.split(b";", 1)[0]
            if _HEX.fullmatch(size) is None:
                raise BadResponse(f"bad chunk size line {line!r}")
            self._remaining = int(size, 16)
            self._state = "chunk-data" if self._remaining else "trailers"
            return True
        if state == "chunk-end":
            if len(self._buffer) < 2:
                return False
            if self._buffer[:2] != b"\r\n":
                raise BadResponse(f"chunk data followed by {bytes(self._buffer[:2])!r}")
            del self._buffer[:2]
            self._state = "chunk-size"
            return True
        if state == "trailers":
            line = self._line()
            if line is None:
                return False
            if not line:
                self._finish()
            else:
                assert self._response is not None
                self._response.trailers.append(_header(line))
            return True
        # "close": everything until the end of the stream is body.
        self._body += self._buffer
        self._buffer.clear()
        return False

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_RESPONSE_HEAD:
                raise BadResponse("line too long")
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 2]
        return line

    def _read_head(self) -> bool:
        if not self._buffer:
            return False
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_RESPONSE_HEAD:
                raise BadResponse("response head too long")
            start = bytes(self._buffer[:7])
            if start != b"HTTP/1."[:len(start)]:
                raise BadResponse(f"not a status line: {bytes(self._buffer[:40])!r}")
            return False
        head = bytes(self._buffer[:end + 2])
        del self._buffer[:end + 4]
        lines = head.split(b"\r\n")[:-1]
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise BadResponse(f"bad status line {lines[0]!r}")
        headers = [_header(line) for line in lines[1:]]
        response = self._response = Response(int(match[2]), match[3].decode("latin-1"),
                                             headers, head=head,
                                             version=match[1].decode("ascii"))
        self._body = bytearray()
        self._frame(response)
        return True

    def _frame(self, response: Response) -> None:
        status = response.status
        lengths = [value for name, value in response.headers if name == "content-length"]
        codings = [value for name, value in response.headers if name == "transfer-encoding"]
        if lengths and codings:
            raise BadResponse("both Content-Length and Transfer-Encoding")
        if len(lengths) > 1:
            raise BadResponse("several Content-Length headers")
        if status < 200:
            self._finish(interim=True)
            return
        method = self._methods.popleft() if self._methods else "GET"
        if method == "HEAD?" and not (status >= 400 and response.closes):
            method = "HEAD"
        if method == "HEAD" or status in (204, 304):
            self._finish()
        elif codings:
            if [c.strip().lower() for c in codings] != ["chunked"]:
                raise BadResponse(f"unexpected Transfer-Encoding {codings!r}")
            self._state = "chunk-size"
        elif lengths:
            if _DIGITS.fullmatch(lengths[0].encode("latin-1")) is None:
                raise BadResponse(f"bad Content-Length {lengths[0]!r}")
            self._remaining = int(lengths[0])
            if not self._remaining:
                self._finish()
            else:
                self._state = "length-or-none" if method == "HEAD?" else "length"
        else:
            self._state = "close"

    def _read_counted(self) -> bool:
        take = min(self._remaining, len(self._buffer))
        if not take:
            return False
        self._body += self._buffer[:take]
        del self._buffer[:take]
        self._remaining -= take
        if not self._remaining:
            if self._state == "chunk-data":
                self._state = "chunk-end"
            else:
                self._finish()
        return True

    def _finish(self, interim: bool = False) -> None:
        response = self._response
        assert response is not None
        if not interim:
            response.body = bytes(self._body)
        self._done.append(response)
        self._response = None
        self._state = "head"


def _header(line: bytes) -> tuple[str, str]:
    name, colon, value = line.partition(b":")
    if not colon or _TOKEN.fullmatch(name) is None:
        raise BadResponse(f"bad header line {line!r}")
    value = value.strip(b" \t")
    if _FIELD_VALUE.fullmatch(value) is None:
        raise BadResponse(f"bad header value {line!r}")
    return name.decode("latin-1").lower(), value.decode("latin-1")


# --- blocking sockets with deadlines ----------------------------------------

def connect(address: tuple[str, int], timeout: float = 5.0) -> socket.socket:
    """A connected TCP socket with TCP_NODELAY (tiny writes go out as they are)."""
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset: SO_LINGER on with a zero timeout, then close."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # already dead: closing is all that is left
    sock.close()


@dataclasses.dataclass
class Outcome:
    """What came back on one connection before a deadline."""

    responses: list[Response] = dataclasses.field(default_factory=list)
    closed: bool = False      # the server closed (FIN or reset)
    was_reset: bool = False   # ... with a reset
    timed_out: bool = False   # neither enough responses nor a close in time
    error: str | None = None  # bytes that are not a valid response stream
    received: int = 0         # bytes received in all

    @property
    def final(self) -> list[Response]:
        """The final (non-1xx) responses."""
        return [r for r in self.responses if r.status >= 200]


def receive(sock: socket.socket, parser: ResponseParser, *, responses: int = 1,
            timeout: float = 5.0, until_close: bool = False) -> Outcome:
    """Read until ``responses`` final responses (or the close, with ``until_close``).

    Never waits past ``timeout`` seconds in all; a reset counts as a close.
    """
    outcome = Outcome()
    deadline = time.monotonic() + timeout
    try:
        while until_close or len(outcome.final) < responses:
            left = deadline - time.monotonic()
            if left <= 0:
                outcome.timed_out = True
                break
            sock.settimeout(left)
            try:
                data = sock.recv(256 * 1024)
            except (TimeoutError, socket.timeout):
                outcome.timed_out = True
                break
            except (ConnectionResetError, BrokenPipeError):
                outcome.closed = outcome.was_reset = True
                outcome.responses += parser.feed_eof()
                break
            if not data:
                outcome.closed = True
                outcome.responses += parser.feed_eof()
                break
            outcome.received += len(data)
            outcome.responses += parser.feed(data)
    except BadResponse as exc:
        outcome.responses += parser.take()
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send all of ``data``; False if the server closed or reset first."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    except (TimeoutError, socket.timeout):
        return False
    return True


def get(address: tuple[str, int], path: str = "/", timeout: float = 5.0) -> Response:
    """One GET on a fresh connection (``Connection: close``); its response."""
    with connect(address, timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: hostile\r\nConnection: close\r\n\r\n"
                     .encode("ascii"))
        outcome = receive(sock, ResponseParser(), timeout=timeout)
    if outcome.error or not outcome.final:
        raise BadResponse(f"GET {path}: {outcome}")
    return outcome.final[0]


# --- the server's process, seen from outside ----------------------------

def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it is true (True) or ``timeout`` seconds pass (False):
    for state that has no event to wait on, such as a server's counters."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def rss_kib(pid: int) -> int:
    """Resident set size of a process, KiB (``VmRSS`` in ``/proc/PID/status``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def fd_count(pid: int) -> int:
    """How many file descriptors a process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_fd_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE's soft limit toward ``wanted`` (up to the hard limit).

    Child processes inherit it, so call this before starting a server.
    Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


_LISTENING = re.compile(r"http://([0-9.]+):([0-9]+)/")


class ServerProcess:
    """A server script in a subprocess: started, addressed, measured, signalled.

    The script must print ``... http://HOST:PORT/`` on its first line of
    stdout once it listens (``sample_server.py`` and ``hostile_server.py``
    do). stderr goes to a temporary file (a pipe nobody reads would block
    the server's logging under load); :meth:`log` returns it.
    """

    def __init__(self, argv: Sequence[str], start_timeout: float = 15.0) -> None:
        self.argv = [sys.executable, *argv]
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self.address = (LOCALHOST, 0)
        self.output = ""
        self._stderr: IO[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill()

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Start the script; return once it printed where it listens."""
        self._stderr = tempfile.TemporaryFile()  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            self.argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.start_timeout)
        line = self.process.stdout.readline() if ready else ""
        match = _LISTENING.search(line)
        if match is None:
            self.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.log()}")
        self.address = (match[1], int(match[2]))

    def rss_kib(self) -> int:
        """The server's resident memory, KiB."""
        return rss_kib(self.pid)

    def fd_count(self) -> int:
        """The server's open file descriptors."""
        return fd_count(self.pid)

    def stats(self) -> dict[str, int]:
        """``GET /stats`` (hostile_server.py only): its own view of itself."""
        response = get(self.address, "/stats")
        figures: dict[str, int] = json.loads(response.body)
        return figures

    def send_signal(self, sig: signal.Signals) -> None:
        """Send a signal to the server."""
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Wait for the exit; its status, or None if still running after ``timeout``."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        assert self.process.stdout is not None
        self.output += self.process.stdout.read()
        return code

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait; the exit status (None if it had to be killed)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.send_signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL if still running; always reap it and close its pipes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log(self) -> str:
        """What the server wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")


def hostile_server(loop: str = "uvloop", **settings: object) -> ServerProcess:
    """A :class:`ServerProcess` for ``scripts/hostile_server.py`` (not started).

    ``settings`` become ``Config`` fields (``keep_alive_timeout=60``, ...).
    """
    argv = [str(PROJECT_ROOT / "scripts" / "hostile_server.py"), "--loop", loop]
    for name, value in settings.items():
        argv += ["--set", f"{name}={value}"]
    return ServerProcess(argv)


def sample_server(loop: str = "uvloop") -> ServerProcess:
    """A :class:`ServerProcess` for the project's ``sample_server.py`` on a free port."""
    argv = [str(PROJECT_ROOT / "sample_server.py"), "--port", "0"]
    if loop == "uvloop":
        argv.append("--uvloop")
    return ServerProcess(argv)
