"""The servers under test: the table of them, and how one is started and stopped.

``SERVERS`` names every server a session can run, in the order each round
runs them, with its role (SUBJECT, what we measure, or REFERENCE, what we
compare it with) and its command line.  ``running_server`` starts one pinned
to SERVER_CPU (``taskset -c 0``) on a free port of the loopback, waits until
it accepts connections and a GET answers 200, and always stops it afterwards
(SIGTERM to its process group, then SIGKILL if it does not go).
``unavailable_reason`` tells a server whose package is not installed, which
the session reports instead of starting.  ``serving`` makes, from one of the
ASGI servers, a server of the app and route it is given, for tables of
their own (examples/bench_asgi.py's scenarios).  Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import importlib.util
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_accounting import SERVER_CPU


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server.  In ``command``, ``{python}`` becomes this
    interpreter, ``{port}`` the port picked for the run and, in an ASGI
    server's, ``{app}`` the app it serves: ``DEFAULT_APP``, unless
    ``serving`` has written another one in (``--app``, the scenarios)."""

    role: str  # SUBJECT (what we measure) or REFERENCE (what we compare it with)
    command: tuple[str, ...]
    # A module that must be importable for the command to work (the server's
    # own package): without it the server is reported as unavailable, not run.
    requires: str = ""
    # A file the command needs, relative to the project root (the compiled
    # copy's stamp): without it the server is reported as unavailable.
    requires_file: str = ""
    # What the load generator asks for, and the start-up check's GET must
    # answer 200: "/" for every server here, a route of the app for some of
    # examples/bench_asgi.py's.
    path: str = "/"
    # The flags that make it serve HTTPS, {certfile} and {keyfile} to be filled
    # in (bench_core.py --tls, with_tls): none for the servers that cannot.
    tls_flags: tuple[str, ...] = ()
    scheme: str = "http"  # "https" once with_tls has put the flags in

    @property
    def serves_any_app(self) -> bool:
        """Whether the app it serves can be chosen (an ASGI server's can)."""
        return any("{app}" in part for part in self.command)


# aioweb's and uvicorn's TLS flags (granian names its certificate --ssl-certificate).
SSL_FLAGS = ("--ssl-certfile", "{certfile}", "--ssl-keyfile", "{keyfile}")

SUBJECT = "subject"
REFERENCE = "reference"
# What the ASGI servers serve unless told otherwise: the sample server's echo.
DEFAULT_APP = "bench.asgi_echo:app"
# Written by `make compiled` once build/compiled holds the compiled copy.
COMPILED_STAMP = "build/compiled/.built"
# What runs a command on that copy: PYTHONPATH puts it first, and
# PYTHONSAFEPATH keeps the script's directory (the readable package) out.
ON_COMPILED_COPY = ("env", "PYTHONSAFEPATH=1", "PYTHONPATH=build/compiled:.")

# The servers, in the order each round runs them.  Every one answers a GET
# with an empty 200 and keeps the connection alive.  The commands run from the
# project root, which is how ``sample_server.py`` and ``bench.asgi_echo:app``
# are found.  A new server is one more line; ratios are reported for every
# SUBJECT against every REFERENCE that was measured.
SERVERS: dict[str, ServerSpec] = {
    "aioweb": ServerSpec(SUBJECT, ("{python}", "sample_server.py", "--uvloop", "--port", "{port}")),
    # aioweb's command line serving the very ASGI app the peers run.
    "aioweb-asgi": ServerSpec(SUBJECT, (
        "{python}", "-m", "aioweb", "{app}", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning", "--port", "{port}"), requires="aioweb.cli",
        tls_flags=SSL_FLAGS),
    # The same, with --eager: no Task per request, which this raw app never needs.
    "aioweb-asgi-eager": ServerSpec(SUBJECT, (
        "{python}", "-m", "aioweb", "{app}", "--loop", "uvloop", "--eager",
        "--no-access-log", "--log-level", "warning", "--port", "{port}"), requires="aioweb.cli",
        tls_flags=SSL_FLAGS),
    # The same two, running the compiled copy (make compiled, docs/compiled.md).
    "aioweb-compiled": ServerSpec(SUBJECT, (
        *ON_COMPILED_COPY, "{python}", "sample_server.py", "--uvloop", "--port", "{port}"),
        requires_file=COMPILED_STAMP),
    "aioweb-asgi-compiled": ServerSpec(SUBJECT, (
        *ON_COMPILED_COPY, "{python}", "-m", "aioweb", "{app}", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning", "--port", "{port}"),
        requires_file=COMPILED_STAMP, tls_flags=SSL_FLAGS),
    "control": ServerSpec(REFERENCE, ("{python}", "bench/control_server.py", "--port", "{port}")),
    # The floor under aioweb: the least work per request that the same answers
    # need (see floor_server.py), native and ASGI.
    "floor": ServerSpec(REFERENCE, ("{python}", "-m", "bench.floor_server", "--port", "{port}")),
    "floor-asgi": ServerSpec(REFERENCE, (
        "{python}", "-m", "bench.floor_server", "--asgi", "--app", "{app}", "--port", "{port}")),
    "uvicorn": ServerSpec(REFERENCE, (
        "{python}", "-m", "uvicorn", "{app}", "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--log-level", "warning", "--port", "{port}"),
        requires="uvicorn", tls_flags=SSL_FLAGS),
    # One worker process, one runtime thread, uvloop for the Python side, and
    # HTTP/1 only ("auto" would also sniff for HTTP/2 prior knowledge).
    "granian": ServerSpec(REFERENCE, (
        "{python}", "-m", "granian", "--interface", "asgi", "--workers", "1",
        "--runtime-threads", "1", "--loop", "uvloop", "--http", "1", "--no-access-log",
        "--log-level", "warning", "--port", "{port}", "{app}"),
        requires="granian",
        tls_flags=("--ssl-certificate", "{certfile}", "--ssl-keyfile", "{keyfile}")),
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # load only ever goes to this machine's loopback
STARTUP_TIMEOUT_SECONDS = 15.0  # granian and uvicorn take a second or two to import
STOP_TIMEOUT_SECONDS = 5.0  # after SIGTERM, before SIGKILL
LOG_TAIL_LINES = 15  # how much of a failed server's output to show


class ServerFailed(Exception):
    """A server did not start, did not answer, or died."""


def pick_free_port() -> int:
    """A port nobody listens on now: bind to port 0 and let the kernel choose.

    A fresh port per start means a server never trips over the previous one's
    leftover sockets (TIME_WAIT) on a reused port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a server's log, indented, for an error message."""
    text = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(f"    | {line}" for line in text) or "    | (no output)"


def wait_until_answering(process: subprocess.Popen[bytes], port: int, log_path: Path,
                         path: str = "/", scheme: str = "http") -> None:
    """Return once the server accepts connections and answers a GET of ``path`` with 200."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"exited with code {process.returncode}:\n{tail(log_path)}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            break
        except OSError as exc:  # refused: not listening yet
            if time.monotonic() > deadline:
                raise ServerFailed(f"no connection after {STARTUP_TIMEOUT_SECONDS} s:\n"
                                   f"{tail(log_path)}") from exc
            time.sleep(0.05)
    # Accepting is not answering: a server (granian) may listen in one process
    # and serve in another that is still starting.  One real request settles it.
    connection = (http.client.HTTPConnection(HOST, port, timeout=STARTUP_TIMEOUT_SECONDS)
                  if scheme == "http" else
                  http.client.HTTPSConnection(HOST, port, timeout=STARTUP_TIMEOUT_SECONDS,
                                              context=untrusting_context()))
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ServerFailed(f"a test GET failed ({exc!r}):\n{tail(log_path)}") from exc
    finally:
        connection.close()
    if response.status != 200:
        raise ServerFailed(f"a test GET {path} got status {response.status}, not 200")


def untrusting_context() -> ssl.SSLContext:
    """A client context that takes any certificate: the bench's own, made for the run."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def with_tls(spec: ServerSpec, certfile: str, keyfile: str) -> ServerSpec:
    """``spec`` serving HTTPS with this certificate (``ValueError`` if it cannot)."""
    if not spec.tls_flags:
        raise ValueError("serves no TLS")
    flags = tuple(part.format(certfile=certfile, keyfile=keyfile) for part in spec.tls_flags)
    return dataclasses.replace(spec, command=(*spec.command, *flags), scheme="https")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    def signal_group(signal_number: int) -> None:
        # The server leads its own process group (start_new_session), so this
        # reaches workers it forked too (granian's) and nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal_number)

    if process.poll() is None:
        signal_group(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            print("    (did not stop on SIGTERM: SIGKILL)", file=sys.stderr)
    signal_group(signal.SIGKILL)  # anything left of the group, e.g. an orphaned worker
    process.wait()


def serving_app(names: Sequence[str], app: str) -> dict[str, ServerSpec]:
    """The servers ``names`` of SERVERS, the ASGI ones serving ``app`` (``--app``)."""
    return {name: serving(name, app) if SERVERS[name].serves_any_app else SERVERS[name]
            for name in names}


def serving(name: str, app: str, *, role: str | None = None, path: str = "/") -> ServerSpec:
    """The ASGI server ``name`` of SERVERS with ``app`` written into its command:
    a server of its own, for a table other than SERVERS (examples/bench_asgi.py's
    scenarios), in which the same server may stand twice, serving two apps."""
    spec = SERVERS[name]
    if not spec.serves_any_app:
        raise ValueError(f"{name} serves its own app, not {app}")
    command = tuple(part.replace("{app}", app) for part in spec.command)
    return dataclasses.replace(spec, command=command, role=role or spec.role, path=path)


@contextlib.contextmanager
def running_server(spec: ServerSpec, log_dir: Path
                   ) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start a server pinned to SERVER_CPU, yield (process, port), always stop it."""
    port = pick_free_port()
    command = ["taskset", "-c", str(SERVER_CPU)] + [
        part.format(python=sys.executable, port=port, app=DEFAULT_APP) for part in spec.command]
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:  # a file, not a pipe: a chatty server can't block on it
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answering(process, port, log_path, spec.path, spec.scheme)
        yield process, port
        if process.poll() is not None:
            raise ServerFailed(f"died during the run, code {process.returncode}:\n"
                               f"{tail(log_path)}")
    finally:
        stop(process)


def unavailable_reason(spec: ServerSpec) -> str | None:
    """Why a server cannot run with this interpreter, or None if it can."""
    if spec.requires_file and not (PROJECT_ROOT / spec.requires_file).exists():
        return f"{spec.requires_file} is missing (make compiled builds it)"
    if not spec.requires:
        return None
    try:
        found = importlib.util.find_spec(spec.requires)
    except ImportError:  # a parent package is missing
        found = None
    if found is None:
        return (f"module {spec.requires} is not importable by {sys.executable} "
                "(not installed, or not written yet)")
    return None
