"""Exercise 3, a solution: a handler that streams server-sent events from a queue.

Each string put in the queue goes to the client as one event the moment it
is put; ``None`` ends the stream. The response is chunked (no
Content-Length is known in advance), and each event is one chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aioweb import Handler, Request, Response


class EventStream(Handler):
    """``GET`` → ``text/event-stream``: one event per item of ``queue`` until ``None``."""

    def __init__(self, queue: asyncio.Queue[str | None]) -> None:
        self._queue = queue
        self.open_streams = 0  # streams being served right now

    async def handle(self, request: Request) -> Response:
        return Response(self._events(), headers={"Cache-Control": "no-cache"},
                        content_type="text/event-stream")

    async def _events(self) -> AsyncIterator[bytes]:
        # The container iterates this after writing the head, and writes
        # each chunk as it comes; its write waits while the client is slow
        # (back-pressure), and it closes this generator when the client goes,
        # so the finally below always runs.
        self.open_streams += 1
        try:
            while (item := await self._queue.get()) is not None:
                # One "data:" line per line of the item, then a blank line
                # (the event stream format of the HTML standard).
                lines = "".join(f"data: {line}\n" for line in item.split("\n"))
                yield (lines + "\n").encode()
        finally:
            self.open_streams -= 1
