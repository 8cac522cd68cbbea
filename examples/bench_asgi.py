"""Benchmark ASGI serving by scenario: aioweb against its peers, and the hot-route move.

    .venv/bin/python examples/bench_asgi.py [raw|fastapi|router|native|hot ...]
        [--rounds 3] [--duration 5] [--connections 50,256] [--client auto|wrk|go]
        [--noisy-retries 2] [--markdown]

A scenario is a set of servers answering the same request, each serving the
app it names:

* ``raw``     — a raw ASGI hello app (examples/asgi_hello.py) on the aioweb CLI
  (as is, and with ``--eager``: no Task, which a raw app never needs),
  ``uvicorn --loop uvloop --http httptools`` and ``granian --interface asgi``
  (one worker);
* ``fastapi`` — a FastAPI hello app on aioweb, on uvicorn and granian, and on
  the floor (bench/floor_server.py: the least a server can do around it);
* ``router``  — the raw app reached through a Router's fallback, each of the
  ways docs/asgi.md ("Eagerness") compares, against AsgiHandler alone;
* ``native``  — ``GET /native``, a native route of the eager and the lazy Router;
* ``hot``     — examples/fastapi_hot_route.py, ``GET /prices/AAPL``: the
  Router with the hot route native ("after") against the unchanged FastAPI
  app on aioweb ("before") and on uvicorn.

The method is ``bench/bench_core.py``'s, run by the same code (bench/session.py
and its neighbours): each server pinned to CPU 0 and the load generator (wrk)
to CPU 1, interleaved rounds, a 1 s warm-up before each measured run, runs
during which other processes took CPU time measured again, medians over the
rounds. Each scenario's report gives the ratio of every SUBJECT (aioweb,
or the way of serving measured) to every REFERENCE (a peer, or the way it is
compared with).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as a file: import ``bench`` from the project root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

# pylint: disable=wrong-import-position
from bench import bench_core  # noqa: E402
from bench.load_generator import SetupFailed, load_client  # noqa: E402
from bench.report import (  # noqa: E402
    machine_description, print_markdown_report, print_text_report)
from bench.servers import REFERENCE, ServerSpec, serving  # noqa: E402
from bench.session import run_session  # noqa: E402
from bench.summary import summarize  # noqa: E402

HELLO = "examples.asgi_hello:app"
FASTAPI_HELLO = "examples.asgi_hello:fastapi_app"
HOT_PATH = "/prices/AAPL"  # the route examples/fastapi_hot_route.py moves

# scenario -> its servers, by the name its report gives them.
SCENARIOS: dict[str, dict[str, ServerSpec]] = {
    "raw": {
        "aioweb-asgi": serving("aioweb-asgi", HELLO),
        "aioweb-asgi-eager": serving("aioweb-asgi-eager", HELLO),
        "uvicorn": serving("uvicorn", HELLO),
        "granian": serving("granian", HELLO),
    },
    "fastapi": {
        "aioweb-asgi": serving("aioweb-asgi", FASTAPI_HELLO),
        "uvicorn": serving("uvicorn", FASTAPI_HELLO),
        "granian": serving("granian", FASTAPI_HELLO),
        "floor-asgi": serving("floor-asgi", FASTAPI_HELLO),
    },
    "router": {
        "Router, sleep(0) hop": serving("aioweb-asgi", "examples.asgi_hello:routed_hop"),
        "Router, awaits a new Task": serving("aioweb-asgi",
                                             "examples.asgi_hello:routed_two_tasks"),
        "Router, runs_eagerly False": serving("aioweb-asgi", "examples.asgi_hello:routed_lazy"),
        "AsgiHandler alone": serving("aioweb-asgi", HELLO, role=REFERENCE),
    },
    "native": {
        "Router eager, native route": serving("aioweb-asgi", "examples.asgi_hello:routed_hop",
                                              path="/native"),
        "Router lazy, native route": serving("aioweb-asgi", "examples.asgi_hello:routed_lazy",
                                             role=REFERENCE, path="/native"),
    },
    "hot": {
        "aioweb router (after)": serving("aioweb-asgi", "examples.fastapi_hot_route:router",
                                         path=HOT_PATH),
        "aioweb fastapi (before)": serving("aioweb-asgi", "examples.fastapi_hot_route:app",
                                           role=REFERENCE, path=HOT_PATH),
        "uvicorn fastapi": serving("uvicorn", "examples.fastapi_hot_route:app", path=HOT_PATH),
    },
}

def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    """The scenarios and bench_core's run flags, checked."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    bench_core.add_run_options(parser)
    parser.add_argument("--markdown", action="store_true",
                        help="print the reports as markdown tables")
    options = parser.parse_args(argv)
    if unknown := sorted(set(options.scenarios) - set(SCENARIOS)):
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    bench_core.check_run_options(parser, options)
    options.scenarios = options.scenarios or list(SCENARIOS)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """Run each scenario's rounds and print its report; 1 if anything failed."""
    options = parse_options(argv)
    command_line = " ".join([".venv/bin/python", "examples/bench_asgi.py",
                             *(sys.argv[1:] if argv is None else argv)])
    status = 0
    try:
        with load_client(options.client) as client:
            machine = machine_description(client)
            for scenario in options.scenarios:
                specs = SCENARIOS[scenario]
                options.servers = list(specs)
                print(f"[{scenario}]", file=sys.stderr)
                session = run_session(options, client, specs)
                summaries = summarize(session, options.servers, options.connections)
                path = next(iter(specs.values())).path
                print(f"\n### {scenario}: GET {path}\n")
                if options.markdown:
                    print_markdown_report(summaries, session, command_line, machine, sys.stdout)
                else:
                    print_text_report(summaries, session, sys.stdout)
                status = max(status, bench_core.exit_status(session, summaries))
    except SetupFailed as exc:  # no wrk or Go, no taskset, too few CPUs
        print(f"bench_asgi: {exc}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
