"""Exercise 4, a solution: count an upload's bytes chunk by chunk, with back-pressure.

``UploadCounter(consume)`` reads a request body piece by piece, hands each
piece to ``consume`` (think: write it to disk), and answers with what it
counted, as JSON. While ``consume`` is slow, the handler does not read; the
container's buffer fills, it stops reading from the socket, and the
client's upload stalls. The server never holds more than about one buffer
of the body, whatever the upload's size.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from aioweb import Handler, HttpError, Request, Response

Consume = Callable[[bytes], Awaitable[None]]


async def _discard(chunk: bytes) -> None:
    del chunk


class UploadCounter(Handler):
    """``POST``/``PUT`` → ``{"bytes", "chunks", "largest_chunk", "sha256"}``."""

    def __init__(self, consume: Consume = _discard) -> None:
        self._consume = consume

    async def handle(self, request: Request) -> Response:
        if request.method not in ("POST", "PUT"):
            raise HttpError(405)
        size = chunks = largest = 0
        digest = hashlib.sha256()
        # stream(), not body(): body() would hold the whole upload in memory.
        async for chunk in request.stream():
            size += len(chunk)
            chunks += 1
            largest = max(largest, len(chunk))
            digest.update(chunk)
            await self._consume(chunk)  # while this waits, nothing more is read
        summary = {"bytes": size, "chunks": chunks, "largest_chunk": largest,
                   "sha256": digest.hexdigest()}
        return Response(json.dumps(summary), content_type="application/json")
