"""What one request costs each server on the wire, in instructions and cycles.

    python -m bench.wire_cost                       # every server, c=50, 3 rounds
    python -m bench.wire_cost --servers aioweb,uvicorn --connections 256
    python -m bench.wire_cost --servers aioweb-asgi,uvicorn,floor-asgi \
        --app examples.asgi_hello:fastapi_app      # the ASGI servers, another app

Requests per second measure the machine as much as the server: on a shared
host they move by a third from one run to the next while nothing in the
server changed. The instructions a server runs per request do not. Here each
server runs pinned to CPU 0 and wrk to CPU 1, as in ``make bench``, and
``perf stat`` counts everything that ran on CPU 0 while wrk loaded it: the
server's own code (user) and the kernel's work for its socket calls. Divided
by the requests wrk completed, that is the cost of one request on the real
path, sockets included, which the in-process counters (bench/instructions.py)
leave out. Cycles per request are shown too: they add what the caches and the
host's noise do to those instructions, so they move more.

It needs ``perf`` (Debian: ``apt-get install linux-perf``) and the right to
count a whole CPU (root, or ``kernel.perf_event_paranoid`` <= 0). Rounds are
interleaved like ``make bench``'s; the table gives the median of each column.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load_generator import WRK, LoadClient, SetupFailed, load_client, run_load
from bench.cpu_accounting import SERVER_CPU
from bench.servers import DEFAULT_APP, SERVERS, running_server, serving_app, unavailable_reason

WARM_UP_SECONDS = 1
PERF_EVENTS = ("instructions:u", "instructions:k", "cycles")


@dataclass(frozen=True)
class WireCost:
    """One measured run: per-request counts on the server's CPU, and the rate."""

    user_instructions: float
    kernel_instructions: float
    cycles: float
    requests_per_second: float


def parse_perf_csv(text: str) -> dict[str, int]:
    """``perf stat -x,`` output: one "value,unit,event,..." line per event."""
    counts = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2] in PERF_EVENTS and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    missing = set(PERF_EVENTS) - set(counts)
    if missing:
        raise RuntimeError(f"perf counted no {', '.join(sorted(missing))}:\n{text}")
    return counts


def measure(client: LoadClient, port: int, connections: int, duration: int) -> WireCost:
    """Count CPU 0's events while wrk loads the server once."""
    run_load(client, port, connections, WARM_UP_SECONDS)
    with tempfile.NamedTemporaryFile("w+", suffix=".perf") as output:
        perf = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped below
            ["perf", "stat", "-x,", "-o", output.name, "-C", str(SERVER_CPU),
             "-e", ",".join(PERF_EVENTS)], stdin=subprocess.DEVNULL)
        time.sleep(0.2)  # perf has set its counters up
        try:
            result = run_load(client, port, connections, duration)
        finally:
            perf.send_signal(signal.SIGINT)  # prints the counts and exits
            perf.wait(timeout=10)
        counts = parse_perf_csv(Path(output.name).read_text(encoding="utf-8"))
    requests = result.total_requests
    return WireCost(counts["instructions:u"] / requests, counts["instructions:k"] / requests,
                    counts["cycles"] / requests, result.requests_per_second)


def run_rounds(client: LoadClient, names: list[str], costs: dict[str, list[WireCost]],
               args: argparse.Namespace, log_dir: Path) -> None:
    """Interleaved rounds: every server once per round, in order."""
    for round_number in range(1, args.rounds + 1):
        for name in names:
            with running_server(serving_app([name], args.app)[name], log_dir) as (_process, port):
                cost = measure(client, port, args.connections, args.duration)
            costs[name].append(cost)
            print(f"round {round_number}: {name}: {cost.user_instructions:,.0f} user + "
                  f"{cost.kernel_instructions:,.0f} kernel instructions, "
                  f"{cost.cycles:,.0f} cycles, {cost.requests_per_second:,.0f} req/s",
                  flush=True)


def main() -> int:
    """Measure each server in interleaved rounds and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help=f"comma-separated, of {', '.join(SERVERS)}")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--duration", type=int, default=3, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app", default=DEFAULT_APP, metavar="MODULE:ATTR",
                        help=f"the app the ASGI servers serve ({DEFAULT_APP})")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        print("needs perf (apt-get install linux-perf)", file=sys.stderr)
        return 2
    names = [name for name in args.servers.split(",") if unavailable_reason(SERVERS[name]) is None]
    if args.app != DEFAULT_APP and (fixed := [n for n in names if not SERVERS[n].serves_any_app]):
        parser.error(f"--app is for ASGI servers; {', '.join(fixed)} serve(s) their own")
    costs: dict[str, list[WireCost]] = {name: [] for name in names}
    try:
        with load_client(WRK) as client, \
                tempfile.TemporaryDirectory(prefix="wire-cost-") as log_dir:
            run_rounds(client, names, costs, args, Path(log_dir))
    except SetupFailed as exc:  # no wrk, no taskset, too few CPUs
        print(exc, file=sys.stderr)
        return 2
    print(f"\nper request at c={args.connections}, medians of {args.rounds} rounds")
    width = max(len(name) for name in ("server", *costs))
    print(f"{'server':<{width}} {'user instr':>11} {'kernel instr':>13} {'cycles':>9} {'req/s':>8}")
    for name, runs in costs.items():
        print(f"{name:<{width}} {statistics.median(c.user_instructions for c in runs):>11,.0f} "
              f"{statistics.median(c.kernel_instructions for c in runs):>13,.0f} "
              f"{statistics.median(c.cycles for c in runs):>9,.0f} "
              f"{statistics.median(c.requests_per_second for c in runs):>8,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
