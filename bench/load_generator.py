"""The load generator: which one, how one run is made, and what it reported.

It is wrk when it is installed; otherwise (or with ``--client go``) the
project's own ``client.go``, built once with ``go build`` and run as
``client -url URL -c C -d Ds -json``.  ``load_client`` checks that the
machine can run a session at all and picks (or builds) it; ``run_load``
makes one run, pinned to CLIENT_CPU, and parses the client's report (wrk's
text or client.go's JSON) into one ``LoadResult``.  Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_accounting import CLIENT_CPU, SERVER_CPU
from bench.servers import HOST, PROJECT_ROOT

CLIENT_GRACE_SECONDS = 30  # wrk may overrun -d by its 2 s request timeout; never wait forever


class LoadFailed(Exception):
    """The load generator exited badly, overran its time limit, or printed no result."""


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

    def command(self, port: int, connections: int, duration_seconds: int,
                path: str = "/", scheme: str = "http") -> list[str]:
        """The command line of one run, pinned to CLIENT_CPU."""
        url = f"{scheme}://{HOST}:{port}{path}"
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
             duration_seconds: int, path: str = "/", scheme: str = "http") -> LoadResult:
    """One run of the load generator against the server on ``port``, asking for ``path``
    (over TLS with ``scheme="https"``)."""
    try:
        completed = subprocess.run(client.command(port, connections, duration_seconds, path,
                                                  scheme),
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
