"""The report of a session: the machine, the result and ratio tables, the problems.

It comes as text for a terminal (``print_text_report``) or as markdown for
docs/benchmarks.md (``print_markdown_report``); bench/bench.py builds the
page's results section from the same pieces (``result_rows``,
``ratio_table_rows``, ``print_problems``).  The problems part names every
failure, error and doubt about a number (noisy rounds, a client that was
the bottleneck), so that none goes unseen.  Standard library only.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from bench.cpu_accounting import NOISY_OTHER_LOAD, SATURATED_CPU
from bench.load_generator import LoadClient
from bench.session import Session
from bench.summary import Summary, paired_ratios, ratios

VERSIONS_OF = ("aioweb", "httptools", "uvloop", "uvicorn", "granian")


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


def paired_ratio_rows(summaries: Sequence[Summary], session: Session
                      ) -> tuple[list[str], list[list[str]]]:
    """The ratios taken round by round, as (column names, rows): the median
    and, in brackets, the lowest and highest round."""
    table = paired_ratios(session, summaries)
    connection_counts = sorted({c for row in table.values() for c in row})
    columns = ["ratio in each round: median (min - max)", *(f"c={c}" for c in connection_counts)]
    rows = [[label, *(f"{row[c].median:.2f} ({row[c].low:.2f} - {row[c].high:.2f})"
                      if c in row else "n/a" for c in connection_counts)]
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


# How print_tables draws one table: print_aligned or print_markdown_table.
TablePrinter = Callable[[Sequence[str], Sequence[Sequence[str]], TextIO], None]


def print_tables(summaries: Sequence[Summary], session: Session, print_table: TablePrinter,
                 out: TextIO) -> None:
    """The result table, then the ratio tables (of the medians, and round by
    round) when a subject and a reference were both measured; the text and the
    markdown report differ only in ``print_table``."""
    print_table(RESULT_COLUMNS, result_rows(summaries), out)
    for columns, rows in (ratio_table_rows(summaries), paired_ratio_rows(summaries, session)):
        if rows:
            print(file=out)
            print_table(columns, rows, out)


def print_text_report(summaries: Sequence[Summary], session: Session, out: TextIO) -> None:
    """The report for a terminal."""
    print_tables(summaries, session, print_aligned, out)
    print_problems(summaries, session, out)


def print_markdown_report(summaries: Sequence[Summary], session: Session,
                          command_line: str, machine: dict[str, str], out: TextIO) -> None:
    """The same report as markdown, ready for docs/benchmarks.md."""
    print(f"Command: `{command_line}`\n", file=out)
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()) + "\n",
          file=out)
    print_tables(summaries, session, print_markdown_table, out)
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
        print(f"\nWARNING: other processes or the host took CPU time (CPU other > "
              f"{NOISY_OTHER_LOAD}) in every round of {names(noisy)} (re-runs included): "
              "those numbers are low; run again on a quiet machine", file=out)
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
