"""Exercise 2: a time limit on a handler, answered with 503.

Write ``TimeLimit(inner, seconds)``: a Handler that calls ``inner`` and, if
it has not answered within ``seconds``, cancels it and answers
``503 Service Unavailable`` instead.

* ``inner`` must really be cancelled (its ``finally`` blocks run), and the
  connection must go on serving the next request.
* A cancellation that does not come from your time limit (the container
  aborting a handler at the end of a graceful shutdown) must go through
  untouched: never turn it into a response.
* Read ``aioweb/server/eager.py`` before reaching for ``asyncio.timeout``.

Check your answer with::

    AIOWEB_EXERCISES=docs/exercises .venv/bin/pytest tests/docs/test_exercises.py -k time_limit
"""

from __future__ import annotations

from aioweb import Handler, Request
from aioweb.contract import HandlerFunction, ResponseLike


class TimeLimit(Handler):
    """Calls ``inner``, cancelling it if it takes longer than ``seconds``."""

    def __init__(self, inner: Handler | HandlerFunction, seconds: float) -> None:
        raise NotImplementedError("exercise 2")

    async def handle(self, request: Request) -> ResponseLike:
        raise NotImplementedError("exercise 2")
