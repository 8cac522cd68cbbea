"""The benchmark driver: aioweb's servers against a control, the floors and two peers.

    .venv/bin/python bench/bench_core.py [--rounds 3] [--duration 5]
        [--connections 50,256] [--servers NAME,...]
        [--client auto|wrk|go] [--noisy-retries 2] [--json out.json] [--markdown]
        [--app MODULE:ATTR]       # the ASGI servers serve another app, e.g.
                                  # examples.asgi_hello:fastapi_app
        [--tls]                   # over HTTPS (the servers that serve TLS, wrk)

In every round, for every server in turn, it:

1. starts the server pinned to CPU 0 (``taskset -c 0``), on a free port;
2. waits until the port accepts connections and a GET answers 200;
3. for each connection count, runs a 1 s warm-up load and then the measured
   one (``wrk -t1 -c<C> -d<D>s --latency``), the load generator pinned to
   CPU 1, so that load generator and server never fight over one core;
4. stops the server (SIGTERM, then SIGKILL if it does not go).

The load generator is wrk when it is installed; otherwise (or with
``--client go``) the project's own ``client.go``, built once with ``go build``
and run as ``client -url URL -c C -d Ds -json``.

Rounds are interleaved (round 1 runs every server once, then round 2, ...) so
that a slow drift of the machine (heat, a noisy neighbour) spreads over every
server instead of landing on whichever ran last.  While the client runs, the
driver also reads the kernel's CPU accounting, to tell how busy the server,
the client and everything else were: a run during which others took
CPU time is measured again.

The report gives, per server and connection count, the median requests/second
and latency percentiles over the rounds, the CPU shares, the socket errors and
non-2xx responses the client saw, and the ratios of each aioweb server's median
to each other server's.  A server that fails is reported and left out of later
rounds; one that cannot run here (its package is not installed) is reported as
unavailable and not started.

This file is the command line.  The work is done by the modules beside it,
one concern each:

- ``servers.py``: the SERVERS table; starting, checking and stopping a server;
- ``load_generator.py``: wrk or client.go; one run of it, its report parsed;
- ``cpu_accounting.py``: the two pinned CPUs, who used them, noisy runs;
- ``session.py``: the interleaved rounds, noisy runs measured again;
- ``summary.py``: the medians per server and connection count, the ratios;
- ``report.py``: the machine description, the text and markdown report;
- ``results_json.py``: the ``--json`` file, written and read back.

Only the standard library is used by them, so the driver runs wherever the
servers' own virtualenv does; ``bench/bench.py`` adds plots and the docs page
on top of it.  Linux only (taskset, /proc).  Progress goes to stderr, the
report to stdout; the exit status is 1 if anything failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

if not __package__:  # run as a file (python bench/bench_core.py), not with -m:
    # import ``bench`` as the package from the project root, not as this file's folder
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

# pylint: disable=wrong-import-position
from bench.load_generator import CLIENT_GO, WRK, SetupFailed, load_client  # noqa: E402
from bench.report import (  # noqa: E402
    machine_description, print_markdown_report, print_text_report)
from bench.results_json import write_json  # noqa: E402
from bench.servers import DEFAULT_APP, SERVERS, serving_app, with_tls  # noqa: E402
from bench.session import Session, run_session  # noqa: E402
from bench.summary import Summary, summarize  # noqa: E402


def name_list(text: str) -> list[str]:
    """An argparse type: "control,uvicorn" -> ["control", "uvicorn"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def number_list(text: str) -> list[int]:
    """An argparse type: "50,256" -> [50, 256]."""
    return [int(item) for item in name_list(text)]


def add_run_options(parser: argparse.ArgumentParser, *, rounds: int = 3,
                    duration: int = 5, connections: Sequence[int] = (50, 256)) -> None:
    """How long and how hard each server is measured: the flags of any set of
    rounds, shared with bench/bench.py and examples/bench_asgi.py."""
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"interleaved rounds ({rounds})")
    parser.add_argument("--duration", type=int, default=duration,
                        help=f"seconds per measured run ({duration})")
    parser.add_argument("--connections", type=number_list, default=list(connections),
                        help="connection counts, comma-separated "
                             f"({','.join(map(str, connections))})")
    parser.add_argument("--client", choices=("auto", WRK, CLIENT_GO), default="auto",
                        help="load generator: wrk, client.go, or auto: wrk when installed (auto)")
    parser.add_argument("--noisy-retries", type=int, default=2,
                        help="measure again when others (processes, the host) took CPU "
                             "time (2 times)")


def add_session_options(parser: argparse.ArgumentParser, *, rounds: int = 3,
                        duration: int = 5, connections: Sequence[int] = (50, 256)) -> None:
    """The run flags, and which of the SERVERS run, serving what: bench_core's
    flags, shared with bench/bench.py (which has other defaults)."""
    add_run_options(parser, rounds=rounds, duration=duration, connections=connections)
    parser.add_argument("--servers", type=name_list, default=list(SERVERS),
                        help=f"servers to run, comma-separated ({','.join(SERVERS)})")
    parser.add_argument("--json", type=Path, help="also write every run and the summary here")
    parser.add_argument("--app", default=DEFAULT_APP, metavar="MODULE:ATTR",
                        help=f"the app the ASGI servers serve ({DEFAULT_APP}); with another, "
                             "only servers that serve any app may run")
    parser.add_argument("--tls", action="store_true",
                        help="over HTTPS, with a certificate made for the run (openssl): "
                             "only servers that serve TLS, and wrk")


def check_run_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Stop with a usage error if the run flags make no sense."""
    if options.rounds < 1 or options.duration < 1 or not options.connections \
            or min(options.connections) < 1 or options.noisy_retries < 0:
        parser.error("--rounds, --duration and --connections must be positive, "
                     "--noisy-retries not negative")


def check_session_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Stop with a usage error if the session's flags make no sense."""
    if unknown := [name for name in options.servers if name not in SERVERS]:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    check_run_options(parser, options)
    # The sample server, the control and the floor answer with their own code:
    # a ratio of FastAPI on uvicorn to them would compare two different apps.
    if options.app != DEFAULT_APP and (
            fixed := [name for name in options.servers if not SERVERS[name].serves_any_app]):
        parser.error(f"--app is for ASGI servers; {', '.join(fixed)} serve(s) their own app")
    if options.tls and (plain := [name for name in options.servers
                                  if not SERVERS[name].tls_flags]):
        parser.error(f"--tls: {', '.join(plain)} serve(s) no TLS")


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags, checked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    add_session_options(parser)
    parser.add_argument("--markdown", action="store_true",
                        help="print the report as markdown tables")
    options = parser.parse_args(argv)
    check_session_options(parser, options)
    return options


def make_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key: (certfile, keyfile).
    RSA 2048, what a server is most often given; the clients check nothing."""
    certfile, keyfile = str(directory / "cert.pem"), str(directory / "key.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", keyfile, "-out", certfile],
                       capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SetupFailed(f"--tls: openssl could not make a certificate: {exc}") from exc
    return certfile, keyfile

def exit_status(session: Session, summaries: Sequence[Summary]) -> int:
    """1 if a server failed or the client saw errors, else 0."""
    had_errors = any(s.socket_errors or s.non_2xx_3xx for s in summaries)
    return 1 if session.failures or had_errors else 0


def run_benchmark(options: argparse.Namespace) -> tuple[dict[str, str], Session]:
    """Pick (or build) the load generator, describe the machine, run every round:
    (machine description, session).  Raises SetupFailed if this machine cannot."""
    specs = serving_app(options.servers, options.app)
    with load_client(options.client) as client, \
            tempfile.TemporaryDirectory(prefix="bench-tls-") as tls_dir:
        if options.tls:
            if client.kind != WRK:
                raise SetupFailed("--tls needs wrk (client.go speaks plain HTTP)")
            certfile, keyfile = make_certificate(Path(tls_dir))
            specs = {name: with_tls(spec, certfile, keyfile) for name, spec in specs.items()}
        return machine_description(client), run_session(options, client, specs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the session, print the report; exit 1 if a server failed or the client saw errors."""
    options = parse_options(argv)
    command_line = " ".join([".venv/bin/python", "bench/bench_core.py",
                             *(sys.argv[1:] if argv is None else argv)])
    try:
        machine, session = run_benchmark(options)
    except SetupFailed as exc:
        print(f"bench_core: {exc}", file=sys.stderr)
        return 2
    summaries = summarize(session, options.servers, options.connections)
    print(file=sys.stderr)
    if options.markdown:
        print_markdown_report(summaries, session, command_line, machine, sys.stdout)
    else:
        print_text_report(summaries, session, sys.stdout)
    if options.json:
        write_json(options.json, options, command_line, machine, session, summaries)
    return exit_status(session, summaries)


if __name__ == "__main__":
    raise SystemExit(main())
