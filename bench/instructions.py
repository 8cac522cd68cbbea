"""Where a request's time goes, in CPU instructions (not seconds).

    python bench/instructions.py            # runs each stage under valgrind

Seconds depend on what else the machine is doing; instruction counts do not.
Each stage feeds the same GET request N times through one layer of the
server, in-process with a fake transport (no sockets, no kernel), and is run
under ``valgrind --tool=callgrind`` for two values of N; the difference,
divided by the difference in N, is the cost of one request with start-up
subtracted. Stages, from the bare parser up to the whole aioweb path:

- ``httptools-minimal``: the control server's work (one callback per request)
- ``httptools-callbacks``: httptools calling all the callbacks aioweb uses
- ``aioweb-reader``: aioweb's sans-IO RequestReader (events out)
- ``aioweb-connection``: the whole path: reader, request, eager handler, response bytes
- ``aioweb-connection-uvloop``: the same on uvloop's loop, as the servers run
  (its ``loop.time()``, for one, is C where asyncio's is Python)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httptools

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost:8888\r\nUser-Agent: wrk\r\n\r\n"
SMALL_N, LARGE_N = 2_000, 12_000


class _Minimal:
    """The control server's parser protocol: only the end of each message."""

    def on_message_complete(self) -> None:
        """Nothing: the control writes a canned response here."""


class _AllCallbacks(_Minimal):
    """Every callback aioweb's reader registers, doing nothing."""

    def on_message_begin(self) -> None:
        """Nothing."""

    def on_url(self, url: bytes) -> None:
        """Nothing."""

    def on_header(self, name: bytes, value: bytes) -> None:
        """Nothing."""

    def on_headers_complete(self) -> None:
        """Nothing."""


class _FakeTransport:
    """Just enough of a transport for HttpToolsConnection, writing nowhere."""

    def write(self, data: bytes) -> None:
        """Drop the bytes."""

    def get_extra_info(self, _name: str, default: Any = None) -> Any:
        """No socket behind it."""
        return default

    def set_write_buffer_limits(self, high: int) -> None:
        """No buffer."""

    def pause_reading(self) -> None:
        """Never paused here."""

    def resume_reading(self) -> None:
        """Never paused here."""


def _run_stage(stage: str, count: int) -> None:
    if stage.startswith("httptools"):
        parser = httptools.HttpRequestParser(
            _Minimal() if stage == "httptools-minimal" else _AllCallbacks())
        for _ in range(count):
            parser.feed_data(REQUEST)
    elif stage == "aioweb-reader":
        from aioweb import Config  # pylint: disable=import-outside-toplevel
        from aioweb.http11.reader import RequestReader  # pylint: disable=import-outside-toplevel
        reader = RequestReader(Config())
        for _ in range(count):
            reader.receive(REQUEST)
    elif stage == "aioweb-connection-uvloop":
        import uvloop  # pylint: disable=import-outside-toplevel
        uvloop.run(_connection_stage(count))
    else:
        asyncio.run(_connection_stage(count))


async def _connection_stage(count: int) -> None:
    # pylint: disable=import-outside-toplevel
    from aioweb import Config, Request
    from aioweb.server.connection import HttpToolsConnection
    from aioweb.server.container import ServerState

    async def echo(request: Request) -> bytes:
        return await request.body()

    connection = HttpToolsConnection(ServerState(Config(), echo, asyncio.get_running_loop()))
    connection.connection_made(_FakeTransport())  # type: ignore[arg-type]
    for _ in range(count):
        connection.data_received(REQUEST)


STAGES = ("httptools-minimal", "httptools-callbacks", "aioweb-reader", "aioweb-connection",
          "aioweb-connection-uvloop")


def instructions(command: list[str]) -> int:
    """How many CPU instructions ``command`` executes, counted by callgrind.

    The hash seed is fixed and no .pyc is written, so that two runs of the
    same command count the same (to within a few dozen instructions)."""
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        capture_output=True, text=True, check=True, timeout=1800,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"})
    match = re.search(r"refs:\s+([\d,]+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(match.group(1).replace(",", ""))


def measure_stages(description: str, stages: dict[str, tuple[int, int]],
                   run_stage: Callable[[str, int], None], module: str) -> int:
    """The command line of an instruction-counting script.

    ``stages`` maps each stage to the two request counts it is run with;
    ``python -m MODULE --inner STAGE N`` must run ``run_stage(STAGE, N)``.
    Prints instructions per request: the difference between the two runs
    over the difference in requests, start-up subtracted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--inner", nargs=2, metavar=("STAGE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--stages", default=",".join(stages), help="comma-separated stages")
    args = parser.parse_args()
    if args.inner:
        run_stage(args.inner[0], int(args.inner[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 1
    print(f"{'stage':<22} {'instructions/request':>20}")
    for stage in args.stages.split(","):
        small_n, large_n = stages[stage]
        command = [sys.executable, "-m", module, "--inner", stage]
        small = instructions([*command, str(small_n)])
        large = instructions([*command, str(large_n)])
        print(f"{stage:<22} {(large - small) // (large_n - small_n):>20,}", flush=True)
    return 0


def main() -> int:
    """Print instructions per request for each stage."""
    counts = {stage: (SMALL_N, LARGE_N) for stage in STAGES}
    return measure_stages(__doc__.split("\n\n", 1)[0], counts, _run_stage, "bench.instructions")


if __name__ == "__main__":
    raise SystemExit(main())
