"""``make bench``: every server at several concurrencies, a table, two plots, the docs.

    .venv/bin/python -m bench.bench [--rounds 3] [--duration 4]
        [--connections 1,16,50,256] [--servers NAME,...]
        [--client auto|wrk|go] [--noisy-retries 2] [--json FILE]
        [--img-dir docs/img] [--doc docs/benchmarks.md | --no-doc] [--from-json FILE]

It runs bench_core's session (bench/session.py: each server in turn pinned to
CPU 0, the load generator pinned to CPU 1, interleaved rounds, noisy runs
measured again), then:

1. prints the result and ratio tables (stdout);
2. draws ``throughput.png`` and ``latency.png`` into ``--img-dir``
   (bench/plots.py);
3. rewrites the marked results section of ``--doc`` (between DOC_BEGIN and
   DOC_END; appended at the end if the markers are missing) with the command,
   the machine, the plots and the tables.  The rest of the page is left as it is.

With ``--from-json FILE`` it measures nothing and does 1-3 for the run that
``--json FILE`` saved (to redraw the plots, or after changing the report).

Run it from the project root, as ``python -m bench.bench`` or as
``python bench/bench.py``.  The exit status is bench_core's: 1 if a server
failed or the client saw errors, 2 if the machine cannot run it.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

if not __package__:  # run as a file (python bench/bench.py), not with -m:
    # import ``bench`` as the package from the project root, not as this file
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

# pylint: disable=wrong-import-position
from bench import bench_core  # noqa: E402
from bench.cpu_accounting import CLIENT_CPU, NOISY_OTHER_LOAD, SERVER_CPU  # noqa: E402
from bench.load_generator import SetupFailed  # noqa: E402
from bench.plots import plot_all  # noqa: E402
from bench.report import (  # noqa: E402
    RESULT_COLUMNS, print_markdown_table, print_problems, print_text_report, ratio_table_rows,
    result_rows)
from bench.results_json import read_session, write_json  # noqa: E402
from bench.servers import PROJECT_ROOT  # noqa: E402
from bench.session import Session  # noqa: E402
from bench.summary import Summary, summarize  # noqa: E402

DEFAULT_CONNECTIONS = (1, 16, 50, 256)
DOC_BEGIN = "<!-- bench:results:begin: written by `make bench`, edits in here are lost -->"
DOC_END = "<!-- bench:results:end -->"
DOC_HEADING = "## Results of `make bench`"


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    """bench_core's session flags with this driver's defaults, plus where to write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    bench_core.add_session_options(parser, rounds=3, duration=4, connections=DEFAULT_CONNECTIONS)
    parser.add_argument("--img-dir", type=Path, default=PROJECT_ROOT / "docs" / "img",
                        help="where the PNG plots go (docs/img)")
    parser.add_argument("--doc", type=Path,
                        default=PROJECT_ROOT / "docs" / "benchmarks.md",
                        help="the page whose results section is rewritten (docs/benchmarks.md)")
    parser.add_argument("--no-doc", action="store_true",
                        help="leave the page alone (the plots are still drawn)")
    parser.add_argument("--from-json", type=Path, metavar="FILE",
                        help="measure nothing: report, plot and document the run that "
                             "--json saved in FILE")
    options = parser.parse_args(argv)
    bench_core.check_session_options(parser, options)
    return options


def duration_text(seconds: float) -> str:
    """372.4 -> '6 min 12 s'."""
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The report's markdown table, as a string."""
    out = io.StringIO()
    print_markdown_table(columns, rows, out)
    return out.getvalue()


def results_section(summaries: Sequence[Summary], run: Run, *, plots: Sequence[Path],
                    doc: Path) -> str:
    """The markdown that goes between the markers: everything one run says."""
    session = run.session
    took = (f"the run took {duration_text(run.elapsed_seconds)}"
            if run.elapsed_seconds is not None else "its duration was not recorded")
    parts = [
        f"_Written by `make bench` for its run of {run.started_at:%Y-%m-%d %H:%M} UTC "
        f"({took}); every run rewrites this section, plots included._",
        f"Command: `{run.command_line}`",
        markdown_table(("machine", ""), [
            *([key, value] for key, value in run.machine.items()),
            ["pinning", f"server on CPU {SERVER_CPU}, {session.client.kind} on CPU {CLIENT_CPU}"],
        ]).rstrip(),
    ]
    titles = {"throughput.png": "Throughput per server and concurrency",
              "latency.png": "Latency percentiles per server and concurrency"}
    for plot in plots:
        relative = Path(os.path.relpath(plot.resolve(), doc.resolve().parent)).as_posix()
        parts.append(f"![{titles.get(plot.name, plot.stem)}]({relative})")
    parts.append(markdown_table(RESULT_COLUMNS, result_rows(summaries)).rstrip())
    ratio_columns, ratio_rows = ratio_table_rows(summaries)
    if ratio_rows:
        parts.append(markdown_table(ratio_columns, ratio_rows).rstrip())
    problems = io.StringIO()
    print_problems(summaries, session, problems)
    if notes := problems.getvalue().strip():
        parts.append("What the driver noticed during this run:\n\n```text\n"
                     + wrap_notes(notes) + "\n```")
    else:
        parts.append("The driver noticed nothing: no errors, no failures, and every run "
                     f"was quiet (CPU other at most {NOISY_OTHER_LOAD}).")
    return "\n\n".join(parts) + "\n"


def wrap_notes(text: str, width: int = 96) -> str:
    """The report's notes, long lines folded so the page needs no side scrolling;
    indented lines (a failed server's log) stay as they are."""
    return "\n".join(
        textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)
        if len(line) > width and not line.startswith(" ") else line
        for line in text.splitlines())


def rewrite_doc(doc: Path, section: str) -> None:
    """Put ``section`` between the markers of ``doc``, or append it with them."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    begin, end = text.find(DOC_BEGIN), text.find(DOC_END)
    if begin != -1 and end > begin:
        text = text[:begin + len(DOC_BEGIN)] + "\n\n" + section + "\n" + text[end:]
    else:
        text = (text.rstrip("\n") + f"\n\n{DOC_HEADING}\n\n{DOC_BEGIN}\n\n{section}\n"
                f"{DOC_END}\n")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


@dataclass
class Run:
    """One benchmark run, measured now or read back from its JSON file."""

    session: Session
    machine: dict[str, str]
    command_line: str
    started_at: datetime
    elapsed_seconds: float | None  # None: not recorded
    rounds: int
    duration: int
    servers: list[str]
    connections: list[int]


def measure(options: argparse.Namespace, command_line: str) -> Run | None:
    """Run the session; None if this machine cannot (the reason is printed)."""
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    try:
        machine, session = bench_core.run_benchmark(options)
    except SetupFailed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return None
    return Run(session, machine, command_line, started_at, time.monotonic() - started,
               options.rounds, options.duration, options.servers, options.connections)


def replay(path: Path) -> Run:
    """A run that ``--json`` saved, to report, plot and document again."""
    document, session = read_session(path)
    settings = document["settings"]
    started_at = (datetime.fromisoformat(document["started_at"]) if "started_at" in document
                  else datetime.fromtimestamp(path.stat().st_mtime, timezone.utc))
    return Run(session, document["machine"], document["command"], started_at,
               document.get("elapsed_seconds"), settings["rounds"],
               settings["duration_seconds"], settings["servers"], settings["connections"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the session (or read one back), report, plot, rewrite the page."""
    options = parse_options(argv)
    command_line = " ".join([".venv/bin/python", "-m", "bench.bench",
                             *(sys.argv[1:] if argv is None else argv)])
    started = time.monotonic()
    run = replay(options.from_json) if options.from_json else measure(options, command_line)
    if run is None:
        return 2
    session = run.session
    summaries = summarize(session, run.servers, run.connections)
    print(file=sys.stderr)
    print_text_report(summaries, session, sys.stdout)

    subtitle = (f"{run.rounds} round{'s' if run.rounds != 1 else ''} of "
                f"{run.duration} s per point, load from {session.client.kind} on another "
                f"core; {run.machine['cpu model']}, {run.machine['python']}")
    if noisy := [s for s in summaries if not s.quiet_runs]:
        subtitle += ("\nnoisy machine (other processes or the host took CPU time) in every "
                     f"round of {len(noisy)} of {len(summaries)} points: see the notes under "
                     "the table")
    plots = plot_all(summaries, subtitle, options.img_dir)
    print(f"\nplots: {', '.join(str(p) for p in plots) or 'none (nothing measured)'}")
    if options.json and not options.from_json:
        write_json(options.json, options, command_line, run.machine, session, summaries,
                   extra={"started_at": run.started_at.isoformat(),
                          "elapsed_seconds": run.elapsed_seconds})
        print(f"raw runs: {options.json}")
    if session.interrupted:
        print(f"interrupted: {options.doc} left as it was")
    elif not options.no_doc:
        rewrite_doc(options.doc, results_section(summaries, run, plots=plots, doc=options.doc))
        print(f"results section rewritten: {options.doc}")
    print(f"took {duration_text(time.monotonic() - started)}", file=sys.stderr)
    return bench_core.exit_status(session, summaries)


if __name__ == "__main__":
    raise SystemExit(main())
