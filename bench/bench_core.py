"""The benchmark driver: aioweb's servers against a control and two peers.

    .venv/bin/python bench/bench_core.py [--rounds 3] [--duration 5]
        [--connections 50,256] [--servers aioweb,aioweb-asgi,control,uvicorn,granian]
        [--client auto|wrk|go] [--noisy-retries 2] [--json out.json] [--markdown]

In every round, for every server in turn, it:

1. starts the server pinned to CPU 0 (``taskset -c 0``), on a free port;
2. waits until the port accepts connections and a GET answers 200;
3. for each connection count, runs a 1 s warm-up load and then the measured
   one (``wrk -t1 -c<C> -d<D>s --latency``), the load generator pinned to
   CPU 1, so that load generator and server never fight over one core;
4. stops the server (SIGTERM, then SIGKILL if it does not go).

The load generator is wrk when it is installed; otherwise (or with
``--client go``) the project's own ``client.go``, built once with ``go build``
and run as ``client -url URL -c C -d Ds -json``.

Rounds are interleaved (round 1 runs every server once, then round 2, ...) so
that a slow drift of the machine (heat, a noisy neighbour) spreads over every
server instead of landing on whichever ran last.  While the client runs, the
driver also reads the kernel's CPU accounting, to tell how busy the server,
the client and everything else were: a run during which other processes took
CPU time is measured again.

The report gives, per server and connection count, the median requests/second
and latency percentiles over the rounds, the CPU shares, the socket errors and
non-2xx responses the client saw, and the ratios of each aioweb server's median
to each other server's.  A server that fails is reported and left out of later
rounds; one that cannot run here (its package is not installed) is reported as
unavailable and not started.

Only the standard library is used here, so the driver runs wherever the
servers' own virtualenv does; ``bench/bench.py`` adds plots and the docs page
on top of it.  Linux only (taskset, /proc).  Progress goes to stderr, the
report to stdout; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server.  In ``command``, ``{python}`` becomes this
    interpreter and ``{port}`` the port picked for the run."""

    role: str  # SUBJECT (what we measure) or REFERENCE (what we compare it with)
    command: tuple[str, ...]
    # A module that must be importable for the command to work (the server's
    # own package): without it the server is reported as unavailable, not run.
    requires: str = ""


SUBJECT = "subject"
REFERENCE = "reference"

# The servers, in the order each round runs them.  Every one answers a GET
# with an empty 200 and keeps the connection alive.  The commands run from the
# project root, which is how ``sample_server.py`` and ``bench.asgi_echo:app``
# are found.  A new server is one more line; ratios are reported for every
# SUBJECT against every REFERENCE that was measured.
SERVERS: dict[str, ServerSpec] = {
    "aioweb": ServerSpec(SUBJECT, ("{python}", "sample_server.py", "--uvloop", "--port", "{port}")),
    # aioweb's command line serving the very ASGI app the peers run.
    "aioweb-asgi": ServerSpec(SUBJECT, (
        "{python}", "-m", "aioweb", "bench.asgi_echo:app", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning", "--port", "{port}"), requires="aioweb.cli"),
    "control": ServerSpec(REFERENCE, ("{python}", "bench/control_server.py", "--port", "{port}")),
    "uvicorn": ServerSpec(REFERENCE, (
        "{python}", "-m", "uvicorn", "bench.asgi_echo:app", "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--log-level", "warning", "--port", "{port}"),
        requires="uvicorn"),
    # One worker process, one runtime thread, uvloop for the Python side, and
    # HTTP/1 only ("auto" would also sniff for HTTP/2 prior knowledge).
    "granian": ServerSpec(REFERENCE, (
        "{python}", "-m", "granian", "--interface", "asgi", "--workers", "1",
        "--runtime-threads", "1", "--loop", "uvloop", "--http", "1", "--no-access-log",
        "--log-level", "warning", "--port", "{port}", "bench.asgi_echo:app"),
        requires="granian"),
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # load only ever goes to this machine's loopback
SERVER_CPU = 0
CLIENT_CPU = 1
WARM_UP_SECONDS = 1
STARTUP_TIMEOUT_SECONDS = 15.0  # granian and uvicorn take a second or two to import
STOP_TIMEOUT_SECONDS = 5.0  # after SIGTERM, before SIGKILL
CLIENT_GRACE_SECONDS = 30  # wrk may overrun -d by its 2 s request timeout; never wait forever
NOISY_OTHER_LOAD = 0.1  # CPUs' worth of other processes' work during a run: warn above
QUIET_WAIT_SECONDS = 10  # before measuring a noisy run again: wait at most this long ...
QUIET_WINDOW_SECONDS = 1.0  # ... for one window this long in which other work stays below
SATURATED_CPU = 0.9  # a share of its core above this: that process is the bottleneck
LOG_TAIL_LINES = 15  # how much of a failed server's output to show
VERSIONS_OF = ("aioweb", "httptools", "uvloop", "uvicorn", "granian")


class ServerFailed(Exception):
    """A server did not start, did not answer, or died."""


class LoadFailed(Exception):
    """The load generator exited badly, overran its time limit, or printed no result."""


# ------------------------------------------------------- the load generators

@dataclass
class LoadResult:
    """What one run of the load generator reported."""

    requests_per_second: float
    total_requests: int
    latency_ms: dict[str, float]  # "50%", "90%", "99%", ... -> milliseconds
    socket_errors: dict[str, int]  # wrk: "connect", "read", "write", "timeout" -> count
    non_2xx_3xx: int  # responses with a 4xx or 5xx status

    @property
    def error_count(self) -> int:
        """Everything that went wrong: socket errors plus error statuses."""
        return sum(self.socket_errors.values()) + self.non_2xx_3xx


REQUESTS_PER_SECOND_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
TOTAL_REQUESTS_LINE = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
LATENCY_PERCENTILE_LINE = re.compile(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
# wrk prints these two lines only when the counts are not zero.
SOCKET_ERRORS_LINE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
NON_2XX_3XX_LINE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
MILLISECONDS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk_output(output: str) -> LoadResult:
    """Read the numbers out of ``wrk --latency``'s text report."""
    requests_per_second = REQUESTS_PER_SECOND_LINE.search(output)
    total_requests = TOTAL_REQUESTS_LINE.search(output)
    if requests_per_second is None or total_requests is None:
        raise LoadFailed(f"no Requests/sec in wrk's output:\n{output}")
    latency_ms = {
        f"{percentile}%": float(value) * MILLISECONDS_PER_UNIT[unit]
        for percentile, value, unit in LATENCY_PERCENTILE_LINE.findall(output)
    }
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if match := SOCKET_ERRORS_LINE.search(output):
        socket_errors = dict(zip(socket_errors, map(int, match.groups())))
    non_2xx = NON_2XX_3XX_LINE.search(output)
    return LoadResult(
        requests_per_second=float(requests_per_second.group(1)),
        total_requests=int(total_requests.group(1)),
        latency_ms=latency_ms,
        socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


# client.go's -json report names its percentiles "p50", ...; wrk's are "50%".
CLIENT_GO_PERCENTILES = {"p50": "50%", "p90": "90%", "p99": "99%", "p99.9": "99.9%"}


def parse_client_go_json(output: str) -> LoadResult:
    """Read the numbers out of ``client.go -json``'s one JSON object."""
    try:
        report = json.loads(output)
        latency = report["latency_ms"]
        return LoadResult(
            requests_per_second=float(report["rate"]),
            total_requests=int(report["requests"]),
            latency_ms={ours: float(latency[theirs])
                        for theirs, ours in CLIENT_GO_PERCENTILES.items() if theirs in latency},
            # connect, reset, timeout, bad_response (unparseable answer), other
            socket_errors={kind: int(n) for kind, n in report["errors_by_kind"].items()},
            non_2xx_3xx=sum(int(n) for status, n in report["status"].items()
                            if not status.startswith(("2", "3"))),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoadFailed(f"no report in client.go's output ({exc!r}):\n{output}") from exc


WRK = "wrk"
CLIENT_GO = "go"


@dataclass(frozen=True)
class LoadClient:
    """The load generator: wrk, or the project's client.go built to a binary."""

    kind: str  # WRK or CLIENT_GO
    executable: str  # "wrk", or the path of the built client.go
    version: str  # for the machine description

    def command(self, port: int, connections: int, duration_seconds: int) -> list[str]:
        """The command line of one run, pinned to CLIENT_CPU."""
        url = f"http://{HOST}:{port}/"
        if self.kind == WRK:  # one thread: it has one core
            load = [self.executable, "-t1", f"-c{connections}", f"-d{duration_seconds}s",
                    "--latency", url]
        else:  # Go schedules its goroutines on the one CPU taskset leaves it
            load = [self.executable, "-url", url, "-c", str(connections),
                    "-d", f"{duration_seconds}s", "-json"]
        return ["taskset", "-c", str(CLIENT_CPU), *load]

    def parse(self, output: str) -> LoadResult:
        """The numbers out of one run's standard output."""
        return parse_wrk_output(output) if self.kind == WRK else parse_client_go_json(output)


def run_load(client: LoadClient, port: int, connections: int,
             duration_seconds: int) -> LoadResult:
    """One run of the load generator against the server on ``port``."""
    try:
        completed = subprocess.run(client.command(port, connections, duration_seconds),
                                   capture_output=True, text=True, check=False,
                                   timeout=duration_seconds + CLIENT_GRACE_SECONDS)
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed the client
        raise LoadFailed(f"{client.kind} ran past {duration_seconds + CLIENT_GRACE_SECONDS} s"
                         ) from exc
    if completed.returncode != 0:
        raise LoadFailed(f"{client.kind} exited with {completed.returncode}: "
                         f"{completed.stderr.strip()}")
    return client.parse(completed.stdout)


def first_line(command: Sequence[str]) -> str:
    """The first line a command prints (on stdout or stderr), or "unknown"."""
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (completed.stdout or completed.stderr).splitlines()
    return lines[0].strip() if lines else "unknown"


def choose_client(preference: str, build_dir: Path) -> LoadClient | str:
    """The load generator to use (wrk first, when "auto"), or why there is none.

    client.go is compiled once into ``build_dir``, so that no run pays for
    ``go run``'s compilation and the binary's CPU time is the client's own."""
    if preference in ("auto", WRK) and shutil.which("wrk"):
        # wrk has no --version that exits 0; its first output line names the version.
        banner = first_line(["wrk", "--version"])
        return LoadClient(WRK, "wrk", "wrk " + banner.split(" Copyright")[0]
                          .removeprefix("wrk ").strip())
    if preference == WRK:
        return "wrk is not installed (apt-get install -y wrk)"
    source = PROJECT_ROOT / "client.go"
    if not source.exists() or shutil.which("go") is None:
        return ("neither wrk nor client.go with a Go toolchain is here: "
                "apt-get install -y wrk")
    binary = build_dir / "client"
    print(f"no wrk: building {source.name} as the load generator", file=sys.stderr)
    built = subprocess.run(["go", "build", "-o", str(binary), source.name], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=False, timeout=300)
    if built.returncode != 0:
        return f"go build {source.name} failed:\n{built.stderr.strip()}"
    return LoadClient(CLIENT_GO, str(binary), f"client.go ({first_line(['go', 'version'])})")


# ----------------------------------------------------------- server processes

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


def wait_until_answering(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    """Return once the server accepts connections and answers a GET with 200."""
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
    connection = http.client.HTTPConnection(HOST, port, timeout=STARTUP_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ServerFailed(f"a test GET failed ({exc!r}):\n{tail(log_path)}") from exc
    finally:
        connection.close()
    if response.status != 200:
        raise ServerFailed(f"a test GET got status {response.status}, not 200")


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


@contextlib.contextmanager
def running_server(spec: ServerSpec,
                   log_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Start a server pinned to SERVER_CPU, yield (process, port), always stop it."""
    port = pick_free_port()
    command = ["taskset", "-c", str(SERVER_CPU)] + [
        part.format(python=sys.executable, port=port) for part in spec.command]
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:  # a file, not a pipe: a chatty server can't block on it
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_answering(process, port, log_path)
        yield process, port
        if process.poll() is not None:
            raise ServerFailed(f"died during the run, code {process.returncode}:\n"
                               f"{tail(log_path)}")
    finally:
        stop(process)


# ---------------------------------------------------- who used the CPUs

# Two pinned CPUs are only a fair fight if nothing else runs on them.  Linux
# counts CPU time for the whole machine (/proc/stat) and per process
# (/proc/PID/stat); what the machine used during a run, minus what the server
# and the client used, is what other processes took from them.  The server's
# and the client's own shares tell which of the two was the bottleneck.
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds the machine has been busy since boot, all CPUs together.

    That is user + nice + system + irq + softirq.  The interrupt columns are
    in because the kernel delivers loopback packets in softirqs, mostly while
    the sending process is on the CPU, and charges the time to that process:
    leaving them out would count the client and the server for more than the
    machine."""
    # "cpu  user nice system idle iowait irq softirq steal ..."
    fields = Path("/proc/stat").read_text(encoding="ascii").split()
    busy_columns = fields[1:4] + fields[6:8]
    return sum(int(ticks) for ticks in busy_columns) / CLOCK_TICKS_PER_SECOND


def process_group_cpu_seconds(group_id: int) -> float:
    """CPU seconds used so far by the live processes of one process group."""
    ticks = 0
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # the process may end as we look
            text = stat_file.read_text(encoding="ascii", errors="replace")
            # After the ")" closing the command name: state ppid pgrp ... utime stime
            fields = text[text.rfind(")") + 2:].split()
            if int(fields[2]) == group_id:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS_PER_SECOND


def finished_children_cpu_seconds() -> float:
    """CPU seconds used by this driver's children that have been waited for:
    a client run counts here as soon as subprocess.run returns."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuShares:
    """Who kept the CPUs busy during a run, in CPUs' worth: 1.0 is one core
    busy for the whole run.  A share near 1.0 marks the bottleneck."""

    server: float
    client: float  # the load generator
    other: float  # everything else: should be near 0.0 on a quiet machine


def measured_run(client: LoadClient, port: int, connections: int, duration_seconds: int,
                 server_group: int) -> tuple[LoadResult, CpuShares]:
    """A client run, and how the CPUs' time was shared while it ran."""
    machine_before = machine_cpu_seconds()
    server_before = process_group_cpu_seconds(server_group)
    client_before = finished_children_cpu_seconds()
    started = time.monotonic()
    result = run_load(client, port, connections, duration_seconds)
    elapsed = time.monotonic() - started
    machine_used = machine_cpu_seconds() - machine_before
    server_used = process_group_cpu_seconds(server_group) - server_before
    client_used = finished_children_cpu_seconds() - client_before
    other_used = max(0.0, machine_used - server_used - client_used)  # clock ticks are coarse
    return result, CpuShares(server_used / elapsed, client_used / elapsed, other_used / elapsed)


# ------------------------------------------------------------------ the runs

@dataclass
class Measurement:
    """One measured client run."""

    round_number: int
    server: str
    connections: int
    result: LoadResult
    cpu: CpuShares
    discarded_runs: int = 0  # noisy runs thrown away before this one


@dataclass
class Session:
    """Everything a benchmark session collected."""

    client: LoadClient
    measurements: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # human-readable, one per problem
    unavailable: dict[str, str] = field(default_factory=dict)  # server -> why it did not run
    interrupted: bool = False  # Ctrl-C: the measurements so far, not the whole session


def wait_for_quiet() -> float:
    """Before a noisy run is measured again, wait (QUIET_WAIT_SECONDS at most)
    until other processes leave the CPUs alone for QUIET_WINDOW_SECONDS.

    Between runs the server idles and no client runs, so whatever the machine
    does then is other work.  Returns the last window's busy CPUs."""
    deadline = time.monotonic() + QUIET_WAIT_SECONDS
    while True:
        before = machine_cpu_seconds()
        time.sleep(QUIET_WINDOW_SECONDS)
        busy = (machine_cpu_seconds() - before) / QUIET_WINDOW_SECONDS
        if busy <= NOISY_OTHER_LOAD or time.monotonic() >= deadline:
            return busy


def measure(client: LoadClient, port: int, connections: int, options: argparse.Namespace,
            server_group: int) -> tuple[LoadResult, CpuShares, int]:
    """Warm up, then the measured run; run it again if other processes took
    CPU time meanwhile (up to --noisy-retries times), since a shared machine
    makes such runs slow for reasons that have nothing to do with the server.
    Returns the result, its CPU shares and how many noisy runs were discarded."""
    for attempt in range(options.noisy_retries + 1):
        # Thrown away: the first second pays for opening the connections and
        # for the server's cold caches and lazy setup.
        run_load(client, port, connections, WARM_UP_SECONDS)
        result, cpu = measured_run(client, port, connections, options.duration, server_group)
        if cpu.other <= NOISY_OTHER_LOAD or attempt == options.noisy_retries:
            return result, cpu, attempt
        print(f"  c={connections}: other processes used {cpu.other:.2f} CPU, "
              f"{result.requests_per_second:,.0f} req/s discarded; again", file=sys.stderr)
        wait_for_quiet()
    raise AssertionError("unreachable: the last attempt returns")


def benchmark_one_server(name: str, round_number: int, options: argparse.Namespace,
                         log_dir: Path, session: Session) -> bool:
    """Start one server, run the client at each connection count, stop it.

    Returns False if the server failed (would not start, or died): the caller
    then drops it from the remaining rounds rather than retry a broken server."""
    print(f"round {round_number}: {name}", file=sys.stderr)
    try:
        with running_server(SERVERS[name], log_dir) as (process, port):
            for connections in options.connections:
                try:
                    result, cpu, discarded = measure(session.client, port, connections, options,
                                                     server_group=process.pid)
                except LoadFailed as exc:
                    session.failures.append(f"{name} round {round_number} c={connections}: {exc}")
                    print(f"  c={connections}: {session.client.kind} failed: {exc}",
                          file=sys.stderr)
                    continue
                session.measurements.append(
                    Measurement(round_number, name, connections, result, cpu, discarded))
                errors = f", {result.error_count} ERRORS" if result.error_count else ""
                print(f"  c={connections}: {result.requests_per_second:,.0f} req/s, "
                      f"p99 {result.latency_ms.get('99%', float('nan')):.2f} ms, "
                      f"CPU server {cpu.server:.2f} client {cpu.client:.2f} "
                      f"other {cpu.other:.2f}{errors}", file=sys.stderr)
    except ServerFailed as exc:
        session.failures.append(f"{name} round {round_number}: {exc}")
        print(f"  {name} FAILED: {exc}", file=sys.stderr)
        return False
    return True


def unavailable_reason(spec: ServerSpec) -> str | None:
    """Why a server cannot run with this interpreter, or None if it can."""
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


def run_session(options: argparse.Namespace, client: LoadClient) -> Session:
    """All rounds, interleaved: every round runs every (still working) server once."""
    session = Session(client)
    servers = []
    for name in options.servers:
        if reason := unavailable_reason(SERVERS[name]):
            session.unavailable[name] = reason
            print(f"{name}: UNAVAILABLE, not run: {reason}", file=sys.stderr)
        else:
            servers.append(name)
    with tempfile.TemporaryDirectory(prefix="bench-core-") as log_dir:
        try:
            for round_number in range(1, options.rounds + 1):
                for name in list(servers):
                    if not benchmark_one_server(name, round_number, options, Path(log_dir),
                                                session):
                        print(f"  dropping {name} from the remaining rounds", file=sys.stderr)
                        servers.remove(name)
        except KeyboardInterrupt:  # the running server has been stopped on the way out
            session.interrupted = True
            session.failures.append("interrupted (Ctrl-C): the report covers the runs "
                                    "made until then")
            print("\ninterrupted: reporting what was measured so far", file=sys.stderr)
    return session


# ---------------------------------------------------------------- the report

@dataclass
class Summary:
    """One server at one connection count, over all its rounds.

    The medians, min - max and CPU shares are over the quiet runs (CPU other
    at most NOISY_OTHER_LOAD) when there is at least one: a run that stayed
    noisy after its re-runs measured the machine's other work as much as the
    server.  Only when every round was noisy are they over all the runs (and
    the report warns)."""

    server: str
    connections: int
    runs: int  # measured runs, one per round
    quiet_runs: int  # of which quiet: the medians are over these, if any
    median_requests_per_second: float
    min_requests_per_second: float
    max_requests_per_second: float
    median_latency_ms: dict[str, float]  # per percentile, the median over the rounds
    socket_errors: int  # summed over all the rounds, noisy or not: one bad run must show
    non_2xx_3xx: int
    median_cpu_server: float  # CPUs' worth; near 1.0: the server is the bottleneck
    median_cpu_client: float  # near 1.0: the client is, and the req/s is a floor, not the
    # server's best
    max_cpu_other: float  # the worst of the runs used: were they quiet?
    discarded_runs: int  # noisy runs measured again, over all rounds


def summarize(session: Session, servers: Sequence[str],
              connection_counts: Sequence[int]) -> list[Summary]:
    """Medians per server per connection count, in the order asked for."""
    summaries = []
    for server in servers:
        for connections in connection_counts:
            runs = [m for m in session.measurements
                    if m.server == server and m.connections == connections]
            if not runs:
                continue
            quiet = [m for m in runs if m.cpu.other <= NOISY_OTHER_LOAD]
            used = quiet or runs
            results = [m.result for m in used]
            rates = [r.requests_per_second for r in results]
            percentiles = sorted({p for r in results for p in r.latency_ms},
                                 key=lambda p: float(p.rstrip("%")))  # "50%" < "99.9%"
            summaries.append(Summary(
                server=server,
                connections=connections,
                runs=len(runs),
                quiet_runs=len(quiet),
                median_requests_per_second=statistics.median(rates),
                min_requests_per_second=min(rates),
                max_requests_per_second=max(rates),
                median_latency_ms={p: statistics.median(r.latency_ms[p] for r in results
                                                        if p in r.latency_ms)
                                   for p in percentiles},
                socket_errors=sum(sum(m.result.socket_errors.values()) for m in runs),
                non_2xx_3xx=sum(m.result.non_2xx_3xx for m in runs),
                median_cpu_server=statistics.median(m.cpu.server for m in used),
                median_cpu_client=statistics.median(m.cpu.client for m in used),
                max_cpu_other=max(m.cpu.other for m in used),
                discarded_runs=sum(m.discarded_runs for m in runs),
            ))
    return summaries


def ratios(summaries: Sequence[Summary]) -> dict[str, dict[int, float]]:
    """{"aioweb / control": {50: 0.61, 256: 0.58}, ...}: SUBJECT median over
    REFERENCE median, for every pair measured.  Above 1 means the subject is faster."""
    median = {(s.server, s.connections): s.median_requests_per_second for s in summaries}
    measured = list(dict.fromkeys(s.server for s in summaries))
    table: dict[str, dict[int, float]] = {}
    for subject in (n for n in measured if SERVERS[n].role == SUBJECT):
        for reference in (n for n in measured if SERVERS[n].role == REFERENCE):
            row = {connections: median[subject, connections] / median[reference, connections]
                   for (name, connections) in median
                   if name == subject and (reference, connections) in median
                   and median[reference, connections] > 0}
            if row:
                table[f"{subject} / {reference}"] = row
    return table


def machine_description(client: LoadClient) -> dict[str, str]:
    """The facts a reader needs to judge the numbers: CPU, Python, versions."""
    cpu_model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    description = {
        "cpus": str(os.cpu_count()),
        "cpu model": cpu_model,
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    for package in VERSIONS_OF:
        try:
            description[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            description[package] = "not installed"
    description["load generator"] = client.version
    return description


def format_count(value: float) -> str:
    """12345.6 -> '12,346'."""
    return f"{value:,.0f}"


def format_ms(value: float) -> str:
    """Milliseconds, to the microsecond below 1 ms: 0.052, 1.61, 12.78."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def format_errors(summary: Summary) -> str:
    """'0', or the socket errors and error statuses spelled out."""
    if not summary.socket_errors and not summary.non_2xx_3xx:
        return "0"
    return f"{summary.socket_errors} socket, {summary.non_2xx_3xx} non-2xx/3xx"


RESULT_COLUMNS = ("server", "conns", "req/s median", "min - max", "p50 ms", "p90 ms", "p99 ms",
                  "quiet runs", "CPU server", "CPU client", "CPU other", "errors")


def result_rows(summaries: Sequence[Summary]) -> list[list[str]]:
    """One row of RESULT_COLUMNS per server and connection count."""
    return [[
        s.server, str(s.connections), format_count(s.median_requests_per_second),
        f"{format_count(s.min_requests_per_second)} - {format_count(s.max_requests_per_second)}",
        *(format_ms(s.median_latency_ms.get(p, float("nan"))) for p in ("50%", "90%", "99%")),
        f"{s.quiet_runs}/{s.runs}", f"{s.median_cpu_server:.2f}", f"{s.median_cpu_client:.2f}",
        f"{s.max_cpu_other:.2f}", format_errors(s),
    ] for s in summaries]


def ratio_table_rows(summaries: Sequence[Summary]) -> tuple[list[str], list[list[str]]]:
    """The ratios as (column names, rows): one row per pair, one column per count."""
    table = ratios(summaries)
    connection_counts = sorted({c for row in table.values() for c in row})
    columns = ["ratio of median req/s", *(f"c={c}" for c in connection_counts)]
    rows = [[label, *(f"{row[c]:.2f}" if c in row else "n/a" for c in connection_counts)]
            for label, row in table.items()]
    return columns, rows


def print_aligned(columns: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """A plain-text table: first column to the left, numbers to the right."""
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    for row in (columns, *rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("  ".join(cells), file=out)


def print_markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]],
                         out: TextIO) -> None:
    """A markdown table, numbers right-aligned."""
    print("| " + " | ".join(columns) + " |", file=out)
    print("|---|" + "---:|" * (len(columns) - 1), file=out)
    for row in rows:
        print("| " + " | ".join(row) + " |", file=out)


def print_text_report(summaries: Sequence[Summary], session: Session, out: TextIO) -> None:
    """The report for a terminal."""
    print_aligned(RESULT_COLUMNS, result_rows(summaries), out)
    columns, rows = ratio_table_rows(summaries)
    if rows:
        print(file=out)
        print_aligned(columns, rows, out)
    print_problems(summaries, session, out)


def print_markdown_report(summaries: Sequence[Summary], session: Session,
                          command_line: str, machine: dict[str, str], out: TextIO) -> None:
    """The same report as markdown, ready for docs/benchmarks.md."""
    print(f"Command: `{command_line}`\n", file=out)
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()) + "\n",
          file=out)
    print_markdown_table(RESULT_COLUMNS, result_rows(summaries), out)
    columns, rows = ratio_table_rows(summaries)
    if rows:
        print(file=out)
        print_markdown_table(columns, rows, out)
    print_problems(summaries, session, out)


def print_problems(summaries: Sequence[Summary], session: Session, out: TextIO) -> None:
    """Every failure, error and doubt about a number, so that none goes unseen."""
    def names(chosen: Sequence[Summary]) -> str:
        return ", ".join(f"{s.server} c={s.connections}" for s in chosen)

    client = session.client.kind
    if with_errors := [s for s in summaries if s.socket_errors or s.non_2xx_3xx]:
        print(f"\nWARNING: {client} saw errors for {names(with_errors)}: "
              "their req/s count failed requests too and do not compare", file=out)
    if noisy := [s for s in summaries if not s.quiet_runs]:
        print(f"\nWARNING: other processes used the CPUs (CPU other > {NOISY_OTHER_LOAD}) "
              f"in every round of {names(noisy)} (re-runs included): those numbers are "
              "low; run again on a quiet machine", file=out)
    if partly := [s for s in summaries if 0 < s.quiet_runs < s.runs]:
        counts = ", ".join(f"{s.server} c={s.connections} ({s.runs - s.quiet_runs} of "
                           f"{s.runs})" for s in partly)
        print(f"\nNOTE: rounds that stayed noisy after their re-runs are left out of the "
              f"medians: {counts}", file=out)
    if retried := [s for s in summaries if s.discarded_runs]:
        counts = ", ".join(f"{s.server} c={s.connections} ({s.discarded_runs})" for s in retried)
        print(f"\nNOTE: noisy runs (CPU other > {NOISY_OTHER_LOAD}) were discarded and "
              f"measured again: {counts}", file=out)
    if client_bound := [s for s in summaries if s.median_cpu_client > SATURATED_CPU]:
        print(f"\nNOTE: {client} kept its CPU busy (CPU client > {SATURATED_CPU}) for "
              f"{names(client_bound)}: there the client may be the limit, so the req/s "
              "is a floor of what the server can do", file=out)
    for name, reason in session.unavailable.items():
        print(f"\nUNAVAILABLE: {name} was not run: {reason}", file=out)
    if session.failures:
        print("\nFAILURES", file=out)
        for failure in session.failures:
            print(f"- {failure}", file=out)


def write_json(path: Path, options: argparse.Namespace, command_line: str,
               machine: dict[str, str], session: Session, summaries: Sequence[Summary],
               extra: dict[str, Any] | None = None) -> None:
    """Every raw run plus the summary, for later comparison or plotting
    (``read_session`` reads the runs back); ``extra`` adds top-level keys."""
    document: dict[str, Any] = {
        "command": command_line,
        "settings": {"rounds": options.rounds, "duration_seconds": options.duration,
                     "noisy_retries": options.noisy_retries,
                     "connections": options.connections, "servers": options.servers,
                     "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU,
                     "commands": {name: list(SERVERS[name].command) for name in options.servers}},
        "machine": machine,
        "client": asdict(session.client),
        "unavailable": session.unavailable,
        "runs": [asdict(m) for m in session.measurements],
        "summary": [asdict(s) for s in summaries],
        "ratios": {label: {str(c): v for c, v in row.items()}
                   for label, row in ratios(summaries).items()},
        "failures": session.failures,
        "interrupted": session.interrupted,
        **(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. bench/results/, git-ignored
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read_session(path: Path) -> tuple[dict[str, Any], Session]:
    """A file that write_json wrote: (the whole document, the session rebuilt
    from its raw runs), to report and plot a run again without measuring."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    session = Session(LoadClient(**document["client"]),
                      failures=list(document.get("failures", [])),
                      unavailable=dict(document.get("unavailable", {})),
                      interrupted=bool(document.get("interrupted", False)))
    for run in document["runs"]:
        session.measurements.append(Measurement(
            round_number=run["round_number"], server=run["server"],
            connections=run["connections"], result=LoadResult(**run["result"]),
            cpu=CpuShares(**run["cpu"]), discarded_runs=run.get("discarded_runs", 0)))
    return document, session


# ------------------------------------------------------------- command line

def name_list(text: str) -> list[str]:
    """An argparse type: "control,uvicorn" -> ["control", "uvicorn"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def number_list(text: str) -> list[int]:
    """An argparse type: "50,256" -> [50, 256]."""
    return [int(item) for item in name_list(text)]


def add_session_options(parser: argparse.ArgumentParser, *, rounds: int = 3,
                        duration: int = 5, connections: Sequence[int] = (50, 256)) -> None:
    """The flags of a session, shared with bench/bench.py (which has other defaults)."""
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"interleaved rounds ({rounds})")
    parser.add_argument("--duration", type=int, default=duration,
                        help=f"seconds per measured run ({duration})")
    parser.add_argument("--connections", type=number_list, default=list(connections),
                        help="connection counts, comma-separated "
                             f"({','.join(map(str, connections))})")
    parser.add_argument("--servers", type=name_list, default=list(SERVERS),
                        help=f"servers to run, comma-separated ({','.join(SERVERS)})")
    parser.add_argument("--client", choices=("auto", WRK, CLIENT_GO), default="auto",
                        help="load generator: wrk, client.go, or auto: wrk when installed (auto)")
    parser.add_argument("--noisy-retries", type=int, default=2,
                        help="measure again when other processes used the CPUs (2 times)")
    parser.add_argument("--json", type=Path, help="also write every run and the summary here")


def check_session_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Stop with a usage error if the session's flags make no sense."""
    if unknown := [name for name in options.servers if name not in SERVERS]:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    if options.rounds < 1 or options.duration < 1 or not options.connections \
            or min(options.connections) < 1 or options.noisy_retries < 0:
        parser.error("--rounds, --duration and --connections must be positive, "
                     "--noisy-retries not negative")


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags, checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add_session_options(parser)
    parser.add_argument("--markdown", action="store_true",
                        help="print the report as markdown tables")
    options = parser.parse_args(argv)
    check_session_options(parser, options)
    return options


class SetupFailed(Exception):
    """The benchmark cannot run on this machine; the message says why."""


@contextlib.contextmanager
def load_client(preference: str) -> Iterator[LoadClient]:
    """Check the machine and pick (or build) the load generator for a session."""
    if shutil.which("taskset") is None:
        raise SetupFailed("taskset is not installed (apt-get install -y util-linux)")
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        raise SetupFailed(f"need CPUs {SERVER_CPU} and {CLIENT_CPU}: "
                          "one for the server, one for the client")
    with tempfile.TemporaryDirectory(prefix="bench-client-") as build_dir:
        client = choose_client(preference, Path(build_dir))
        if isinstance(client, str):
            raise SetupFailed(client)
        yield client


def exit_status(session: Session, summaries: Sequence[Summary]) -> int:
    """1 if a server failed or the client saw errors, else 0."""
    had_errors = any(s.socket_errors or s.non_2xx_3xx for s in summaries)
    return 1 if session.failures or had_errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the session, print the report; exit 1 if a server failed or the client saw errors."""
    options = parse_options(argv)
    command_line = " ".join([".venv/bin/python", "bench/bench_core.py",
                             *(sys.argv[1:] if argv is None else argv)])
    try:
        with load_client(options.client) as client:
            machine = machine_description(client)
            session = run_session(options, client)
    except SetupFailed as exc:
        print(f"bench_core: {exc}", file=sys.stderr)
        return 2
    summaries = summarize(session, options.servers, options.connections)
    print(file=sys.stderr)
    if options.markdown:
        print_markdown_report(summaries, session, command_line, machine, sys.stdout)
    else:
        print_text_report(summaries, session, sys.stdout)
    if options.json:
        write_json(options.json, options, command_line, machine, session, summaries)
    return exit_status(session, summaries)


if __name__ == "__main__":
    raise SystemExit(main())
