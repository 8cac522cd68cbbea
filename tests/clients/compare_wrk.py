"""Measure client.go and client.py against wrk, as docs/clients.md reports.

    .venv/bin/python tests/clients/compare_wrk.py [--runs 3] [--duration 5]

Starts bench/control_server.py pinned to CPU 0, builds client.go, then runs
wrk, client.go and client.py (50 connections each) pinned to CPU 1, in turn,
until each has --runs undisturbed runs: a run starts after half a second in
which the machine was 95 % idle, and is kept only if processes other than
the server and the client took less than 5 % of the machine while it ran.
Prints every run and the medians with their ratio to wrk. Linux only; needs
wrk, go and taskset. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")
OTHER_MAX = 0.05  # of the machine's two CPUs


def machine_busy_ticks() -> int:
    """CPU ticks the whole machine has spent busy since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def process_ticks(pid: int) -> int:
    """CPU ticks (user + system) one process has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_quiet(limit: float = 120.0) -> None:
    """Wait (at most limit seconds) for half a second with the machine 95 % idle."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = machine_busy_ticks()
        time.sleep(0.5)
        if (machine_busy_ticks() - before) / TICK / 0.5 < 0.1:
            return
        time.sleep(1.0)


def rate_of(name: str, output: str) -> tuple[float, bool]:
    """The rate a run reported, and whether it saw errors."""
    if name == "wrk":
        match = re.search(r"Requests/sec:\s+([\d.]+)", output)
        if match is None:
            raise RuntimeError(f"no rate in wrk's output:\n{output}")
        return float(match.group(1)), bool(re.search(r"Socket errors|Non-2xx", output))
    report = json.loads(output)
    return float(report["rate"]), report["errors"] > 0


def main() -> int:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3, help="kept runs per client (3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    parser.add_argument("--port", type=int, default=18090, help="the server's port (18090)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the server is stopped
    url = f"http://127.0.0.1:{args.port}/"
    secs = f"{args.duration}s"
    with tempfile.TemporaryDirectory() as tmp:
        go_client = str(Path(tmp) / "client")
        subprocess.run(["go", "build", "-o", go_client, "client.go"], cwd=ROOT, check=True)
        commands = {
            "wrk": ["wrk", "-t1", "-c50", f"-d{secs}", url],
            "client.go": [go_client, "-c", "50", "-d", secs, "-json", url],
            "client.py": [sys.executable, str(ROOT / "client.py"), "-c", "50", "-d", secs,
                          "-json", url],
        }
        server = subprocess.Popen(  # pylint: disable=consider-using-with
            ["taskset", "-c", "0", sys.executable, str(ROOT / "bench" / "control_server.py"),
             "--port", str(args.port)], stdout=subprocess.PIPE)
        try:
            assert server.stdout is not None
            if not server.stdout.readline():
                raise SystemExit("the control server did not start")
            kept = measure(commands, server.pid, args.runs, args.duration)
        finally:
            server.kill()
            server.wait()
    base = statistics.median(kept["wrk"]) if kept["wrk"] else float("nan")
    for name, rates in kept.items():
        if rates:
            median = statistics.median(rates)
            print(f"{name:10s} median {median:10.0f} req/s  runs {[round(r) for r in rates]}  "
                  f"ratio to wrk {median / base:.3f}")
    return 0


def measure(commands: dict[str, list[str]], server_pid: int, runs: int,
            duration: int) -> dict[str, list[float]]:
    """Run the commands in turn until each has runs undisturbed runs."""
    kept: dict[str, list[float]] = {name: [] for name in commands}
    attempt = 0
    while min(len(v) for v in kept.values()) < runs and attempt < runs * 6:
        attempt += 1
        for name, command in commands.items():
            wait_quiet()
            before = (resource.getrusage(resource.RUSAGE_CHILDREN), process_ticks(server_pid),
                      machine_busy_ticks(), time.monotonic())
            proc = subprocess.run(["taskset", "-c", "1", *command], capture_output=True,
                                  text=True, timeout=duration + 60, check=True)
            wall = time.monotonic() - before[3]
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            client = (usage.ru_utime + usage.ru_stime - before[0].ru_utime
                      - before[0].ru_stime) / wall
            server = (process_ticks(server_pid) - before[1]) / TICK / wall
            other = (machine_busy_ticks() - before[2]) / TICK / wall - client - server
            rate, errors = rate_of(name, proc.stdout)
            good = other < 2 * OTHER_MAX and not errors
            if good and len(kept[name]) < runs:
                kept[name].append(rate)
            print(f"attempt {attempt} {name:10s} {rate:10.0f} req/s  server {100 * server:5.1f}%  "
                  f"client {100 * client:5.1f}%  others {50 * other:5.1f}% of the machine"
                  f"{'' if good else '  (disturbed: not kept)'}", flush=True)
    return kept


if __name__ == "__main__":
    raise SystemExit(main())
