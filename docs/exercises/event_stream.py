"""Exercise 3: a handler that streams server-sent events from a queue.

Write ``EventStream(queue)``: a Handler that answers with
``Content-Type: text/event-stream`` and a body that sends each string put
in ``queue`` (an ``asyncio.Queue``) as one event, the moment it is put.
``None`` in the queue ends the response.

* An event is one ``data: <line>\\n`` per line of the string, then ``\\n``.
* ``open_streams`` counts the streams being served; it must go back down
  when a stream ends, and also when the client disconnects mid-stream.

Check your answer with::

    AIOWEB_EXERCISES=docs/exercises .venv/bin/pytest tests/docs/test_exercises.py -k event_stream
"""

from __future__ import annotations

import asyncio

from aioweb import Handler, Request, Response


class EventStream(Handler):
    """``GET`` → ``text/event-stream``: one event per item of ``queue`` until ``None``."""

    def __init__(self, queue: asyncio.Queue[str | None]) -> None:
        raise NotImplementedError("exercise 3")

    async def handle(self, request: Request) -> Response:
        raise NotImplementedError("exercise 3")
