"""Exercise 1, a solution: a header on every response, by wrapping the handler.

``AddHeader(inner, "X-Served-By", "aioweb")`` is a handler that calls
``inner`` and adds the header to whatever it returns. A wrapper is how
aioweb grows features that need no change to the container (see "where to
add a feature" in ``docs/architecture.md``).
"""

from __future__ import annotations

from aioweb import Handler, Request, Response
from aioweb.contract import HandlerFunction, ResponseLike


class AddHeader(Handler):
    """Calls ``inner``, then adds ``name: value`` to its response."""

    def __init__(self, inner: Handler | HandlerFunction, name: str, value: str) -> None:
        if isinstance(inner, Handler):
            self._call: HandlerFunction = inner.handle
            # Eagerness is the inner handler's decision: this wrapper needs no
            # Task itself, so it must not force one (or forbid one).
            self.runs_eagerly = inner.runs_eagerly
        else:
            self._call = inner
        self._header = (name, value)

    async def handle(self, request: Request) -> ResponseLike:
        result = await self._call(request)
        if result is None:
            # The inner handler answered through request.send() or
            # start_response(): the head is on the wire, too late to add to it.
            return None
        if not isinstance(result, Response):
            return Response(result, headers=[self._header])  # bytes or str
        # A new Response, never result.headers.append(...): the inner handler
        # may return the same Response object every time, and appending to it
        # would add one more copy of the header per request.
        return Response(result.body, result.status, [*result.headers, self._header])
