"""What the hostile tests share: a server in a thread, a counting handler, tiny writes.

The client side (the strict response parser, sockets with deadlines) lives in
``scripts/wire.py``, shared with the load and fuzz scripts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

from loop_thread import LoopThread

from aioweb import Config, HttpToolsContainer, HttpToolsRequest, Request, Response

LOOPS = ("asyncio", "uvloop")
START_TIMEOUT = 5.0
# Every timeout of a test server, short: a test that waits for one waits a second at most.
SHORT_TIMEOUTS = {field.name: 0.5 for field in dataclasses.fields(Config)
                  if field.name.endswith("_timeout")}


class ServerThread(LoopThread):
    """An :class:`HttpToolsContainer` on its own event loop in a daemon thread.

    Everything about the container's state is read on its own loop
    (:meth:`call`), never from the test's thread directly.
    """

    def __init__(self, handler: Any, loop_name: str, config: Config) -> None:
        super().__init__(loop_name, f"hostile-{loop_name}", START_TIMEOUT)
        self.loop_name = loop_name
        self.config = config
        self.container = HttpToolsContainer(handler, config)

    async def starting(self) -> None:
        await self.container.start()

    def start(self) -> ServerThread:
        """Start the thread; return once the container listens."""
        self.start_thread()
        return self

    @property
    def address(self) -> tuple[str, int]:
        """Where the container listens."""
        return self.container.address

    def figures(self) -> tuple[int, int, int]:
        """(open fds of this process, tasks on the server's loop, open connections)."""
        tasks, connections = self.call(lambda: (len(asyncio.all_tasks(self.loop)),
                                                self.container.connection_count))
        return len(os.listdir("/proc/self/fd")), tasks, connections

    def live_requests(self) -> int:
        """How many request objects the process still holds (counted on the server's loop).

        Garbage is collected first: earlier tests leave requests in reference
        cycles (an exception's traceback holds its frames), which no server
        holds but which would count until the collector happens to run."""
        def count() -> int:
            gc.collect()
            return sum(isinstance(o, HttpToolsRequest) for o in gc.get_objects())
        return int(self.call(count))

    def close(self) -> list[str]:
        """Stop gracefully, end the thread; return what went wrong."""
        if not self.started:
            return []
        problems = []
        try:
            self.run(self.container.stop(1.0), timeout=START_TIMEOUT + 1.0)
            left = self.call(lambda: self.container.connection_count)
            if left:
                problems.append(f"{left} connection(s) still open after stop()")
        finally:
            self.end_thread()
        if self.loop_errors:
            problems.append("the event loop reported errors: " + "; ".join(self.loop_errors))
        return problems


class CountingHandler:
    """A handler that counts what reached it.

    ``calls`` — heads it was called with; ``bodies`` — bodies it read whole.
    For input refused in the head, ``calls`` must stay 0: a handler never
    sees a bad request. For input refused in the body (a bad chunk after a
    good head), the handler may have started, but ``bodies`` must stay 0:
    it never gets a body that was not what the client framed.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.bodies = 0
        self.seen: list[tuple[str, bytes, list[tuple[str, str]]]] = []

    async def __call__(self, request: Request) -> Response:
        self.calls += 1
        self.seen.append((request.method, request.raw_path, request.headers.pairs()))
        body = await request.body()  # raises for a body refused on the way
        self.bodies += 1
        return Response(b"ok" if not body else body)


def tiny_pieces(data: bytes, rng: random.Random, edge: int = 600,
                middle: int = 4096) -> Iterator[bytes]:
    """``data`` cut into 1-3 byte pieces at both ends and ``middle``-byte ones between.

    The ends are where parsing decisions are made (the request line, the
    headers, the framing, the last chunk); cutting the whole of a 70 kB
    input into 1-3 byte writes would only make the test slow.
    """
    position = 0
    end = len(data)
    while position < end:
        if position < edge or position >= end - edge:
            size = rng.randint(1, 3)
        else:
            size = min(middle, end - edge - position)
        yield data[position:position + size]
        position += size


def send_tiny(sock: socket.socket, data: bytes, rng: random.Random) -> bool:
    """Send ``data`` as tiny writes (TCP_NODELAY, a short pause every 16); False if cut off."""
    try:
        for count, piece in enumerate(tiny_pieces(data, rng)):
            sock.sendall(piece)
            if count % 16 == 15:
                time.sleep(0.0005)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True
