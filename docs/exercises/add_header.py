"""Exercise 1: a header on every response, by wrapping the handler.

Write ``AddHeader(inner, name, value)``: a :class:`aioweb.Handler` that calls
``inner`` (a Handler or a plain ``async def``) and returns its response with
the header ``name: value`` added.

* ``inner`` may return ``bytes`` or ``str`` (meaning 200), a ``Response``, or
  ``None`` (it answered through ``request.send()`` already).
* A ``Response`` that ``inner`` returns may be the same object every time.
* If ``inner`` is a Handler with ``runs_eagerly = False``, so is the wrapper.

Check your answer with::

    AIOWEB_EXERCISES=docs/exercises .venv/bin/pytest tests/docs/test_exercises.py -k add_header
"""

from __future__ import annotations

from aioweb import Handler, Request
from aioweb.contract import HandlerFunction, ResponseLike


class AddHeader(Handler):
    """Calls ``inner``, then adds ``name: value`` to its response."""

    def __init__(self, inner: Handler | HandlerFunction, name: str, value: str) -> None:
        raise NotImplementedError("exercise 1")

    async def handle(self, request: Request) -> ResponseLike:
        raise NotImplementedError("exercise 1")
