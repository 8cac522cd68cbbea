"""The benchmark driver: aioweb's sample server against a control and two peers.

    .venv/bin/python bench/bench_core.py [--rounds 3] [--duration 5]
        [--connections 50,256] [--servers aioweb,control,uvicorn,granian]
        [--noisy-retries 2] [--json out.json] [--markdown]

In every round, for every server in turn, it:

1. starts the server pinned to CPU 0 (``taskset -c 0``), on a free port;
2. waits until the port accepts connections and a GET answers 200;
3. for each connection count, runs a 1 s warm-up ``wrk`` and then the measured
   ``wrk -t1 -c<C> -d<D>s --latency``, itself pinned to CPU 1, so that load
   generator and server never fight over one core;
4. stops the server (SIGTERM, then SIGKILL if it does not go).

Rounds are interleaved (round 1 runs every server once, then round 2, ...) so
that a slow drift of the machine (heat, a noisy neighbour) spreads over every
server instead of landing on whichever ran last.  While wrk runs, the driver
also reads the kernel's CPU accounting, to tell how busy the server, wrk and
everything else were: a run during which other processes took CPU time is
measured again.

The report gives, per server and connection count, the median requests/second
and latency percentiles over the rounds, the CPU shares, the socket errors and
non-2xx responses wrk saw, and the ratios of aioweb's median to each other
server's.  A server that fails is reported and left out of later rounds.

Only the standard library is used here, so the driver runs wherever the
servers' own virtualenv does.  Linux only (taskset, /proc).  Progress goes to
stderr, the report to stdout; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
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


SUBJECT = "subject"
REFERENCE = "reference"

# The servers, in the order each round runs them.  Every one answers a GET
# with an empty 200 and keeps the connection alive.  The commands run from the
# project root, which is how ``sample_server.py`` and ``bench.asgi_echo:app``
# are found.  A new server is one more line; ratios are reported for every
# SUBJECT against every REFERENCE that was measured.
SERVERS: dict[str, ServerSpec] = {
    "aioweb": ServerSpec(SUBJECT, ("{python}", "sample_server.py", "--uvloop", "--port", "{port}")),
    "control": ServerSpec(REFERENCE, ("{python}", "bench/control_server.py", "--port", "{port}")),
    "uvicorn": ServerSpec(REFERENCE, (
        "{python}", "-m", "uvicorn", "bench.asgi_echo:app", "--loop", "uvloop",
        "--http", "httptools", "--no-access-log", "--log-level", "warning", "--port", "{port}")),
    # One worker process, one runtime thread, uvloop for the Python side, and
    # HTTP/1 only ("auto" would also sniff for HTTP/2 prior knowledge).
    "granian": ServerSpec(REFERENCE, (
        "{python}", "-m", "granian", "--interface", "asgi", "--workers", "1",
        "--runtime-threads", "1", "--loop", "uvloop", "--http", "1", "--no-access-log",
        "--log-level", "warning", "--port", "{port}", "bench.asgi_echo:app")),
}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # load only ever goes to this machine's loopback
SERVER_CPU = 0
CLIENT_CPU = 1
WARM_UP_SECONDS = 1
STARTUP_TIMEOUT_SECONDS = 15.0  # granian and uvicorn take a second or two to import
STOP_TIMEOUT_SECONDS = 5.0  # after SIGTERM, before SIGKILL
WRK_GRACE_SECONDS = 30  # wrk may overrun -d by its 2 s request timeout; never wait forever
NOISY_OTHER_LOAD = 0.1  # CPUs' worth of other processes' work during a run: warn above
NOISY_RETRY_PAUSE_SECONDS = 3  # let the other work pass before measuring again
SATURATED_CPU = 0.9  # a share of its core above this: that process is the bottleneck
LOG_TAIL_LINES = 15  # how much of a failed server's output to show
VERSIONS_OF = ("aioweb", "httptools", "uvloop", "uvicorn", "granian")


class ServerFailed(Exception):
    """A server did not start, did not answer, or died."""


class WrkFailed(Exception):
    """wrk exited badly, overran its time limit, or printed no result."""


# ---------------------------------------------------------------- wrk output

@dataclass
class WrkResult:
    """What one wrk run reported."""

    requests_per_second: float
    total_requests: int
    latency_ms: dict[str, float]  # "50%", "75%", "90%", "99%" -> milliseconds
    socket_errors: dict[str, int]  # "connect", "read", "write", "timeout" -> count
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


def parse_wrk_output(output: str) -> WrkResult:
    """Read the numbers out of ``wrk --latency``'s text report."""
    requests_per_second = REQUESTS_PER_SECOND_LINE.search(output)
    total_requests = TOTAL_REQUESTS_LINE.search(output)
    if requests_per_second is None or total_requests is None:
        raise WrkFailed(f"no Requests/sec in wrk's output:\n{output}")
    latency_ms = {
        f"{percentile}%": float(value) * MILLISECONDS_PER_UNIT[unit]
        for percentile, value, unit in LATENCY_PERCENTILE_LINE.findall(output)
    }
    socket_errors = dict.fromkeys(("connect", "read", "write", "timeout"), 0)
    if match := SOCKET_ERRORS_LINE.search(output):
        socket_errors = dict(zip(socket_errors, map(int, match.groups())))
    non_2xx = NON_2XX_3XX_LINE.search(output)
    return WrkResult(
        requests_per_second=float(requests_per_second.group(1)),
        total_requests=int(total_requests.group(1)),
        latency_ms=latency_ms,
        socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def run_wrk(port: int, connections: int, duration_seconds: int) -> WrkResult:
    """One wrk run against the server on ``port``, wrk pinned to CLIENT_CPU."""
    command = [
        "taskset", "-c", str(CLIENT_CPU), "wrk", "-t1", f"-c{connections}",
        f"-d{duration_seconds}s", "--latency", f"http://{HOST}:{port}/",
    ]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   timeout=duration_seconds + WRK_GRACE_SECONDS)
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed wrk
        raise WrkFailed(f"wrk ran past {duration_seconds + WRK_GRACE_SECONDS} s") from exc
    if completed.returncode != 0:
        raise WrkFailed(f"wrk exited with {completed.returncode}: {completed.stderr.strip()}")
    return parse_wrk_output(completed.stdout)


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
# and wrk used, is what other processes took from them.  The server's and wrk's
# own shares tell which of the two was the bottleneck.
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds the machine has been busy since boot, all CPUs together.

    That is user + nice + system + irq + softirq.  The interrupt columns are
    in because the kernel delivers loopback packets in softirqs, mostly while
    the sending process is on the CPU, and charges the time to that process:
    leaving them out would count wrk and the server for more than the machine."""
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
    a wrk run counts here as soon as subprocess.run returns."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuShares:
    """Who kept the CPUs busy during a run, in CPUs' worth: 1.0 is one core
    busy for the whole run.  A share near 1.0 marks the bottleneck."""

    server: float
    wrk: float
    other: float  # everything else: should be near 0.0 on a quiet machine


def measured_wrk_run(port: int, connections: int, duration_seconds: int,
                     server_group: int) -> tuple[WrkResult, CpuShares]:
    """A wrk run, and how the CPUs' time was shared while it ran."""
    machine_before = machine_cpu_seconds()
    server_before = process_group_cpu_seconds(server_group)
    wrk_before = finished_children_cpu_seconds()
    started = time.monotonic()
    result = run_wrk(port, connections, duration_seconds)
    elapsed = time.monotonic() - started
    machine_used = machine_cpu_seconds() - machine_before
    server_used = process_group_cpu_seconds(server_group) - server_before
    wrk_used = finished_children_cpu_seconds() - wrk_before
    other_used = max(0.0, machine_used - server_used - wrk_used)  # clock ticks are coarse
    return result, CpuShares(server_used / elapsed, wrk_used / elapsed, other_used / elapsed)


# ------------------------------------------------------------------ the runs

@dataclass
class Measurement:
    """One measured wrk run."""

    round_number: int
    server: str
    connections: int
    result: WrkResult
    cpu: CpuShares


@dataclass
class Session:
    """Everything a benchmark session collected."""

    measurements: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # human-readable, one per problem


def measure(port: int, connections: int, options: argparse.Namespace,
            server_group: int) -> tuple[WrkResult, CpuShares]:
    """Warm up, then the measured run; run it again if other processes took
    CPU time meanwhile (up to --noisy-retries times), since a shared machine
    makes such runs slow for reasons that have nothing to do with the server."""
    for attempt in range(options.noisy_retries + 1):
        # Thrown away: the first second pays for opening the connections and
        # for the server's cold caches and lazy setup.
        run_wrk(port, connections, WARM_UP_SECONDS)
        result, cpu = measured_wrk_run(port, connections, options.duration, server_group)
        if cpu.other <= NOISY_OTHER_LOAD or attempt == options.noisy_retries:
            break
        print(f"  c={connections}: other processes used {cpu.other:.2f} CPU, "
              f"{result.requests_per_second:,.0f} req/s discarded; again", file=sys.stderr)
        time.sleep(NOISY_RETRY_PAUSE_SECONDS)
    return result, cpu


def benchmark_one_server(name: str, round_number: int, options: argparse.Namespace,
                         log_dir: Path, session: Session) -> bool:
    """Start one server, run wrk at each connection count, stop it.

    Returns False if the server failed (would not start, or died): the caller
    then drops it from the remaining rounds rather than retry a broken server."""
    print(f"round {round_number}: {name}", file=sys.stderr)
    try:
        with running_server(SERVERS[name], log_dir) as (process, port):
            for connections in options.connections:
                try:
                    result, cpu = measure(port, connections, options, server_group=process.pid)
                except WrkFailed as exc:
                    session.failures.append(f"{name} round {round_number} c={connections}: {exc}")
                    print(f"  c={connections}: wrk failed: {exc}", file=sys.stderr)
                    continue
                session.measurements.append(
                    Measurement(round_number, name, connections, result, cpu))
                errors = f", {result.error_count} ERRORS" if result.error_count else ""
                print(f"  c={connections}: {result.requests_per_second:,.0f} req/s, "
                      f"p99 {result.latency_ms.get('99%', float('nan')):.2f} ms, "
                      f"CPU server {cpu.server:.2f} wrk {cpu.wrk:.2f} other {cpu.other:.2f}"
                      f"{errors}", file=sys.stderr)
    except ServerFailed as exc:
        session.failures.append(f"{name} round {round_number}: {exc}")
        print(f"  {name} FAILED: {exc}", file=sys.stderr)
        return False
    return True


def run_session(options: argparse.Namespace) -> Session:
    """All rounds, interleaved: every round runs every (still working) server once."""
    session = Session()
    servers = list(options.servers)
    with tempfile.TemporaryDirectory(prefix="bench-core-") as log_dir:
        for round_number in range(1, options.rounds + 1):
            for name in list(servers):
                if not benchmark_one_server(name, round_number, options, Path(log_dir), session):
                    print(f"  dropping {name} from the remaining rounds", file=sys.stderr)
                    servers.remove(name)
    return session


# ---------------------------------------------------------------- the report

@dataclass
class Summary:
    """One server at one connection count, over all its rounds."""

    server: str
    connections: int
    runs: int
    median_requests_per_second: float
    min_requests_per_second: float
    max_requests_per_second: float
    median_latency_ms: dict[str, float]  # per percentile, the median over the rounds
    socket_errors: int  # summed over the rounds: one bad run must show
    non_2xx_3xx: int
    median_cpu_server: float  # CPUs' worth; near 1.0: the server is the bottleneck
    median_cpu_wrk: float  # near 1.0: wrk is, and the req/s is a floor, not the server's best
    max_cpu_other: float  # the worst run's: was the machine quiet throughout?


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
            results = [m.result for m in runs]
            rates = [r.requests_per_second for r in results]
            percentiles = sorted({p for r in results for p in r.latency_ms},
                                 key=lambda p: int(p.rstrip("%")))  # "50%" < "75%" < ...
            summaries.append(Summary(
                server=server,
                connections=connections,
                runs=len(results),
                median_requests_per_second=statistics.median(rates),
                min_requests_per_second=min(rates),
                max_requests_per_second=max(rates),
                median_latency_ms={p: statistics.median(r.latency_ms[p] for r in results
                                                        if p in r.latency_ms)
                                   for p in percentiles},
                socket_errors=sum(sum(r.socket_errors.values()) for r in results),
                non_2xx_3xx=sum(r.non_2xx_3xx for r in results),
                median_cpu_server=statistics.median(m.cpu.server for m in runs),
                median_cpu_wrk=statistics.median(m.cpu.wrk for m in runs),
                max_cpu_other=max(m.cpu.other for m in runs),
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


def machine_description() -> dict[str, str]:
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
    # wrk has no --version that exits 0; its first output line names the version.
    wrk_banner = subprocess.run(["wrk", "--version"], capture_output=True, text=True,
                                check=False, timeout=10).stdout.splitlines()
    description["wrk"] = wrk_banner[0].split(" Copyright")[0].removeprefix("wrk ").strip() \
        if wrk_banner else "unknown"
    return description


def format_count(value: float) -> str:
    """12345.6 -> '12,346'."""
    return f"{value:,.0f}"


def format_errors(summary: Summary) -> str:
    """'0', or the socket errors and error statuses spelled out."""
    if not summary.socket_errors and not summary.non_2xx_3xx:
        return "0"
    return f"{summary.socket_errors} socket, {summary.non_2xx_3xx} non-2xx/3xx"


RESULT_COLUMNS = ("server", "conns", "req/s median", "min - max", "p50 ms", "p90 ms", "p99 ms",
                  "runs", "CPU server", "CPU wrk", "CPU other", "errors")


def result_rows(summaries: Sequence[Summary]) -> list[list[str]]:
    """One row of RESULT_COLUMNS per server and connection count."""
    return [[
        s.server, str(s.connections), format_count(s.median_requests_per_second),
        f"{format_count(s.min_requests_per_second)} - {format_count(s.max_requests_per_second)}",
        *(f"{s.median_latency_ms.get(p, float('nan')):.2f}" for p in ("50%", "90%", "99%")),
        str(s.runs), f"{s.median_cpu_server:.2f}", f"{s.median_cpu_wrk:.2f}",
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

    if with_errors := [s for s in summaries if s.socket_errors or s.non_2xx_3xx]:
        print(f"\nWARNING: wrk saw errors for {names(with_errors)}: "
              "their req/s count failed requests too and do not compare", file=out)
    if noisy := [s for s in summaries if s.max_cpu_other > NOISY_OTHER_LOAD]:
        print(f"\nWARNING: other processes used the CPUs (CPU other > {NOISY_OTHER_LOAD}) "
              f"during {names(noisy)}: run again on a quiet machine", file=out)
    if client_bound := [s for s in summaries if s.median_cpu_wrk > SATURATED_CPU]:
        print(f"\nNOTE: wrk kept its CPU busy (CPU wrk > {SATURATED_CPU}) for "
              f"{names(client_bound)}: there the client may be the limit, so the req/s "
              "is a floor of what the server can do", file=out)
    if session.failures:
        print("\nFAILURES", file=out)
        for failure in session.failures:
            print(f"- {failure}", file=out)


def write_json(path: Path, options: argparse.Namespace, command_line: str,
               machine: dict[str, str], session: Session, summaries: Sequence[Summary]) -> None:
    """Every raw run plus the summary, for later comparison or plotting."""
    document: dict[str, Any] = {
        "command": command_line,
        "settings": {"rounds": options.rounds, "duration_seconds": options.duration,
                     "noisy_retries": options.noisy_retries,
                     "connections": options.connections, "servers": options.servers,
                     "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU,
                     "commands": {name: list(SERVERS[name].command) for name in options.servers}},
        "machine": machine,
        "runs": [asdict(m) for m in session.measurements],
        "summary": [asdict(s) for s in summaries],
        "ratios": {label: {str(c): v for c, v in row.items()}
                   for label, row in ratios(summaries).items()},
        "failures": session.failures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. bench/results/, git-ignored
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------- command line

def name_list(text: str) -> list[str]:
    """An argparse type: "control,uvicorn" -> ["control", "uvicorn"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def number_list(text: str) -> list[int]:
    """An argparse type: "50,256" -> [50, 256]."""
    return [int(item) for item in name_list(text)]


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags, checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run (5)")
    parser.add_argument("--connections", type=number_list, default=[50, 256],
                        help="wrk connection counts, comma-separated (50,256)")
    parser.add_argument("--servers", type=name_list, default=list(SERVERS),
                        help=f"servers to run, comma-separated ({','.join(SERVERS)})")
    parser.add_argument("--noisy-retries", type=int, default=2,
                        help="measure again when other processes used the CPUs (2 times)")
    parser.add_argument("--json", type=Path, help="also write every run and the summary here")
    parser.add_argument("--markdown", action="store_true",
                        help="print the report as markdown tables")
    options = parser.parse_args(argv)
    if unknown := [name for name in options.servers if name not in SERVERS]:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    if options.rounds < 1 or options.duration < 1 or not options.connections \
            or min(options.connections) < 1 or options.noisy_retries < 0:
        parser.error("--rounds, --duration and --connections must be positive, "
                     "--noisy-retries not negative")
    return options


def check_tools() -> str | None:
    """Why the benchmark cannot run here, or None if it can."""
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y {tool})"
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        return f"need CPUs {SERVER_CPU} and {CLIENT_CPU}: one for the server, one for wrk"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the session, print the report; exit 1 if a server failed or wrk saw errors."""
    options = parse_options(argv)
    if problem := check_tools():
        print(f"bench_core: {problem}", file=sys.stderr)
        return 2
    command_line = " ".join([".venv/bin/python", "bench/bench_core.py",
                             *(sys.argv[1:] if argv is None else argv)])
    machine = machine_description()
    session = run_session(options)
    summaries = summarize(session, options.servers, options.connections)
    print(file=sys.stderr)
    if options.markdown:
        print_markdown_report(summaries, session, command_line, machine, sys.stdout)
    else:
        print_text_report(summaries, session, sys.stdout)
    if options.json:
        write_json(options.json, options, command_line, machine, session, summaries)
    had_errors = any(s.socket_errors or s.non_2xx_3xx for s in summaries)
    return 1 if session.failures or had_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
