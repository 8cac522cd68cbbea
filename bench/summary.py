"""What a session's runs add up to: medians per server and connection count, and ratios.

``summarize`` turns the session's measurements (bench/session.py) into one
``Summary`` per server and connection count, over the rounds: the median
requests/second and latency percentiles, the CPU shares, the errors.  Noisy
rounds (others took CPU time, bench/cpu_accounting.py) are left out
when at least one round was quiet.  ``ratios`` divides each SUBJECT's median
by each REFERENCE's (bench/servers.py); ``paired_ratios`` divides round by
round instead, and says how far the rounds spread.  Standard library only.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.cpu_accounting import NOISY_OTHER_LOAD
from bench.servers import REFERENCE, SUBJECT
from bench.session import Session


@dataclass
class Summary:
    """One server at one connection count, over all its rounds.

    The medians, min - max and CPU shares are over the quiet runs (CPU other
    at most NOISY_OTHER_LOAD) when there is at least one: a run that stayed
    noisy after its re-runs measured the machine's other work as much as the
    server.  Only when every round was noisy are they over all the runs (and
    the report warns)."""

    server: str
    role: str  # SUBJECT or REFERENCE (bench/servers.py): which side of a ratio it takes
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
                role=session.specs[server].role,
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
    roles = {s.server: s.role for s in summaries}  # in the order measured
    table: dict[str, dict[int, float]] = {}
    for subject in (n for n, role in roles.items() if role == SUBJECT):
        for reference in (n for n, role in roles.items() if role == REFERENCE):
            row = {connections: median[subject, connections] / median[reference, connections]
                   for (name, connections) in median
                   if name == subject and (reference, connections) in median
                   and median[reference, connections] > 0}
            if row:
                table[f"{subject} / {reference}"] = row
    return table


@dataclass(frozen=True)
class PairedRatio:
    """One subject over one reference at one connection count, round by round.

    A round runs the servers one after the other, seconds apart, so a slow
    drift of the machine moves both rates of a round alike, and their ratio
    less than either.  The spread of these ratios is what one round's ratio
    can be trusted to: on a host whose load the guest cannot see, it can be
    wider than any gap between the servers (docs/benchmarks.md).
    """

    median: float
    low: float
    high: float
    rounds: int  # the rounds in which both were measured (both quiet, if any were)


def paired_ratios(session: Session, summaries: Sequence[Summary]
                  ) -> dict[str, dict[int, PairedRatio]]:
    """The pairs of ``ratios``, each ratio taken within each round: over the
    rounds where both runs were quiet, or over all when none was."""
    rates = {(m.server, m.connections, m.round_number): m for m in session.measurements}
    roles = {s.server: s.role for s in summaries}
    counts = sorted({s.connections for s in summaries})
    table: dict[str, dict[int, PairedRatio]] = {}
    for subject in (n for n, role in roles.items() if role == SUBJECT):
        for reference in (n for n, role in roles.items() if role == REFERENCE):
            row = {}
            for connections in counts:
                pairs = [(m, rates[reference, connections, n])
                         for (name, c, n), m in rates.items()
                         if name == subject and c == connections
                         and (reference, connections, n) in rates]
                pairs = [(a, b) for a, b in pairs if b.result.requests_per_second > 0]
                quiet = [(a, b) for a, b in pairs
                         if max(a.cpu.other, b.cpu.other) <= NOISY_OTHER_LOAD]
                values = [a.result.requests_per_second / b.result.requests_per_second
                          for a, b in quiet or pairs]
                if values:
                    row[connections] = PairedRatio(statistics.median(values), min(values),
                                                   max(values), len(values))
            if row:
                table[f"{subject} / {reference}"] = row
    return table
