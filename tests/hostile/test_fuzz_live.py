"""A short live fuzz run: ``scripts/fuzz_live.py`` against a server in a thread, both loops.

300 mutated valid requests (seed 1, always the same bytes), 16 connections at
a time, against a server whose timeouts are all 0.5 s. No input may crash the
server, draw an invalid response or a 500, or leave a connection neither
answered nor closed; afterwards a plain GET is answered and no connection is
left open. The long run is ``python scripts/fuzz_live.py --seconds 120``.
"""

from __future__ import annotations

import time

from aioweb import Request
from scripts.fuzz_live import run_fuzz

from .support import SHORT_TIMEOUTS


async def path_and_body(request: Request) -> bytes:
    """What the fuzz server does: read the path and the body, echo the body."""
    if not request.path.startswith("/"):
        return b"odd path"
    return await request.body() or b"ok"


def test_300_mutated_requests_neither_crash_nor_hang_the_server(start_server) -> None:
    """Every input is answered with a valid response or closed in time; the server
    still answers afterwards and holds no connection."""
    server = start_server(path_and_body, **SHORT_TIMEOUTS)
    report = run_fuzz(server.address, count=300, seed=1, workers=16, wait=1.5)
    print(report.summary())
    assert report.inputs == 300
    assert not report.failures, report.summary()
    deadline = time.monotonic() + 3.0
    while server.call(lambda: server.container.connection_count) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.call(lambda: server.container.connection_count) == 0
