"""A benchmark session: interleaved rounds of every server, noisy runs measured again.

In every round, for every server in turn, ``benchmark_one_server`` starts the
server (bench/servers.py) and, for each connection count, runs a warm-up load
and then the measured one (bench/load_generator.py), reading meanwhile who
used the CPUs (bench/cpu_accounting.py).  Rounds are interleaved (round 1
runs every server once, then round 2, ...) so that a slow drift of the
machine (heat, a noisy neighbour) spreads over every server instead of
landing on whichever ran last.  A run during which others took CPU
time is measured again, up to ``--noisy-retries`` times.  A server that fails
is left out of later rounds; one that cannot run here is not started.  The
``Session`` holds every measurement and problem, for bench/summary.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu_accounting import (
    NOISY_OTHER_LOAD, CpuShares, finished_children_cpu_seconds, machine_cpu_seconds,
    process_group_cpu_seconds, wait_for_quiet)
from bench.load_generator import LoadClient, LoadFailed, LoadResult, run_load
from bench.servers import SERVERS, ServerFailed, ServerSpec, running_server, unavailable_reason

WARM_UP_SECONDS = 1


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
    # The servers it may run, by name: the SERVERS table, or a scenario's own
    # (examples/bench_asgi.py); their roles decide the ratios (summary.py).
    specs: Mapping[str, ServerSpec] = field(default_factory=lambda: SERVERS)
    measurements: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # human-readable, one per problem
    unavailable: dict[str, str] = field(default_factory=dict)  # server -> why it did not run
    interrupted: bool = False  # Ctrl-C: the measurements so far, not the whole session


def measured_run(client: LoadClient, port: int, connections: int, duration_seconds: int,
                 server_group: int, path: str = "/", scheme: str = "http"
                 ) -> tuple[LoadResult, CpuShares]:
    """A client run, and how the CPUs' time was shared while it ran."""
    machine_before = machine_cpu_seconds()
    server_before = process_group_cpu_seconds(server_group)
    client_before = finished_children_cpu_seconds()
    started = time.monotonic()
    result = run_load(client, port, connections, duration_seconds, path, scheme)
    elapsed = time.monotonic() - started
    machine_used = machine_cpu_seconds() - machine_before
    server_used = process_group_cpu_seconds(server_group) - server_before
    client_used = finished_children_cpu_seconds() - client_before
    other_used = max(0.0, machine_used - server_used - client_used)  # clock ticks are coarse
    return result, CpuShares(server_used / elapsed, client_used / elapsed, other_used / elapsed)


def measure(client: LoadClient, port: int, connections: int, options: argparse.Namespace,
            server_group: int, path: str = "/", scheme: str = "http"
            ) -> tuple[LoadResult, CpuShares, int]:
    """Warm up, then the measured run; run it again if others (processes, the host) took
    CPU time meanwhile (up to --noisy-retries times), since a shared machine
    makes such runs slow for reasons that have nothing to do with the server.
    Returns the result, its CPU shares and how many noisy runs were discarded."""
    for attempt in range(options.noisy_retries + 1):
        # Thrown away: the first second pays for opening the connections and
        # for the server's cold caches and lazy setup.
        run_load(client, port, connections, WARM_UP_SECONDS, path, scheme)
        result, cpu = measured_run(client, port, connections, options.duration, server_group,
                                   path, scheme)
        if cpu.other <= NOISY_OTHER_LOAD or attempt == options.noisy_retries:
            return result, cpu, attempt
        print(f"  c={connections}: others (processes, the host) took {cpu.other:.2f} CPU, "
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
        spec = session.specs[name]
        with running_server(spec, log_dir) as (process, port):
            for connections in options.connections:
                try:
                    result, cpu, discarded = measure(session.client, port, connections, options,
                                                     server_group=process.pid, path=spec.path,
                                                     scheme=spec.scheme)
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


def run_session(options: argparse.Namespace, client: LoadClient,
                specs: Mapping[str, ServerSpec] | None = None) -> Session:
    """All rounds, interleaved: every round runs every (still working) server
    of ``options.servers`` once, each started as ``specs`` (SERVERS) says."""
    specs = SERVERS if specs is None else specs
    session = Session(client, specs)
    servers = []
    for name in options.servers:
        if reason := unavailable_reason(specs[name]):
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
