"""Exercise 2, a solution: a time limit on a handler, answered with 503.

``TimeLimit(inner, 2.0)`` gives ``inner`` two seconds. Past them, ``inner`` is
cancelled (``CancelledError`` is raised at the ``await`` where it waits, so
its ``finally`` blocks and ``async with`` exits run) and the client gets
``503 Service Unavailable``, as Go's ``http.TimeoutHandler`` answers. The
connection stays open for the next request.
"""

from __future__ import annotations

import asyncio

from aioweb import Handler, Request, Response
from aioweb.contract import HandlerFunction, ResponseLike


class TimeLimit(Handler):
    """Calls ``inner``, cancelling it if it takes longer than ``seconds``."""

    # asyncio.timeout() cancels "the current task", so there must be one from
    # this handler's first line: when a handler runs eagerly, its first step
    # runs with no current Task (see aioweb/server/eager.py).
    runs_eagerly = False

    def __init__(self, inner: Handler | HandlerFunction, seconds: float) -> None:
        self._call: HandlerFunction = inner.handle if isinstance(inner, Handler) else inner
        self._seconds = seconds

    async def handle(self, request: Request) -> ResponseLike:
        try:
            async with asyncio.timeout(self._seconds):
                return await self._call(request)
        except TimeoutError:
            # Only our own deadline becomes TimeoutError: asyncio.timeout()
            # turns the CancelledError it caused into it. A cancellation from
            # elsewhere (the container aborting at the end of a graceful
            # shutdown) goes through untouched, as cancellation must.
            return Response("503 Service Unavailable: the handler took too long\n", 503)
