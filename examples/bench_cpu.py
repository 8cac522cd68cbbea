"""CPU time per request, in-process: how much each way of serving a request costs.

    .venv/bin/python -m examples.bench_cpu [--rounds 5]     (from the project root)

wrk measures throughput, which other processes on the machine disturb. This
measures the CPU time the server's own code spends per request instead: one
connection fed with ``GET`` requests through a fake transport (no sockets, no
kernel), one at a time, for each variant in turn, interleaved over several
rounds; the median is reported. It drives the core's connection directly
(``ServerState``, ``HttpToolsConnection``), so it follows the core's internals.

The variants are the Router eagerness choices (docs/asgi.md, "Eagerness") and
the hot-route move of examples/fastapi_hot_route.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, cast

from aioweb import Config
from aioweb.asgi import AsgiHandler
from aioweb.contract import Handler, HandlerFunction
from aioweb.server.connection import HttpToolsConnection
from aioweb.server.container import ServerState
from aioweb.server.lifecycle import new_event_loop
from examples import asgi_hello, fastapi_hot_route

VARIANTS: dict[str, tuple[Handler | HandlerFunction, bytes]] = {
    "AsgiHandler alone -> raw ASGI app": (AsgiHandler(asgi_hello.app), b"/"),
    "Router, sleep(0) hop -> raw ASGI app": (asgi_hello.routed_hop, b"/"),
    "Router, awaits a new Task -> raw ASGI app": (asgi_hello.routed_two_tasks, b"/"),
    "Router, runs_eagerly False -> raw ASGI app": (asgi_hello.routed_lazy, b"/"),
    "Router (eager) -> native route": (asgi_hello.routed_hop, b"/native"),
    "Router, runs_eagerly False -> native route": (asgi_hello.routed_lazy, b"/native"),
    "hot route: FastAPI via AsgiHandler": (AsgiHandler(fastapi_hot_route.app), b"/prices/AAPL"),
    "hot route: Router, native handler": (fastapi_hot_route.router, b"/prices/AAPL"),
}


class FakeTransport:
    """Just enough of a transport: writes are counted, and wake whoever waits for one."""

    def __init__(self) -> None:
        self.writes = 0
        self.waiter: asyncio.Future[None] | None = None

    def get_extra_info(self, _name: str, default: Any = None) -> Any:
        """No socket: no peer, no TCP_NODELAY."""
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Nothing is buffered."""

    def write(self, _data: bytes) -> None:
        """Count the write; a response was (at least partly) written."""
        self.writes += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def pause_reading(self) -> None:
        """Never paused: requests are fed one at a time."""

    def resume_reading(self) -> None:
        """See pause_reading."""

    def close(self) -> None:
        """A variant that closes the connection is broken."""
        raise RuntimeError("the connection was closed")


def microseconds_per_request(handler: Handler | HandlerFunction, path: bytes, count: int,
                             loop: asyncio.AbstractEventLoop) -> float:
    """CPU µs per request for ``count`` sequential GETs of ``path``."""
    connection = HttpToolsConnection(ServerState(Config(gzip=False), handler, loop))
    transport = FakeTransport()
    connection.connection_made(cast(asyncio.Transport, transport))
    request = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"

    async def drive() -> None:
        for _ in range(count):
            waiter = transport.waiter = loop.create_future()
            # From a loop callback, as a socket's bytes arrive: called from this
            # coroutine instead, the handler would find this coroutine's Task
            # current and run on it (no eager start, no hop of its own).
            loop.call_soon(connection.data_received, request)
            await waiter  # the response's write
            await asyncio.sleep(0)  # let a finished handler Task's callback run

    started = time.process_time()
    loop.run_until_complete(drive())
    return (time.process_time() - started) / count * 1e6


def main() -> int:
    """Measure every variant, interleaved, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    loop = new_event_loop(True)
    asyncio.set_event_loop(loop)
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (handler, path) in VARIANTS.items():
            count = args.requests // 5 if "FastAPI" in name else args.requests
            results[name].append(microseconds_per_request(handler, path, count, loop))
    print("| variant | CPU µs per request (median) | min |\n|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} |")
    loop.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
