"""The server the load and fault scripts attack: aioweb in its own process.

    python scripts/hostile_server.py [--loop uvloop|asyncio] [--port 0]
                                     [--set keep_alive_timeout=60 ...]

Routes (any method):

* ``/stats``                   — JSON: open connections, asyncio tasks,
                                 responses served, RSS (KiB), open fds.
* ``/stream?size=N&chunk=M``   — a streamed (chunked) body of N bytes in
                                 pieces of M: it waits whenever the client
                                 reads slower than it writes.
* ``/slow?ms=N``               — answers after N milliseconds.
* anything else                — the request's own body, or ``ok``.

It prints ``... listening on http://HOST:PORT/`` once it accepts connections,
serves until SIGINT/SIGTERM (graceful stop, as the sample server), then
prints how many requests it served.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import AsyncIterator

from aioweb import Config, HttpToolsContainer, Request, Response
from aioweb.server.lifecycle import run_until_signalled


def parse_settings(pairs: list[str]) -> Config:
    """``["name=value", ...]`` → a Config, each value converted to its field's type."""
    kinds = {field.name: field.type for field in dataclasses.fields(Config)}
    values: dict[str, object] = {"port": 0}
    for pair in pairs:
        name, _, text = pair.partition("=")
        kind = kinds.get(name)
        if kind is None:
            raise SystemExit(f"unknown Config field {name!r}; known: {sorted(kinds)}")
        if kind in ("bool", bool):
            values[name] = text.lower() in ("1", "true", "yes")
        elif kind in ("int", int):
            values[name] = int(text)
        elif kind in ("float", float):
            values[name] = float(text)
        else:
            values[name] = text
    return Config(**values)  # type: ignore[arg-type]


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class HostileApp:
    """The handler: a few routes that let a client make the server work."""

    def __init__(self) -> None:
        self.container: HttpToolsContainer | None = None

    async def __call__(self, request: Request) -> Response | bytes:
        path = request.path
        if path == "/stats":
            return self.stats()
        if path == "/stream":
            size = int(request.query.get("size", ["1048576"])[0])
            chunk = int(request.query.get("chunk", ["65536"])[0])
            return Response(_pieces(size, chunk), content_type="application/octet-stream")
        if path == "/slow":
            await asyncio.sleep(int(request.query.get("ms", ["100"])[0]) / 1000)
            return b"slow"
        body = await request.body()
        return body or b"ok"

    def stats(self) -> Response:
        """The server's figures, measured from inside, on its own loop."""
        container = self.container
        assert container is not None
        figures = {
            "connections": container.connection_count,
            "tasks": len(asyncio.all_tasks()),
            "served": container.requests_served,
            "rss_kib": _rss_kib(),
            "fds": len(os.listdir("/proc/self/fd")),
        }
        return Response(json.dumps(figures), content_type="application/json")


async def _pieces(size: int, chunk: int) -> AsyncIterator[bytes]:
    piece = b"x" * chunk  # one buffer, sent again and again: the server's own memory stays flat
    sent = 0
    while sent < size:
        part = piece if size - sent >= chunk else piece[:size - sent]
        sent += len(part)
        yield part


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, serve until signalled, report the count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a Config field, e.g. keep_alive_timeout=60 (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = dataclasses.replace(parse_settings(args.set), port=args.port)
    app = HostileApp()
    container = app.container = HttpToolsContainer(app, config)

    def started(server: HttpToolsContainer) -> None:
        host, port = server.address
        print(f"aioweb hostile server (pid {os.getpid()}, {args.loop}) listening on "
              f"http://{host}:{port}/", flush=True)

    run_until_signalled(container, args.loop == "uvloop", on_started=started)
    print(f"served {container.requests_served} requests", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
