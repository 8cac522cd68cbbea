"""Start a coroutine at once, and give it a Task only if it has to wait.

Why: most handlers never wait (``return b"hello"``, or a body that came in
the same read as the head). Wrapping each in an ``asyncio.Task`` costs an
allocation and a trip through the event loop before a single line of the
handler runs. Running its first step right away, inside the callback that
received the request, lets the response be written in the same callback.
Python 3.12 calls this an *eager task* (``asyncio.eager_task_factory``);
here is how it works on 3.11, in a dozen lines.

How: a coroutine is a generator underneath. ``coro.send(None)`` runs it to its
next ``await`` of something not yet done; at that point the awaited future
comes out of ``send`` (that is what ``yield`` inside ``Future.__await__``
does). If instead the coroutine finishes, ``send`` raises StopIteration.
A Task does exactly this, step after step, resuming the coroutine when the
future it yielded is done. :class:`_Resumed` hands a half-run coroutine to a
Task so that the Task's first step sees the future the coroutine is already
waiting on, and every later step is the coroutine's own.

The catch, on 3.11: before its first wait, the coroutine runs with no current
Task, so ``asyncio.current_task()`` returns None there (``asyncio.timeout``
needs one). Handlers that need it opt out: ``Handler.runs_eagerly = False``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any


class _Resumed(Coroutine[Any, Any, None]):
    """A coroutine that already ran its first step, ready to be driven by a Task."""

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def send(self, value: Any) -> Any:
        waiting_on = self._waiting_on
        if waiting_on is not None:
            # The Task's first step: report what the coroutine already awaits.
            self._waiting_on = None
            return waiting_on
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None) -> Any:
        # Cancellation (or any error) goes straight into the real coroutine,
        # at the await where it is paused: cancellation flows as usual.
        self._waiting_on = None
        return self._coro.throw(typ, val, tb)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("_Resumed is driven by a Task, not awaited")


def start_eagerly(coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop,
                  context: contextvars.Context) -> asyncio.Task[None] | None:
    """Run ``coro`` until it first waits. Return None if it finished already,
    else the Task that carries it on from where it paused."""
    try:
        waiting_on = context.run(coro.send, None)
    except StopIteration:
        return None
    if waiting_on is None:
        # A bare ``yield`` (asyncio.sleep(0): "let the others run first").
        # A Task's first step is a send(None), which is exactly how that
        # yield resumes: the Task can take the coroutine as it is.
        return loop.create_task(coro, context=context)
    return loop.create_task(_Resumed(coro, waiting_on), context=context)
