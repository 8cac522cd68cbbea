"""Exercise 4: count an upload's bytes chunk by chunk, with back-pressure.

Write ``UploadCounter(consume)``: a Handler for ``POST`` and ``PUT`` (405 for
anything else) that reads the request body piece by piece, awaits
``consume(piece)`` for each, and answers with JSON::

    {"bytes": <total>, "chunks": <pieces>, "largest_chunk": <size>, "sha256": <hex>}

* The server must never hold the whole upload: while ``consume`` waits,
  the client's upload must stall (the test checks it with an 8 MiB upload).
* ``consume`` defaults to a coroutine that does nothing.

Check your answer with::

    AIOWEB_EXERCISES=docs/exercises .venv/bin/pytest tests/docs/test_exercises.py -k upload_counter
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aioweb import Handler, Request, Response

Consume = Callable[[bytes], Awaitable[None]]


async def _discard(chunk: bytes) -> None:
    del chunk


class UploadCounter(Handler):
    """``POST``/``PUT`` → ``{"bytes", "chunks", "largest_chunk", "sha256"}``."""

    def __init__(self, consume: Consume = _discard) -> None:
        raise NotImplementedError("exercise 4")

    async def handle(self, request: Request) -> Response:
        raise NotImplementedError("exercise 4")
