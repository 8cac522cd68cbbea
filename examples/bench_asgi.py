"""Benchmark ASGI serving: aioweb against uvicorn and granian, and the hot-route move.

    .venv/bin/python examples/bench_asgi.py [raw|fastapi|hot ...] [--rounds 3]
        [--duration 5] [--connections 50,256]

Scenarios (each a set of servers answering the same requests):

* ``raw``     — a raw ASGI hello app (examples/asgi_hello.py) on the aioweb CLI
  (by default, and with ``--eager``: no Task, which a raw app never needs),
  ``uvicorn --loop uvloop --http httptools`` and ``granian --interface asgi
  --workers 1``;
* ``fastapi`` — a FastAPI hello app on aioweb and on uvicorn;
* ``hot``     — examples/fastapi_hot_route.py: the FastAPI app on uvicorn and
  on aioweb ("before"), and the Router with the hot route native ("after").

Method: every server runs pinned to CPU 0 (``taskset -c 0``), wrk pinned to
CPU 1, access logs off. Rounds are interleaved (round 1 runs every server,
then round 2 ...) so a drift of the machine spreads over all servers. Each
measurement is a 1 s warm-up, then ``wrk -t1 -c<C> -d<D>s``. While wrk runs,
the CPU time the rest of the machine used is read from /proc: a run where
other processes took more than a tenth of a CPU is flagged "disturbed" and
measured once more. The report gives, per server and connection count, the
median requests/second, its ratio to the first server's, the server's CPU time
per request (its process group's CPU seconds over the requests wrk completed:
other load disturbs it far less than req/s), and how many of the kept runs
were disturbed, with the most CPU other processes took during one.
Linux only; needs wrk and taskset.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVER_CPU, CLIENT_CPU = "0", "1"
DISTURBED = 0.10  # CPUs' worth of time taken by other processes during a run

AIOWEB = (PYTHON, "-m", "aioweb", "--no-access-log", "--log-level", "warning", "--port", "{port}")
UVICORN = (PYTHON, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools",
           "--no-access-log", "--log-level", "warning", "--port", "{port}")
GRANIAN = (str(BIN / "granian"), "--interface", "asgi", "--workers", "1", "--log-level",
           "warning", "--port", "{port}")

# scenario -> (URL path, [(server name, command)]); the first server is the baseline.
SCENARIOS: dict[str, tuple[str, list[tuple[str, tuple[str, ...]]]]] = {
    "raw": ("/", [("aioweb", (*AIOWEB, "examples.asgi_hello:app")),
                  ("aioweb --eager", (*AIOWEB, "--eager", "examples.asgi_hello:app")),
                  ("uvicorn", (*UVICORN, "examples.asgi_hello:app")),
                  ("granian", (*GRANIAN, "examples.asgi_hello:app"))]),
    "fastapi": ("/", [("aioweb", (*AIOWEB, "examples.asgi_hello:fastapi_app")),
                      ("uvicorn", (*UVICORN, "examples.asgi_hello:fastapi_app"))]),
    "router": ("/", [
        ("AsgiHandler alone", (*AIOWEB, "examples.asgi_hello:app")),
        ("Router, sleep(0) hop", (*AIOWEB, "--interface", "native",
                                  "examples.asgi_hello:routed_hop")),
        ("Router, awaits a new Task", (*AIOWEB, "--interface", "native",
                                       "examples.asgi_hello:routed_two_tasks")),
        ("Router, runs_eagerly False", (*AIOWEB, "--interface", "native",
                                        "examples.asgi_hello:routed_lazy"))]),
    "native": ("/native", [
        ("Router eager, native route", (*AIOWEB, "examples.asgi_hello:routed_hop")),
        ("Router lazy, native route", (*AIOWEB, "examples.asgi_hello:routed_lazy"))]),
    "hot": ("/prices/AAPL", [
        ("aioweb router (after)", (*AIOWEB, "examples.fastapi_hot_route:router")),
        ("aioweb fastapi (before)", (*AIOWEB, "examples.fastapi_hot_route:app")),
        ("uvicorn fastapi", (*UVICORN, "examples.fastapi_hot_route:app"))]),
}


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds_of_group(group: int) -> float:
    """User+system CPU seconds of every process in a process group (granian forks)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="latin-1").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far."""
    first_line = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0]
    fields = [int(v) for v in first_line.split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Server:
    """One server process, pinned, in its own process group."""

    def __init__(self, command: tuple[str, ...]) -> None:
        self.port = free_port()
        argv = ["taskset", "-c", SERVER_CPU,
                *(arg.replace("{port}", str(self.port)) for arg in command)]
        # Its log goes to a file: a pipe nobody reads would fill and stall it.
        self.log = tempfile.TemporaryFile()  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            argv, cwd=ROOT, start_new_session=True, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers (a 404 on "/" is an answer)
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"{command} did not start:\n{self.log.read().decode(errors='replace')}")

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL if it lingers."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.log.close()


def wrk(port: int, path: str, connections: int, seconds: int) -> tuple[float, int, int, str]:
    """One pinned wrk run: requests/second, requests, socket errors + non-2xx, mean latency."""
    output = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True,
        timeout=seconds + 30).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", output)
    return rate, count, errors + (int(non_2xx.group(1)) if non_2xx else 0), \
        latency.group(1) if latency else "?"


@dataclasses.dataclass(frozen=True)
class Run:
    """One kept measurement."""

    rate: float  # requests/second
    cost: float  # server CPU µs per request
    errors: int  # socket errors and non-2xx responses
    others: float  # CPUs' worth of time other processes took meanwhile


def measure(server: Server, path: str, connections: int, seconds: int) -> Run:
    """Warm up, then measure; measure again, once, if the run was disturbed.

    The CPU cost per request hardly moves when other processes take CPU time
    (they take it from the throughput, not from the work per request), so it
    is the number to trust on a busy machine.
    """
    wrk(server.port, path, connections, 1)
    for attempt in range(2):
        machine, own = machine_cpu_seconds(), cpu_seconds_of_group(server.process.pid)
        children = os.times().children_user + os.times().children_system
        started = time.monotonic()
        rate, count, errors, latency = wrk(server.port, path, connections, seconds)
        elapsed = time.monotonic() - started
        wrk_cpu = os.times().children_user + os.times().children_system - children
        server_cpu = cpu_seconds_of_group(server.process.pid) - own
        other = (machine_cpu_seconds() - machine - server_cpu - wrk_cpu) / elapsed
        cost = server_cpu / max(count, 1) * 1e6
        note = "" if other <= DISTURBED else f" DISTURBED (others used {other:.2f} CPU)"
        print(f"    c={connections}: {rate:9.0f} req/s, {cost:6.1f} CPU µs/request, "
              f"mean latency {latency}, {errors} errors{note}", file=sys.stderr, flush=True)
        if other <= DISTURBED or attempt == 1:
            return Run(rate, cost, errors, other)
    raise AssertionError("unreachable")


def run(scenario: str, rounds: int, seconds: int, connection_counts: list[int]) -> str:
    """Benchmark one scenario; its report as a markdown table."""
    path, servers = SCENARIOS[scenario]
    runs: dict[tuple[str, int], list[Run]] = {}
    for round_number in range(1, rounds + 1):
        for name, command in servers:
            print(f"[{scenario}] round {round_number}: {name}", file=sys.stderr, flush=True)
            server = Server(command)
            try:
                for connections in connection_counts:
                    runs.setdefault((name, connections), []).append(
                        measure(server, path, connections, seconds))
            finally:
                server.stop()
    baseline = servers[0][0]
    lines = [f"### {scenario}: GET {path}, median of {rounds} rounds, {seconds} s each", "",
             f"| server | connections | req/s (median) | rounds | ratio to {baseline} | "
             "server CPU µs/request | errors | disturbed runs (max others' CPU) |",
             "|---|---|---|---|---|---|---|---|"]
    for connections in connection_counts:
        base = statistics.median(run.rate for run in runs[(baseline, connections)])
        for name, _ in servers:
            kept = runs[(name, connections)]
            median = statistics.median(run.rate for run in kept)
            disturbed = sum(run.others > DISTURBED for run in kept)
            lines.append(
                f"| {name} | {connections} | {median:,.0f} | "
                f"{' / '.join(f'{run.rate:,.0f}' for run in kept)} | {median / base:.2f} | "
                f"{statistics.median(run.cost for run in kept):.1f} | "
                f"{sum(run.errors for run in kept)} | "
                f"{disturbed} ({max(run.others for run in kept):.2f}) |")
    return "\n".join(lines)


def main() -> int:
    """Parse the flags, run the scenarios, print the reports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", default="50,256")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    counts = [int(c) for c in args.connections.split(",")]
    # SIGTERM becomes SystemExit, so the running server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    reports = [run(name, args.rounds, args.duration, counts)
               for name in args.scenarios or SCENARIOS]
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
