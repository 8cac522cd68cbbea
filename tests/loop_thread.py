"""An event loop on its own daemon thread: how every wire test runs a server.

The server under test needs a running event loop while the test talks to it
from the main thread with blocking sockets. :class:`LoopThread` starts a
fresh loop (asyncio's or uvloop's) in a thread, runs a start-up coroutine on
it (:meth:`LoopThread.starting`, which subclasses give), then runs the loop
until :meth:`LoopThread.end_thread`. Whatever the loop reports through its
exception handler (a protocol callback that raised, an exception never
retrieved) is kept in ``loop_errors``: a correct server reports none, and the
fixtures' teardowns check it. The test's thread reaches the loop only through
:meth:`run` and :meth:`call`, never by touching the server's state directly.

pytest puts this folder on ``sys.path`` (``tests`` is not a package), so the
conftest modules import it as ``loop_thread``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from aioweb.server.lifecycle import new_event_loop


class LoopThread:
    """A fresh event loop in a daemon thread, started by :meth:`starting`."""

    def __init__(self, loop_kind: str, name: str, timeout: float) -> None:
        self.loop_kind = loop_kind
        self.loop = new_event_loop(loop_kind == "uvloop")
        self.loop.set_exception_handler(self._on_loop_error)
        self.loop_errors: list[str] = []
        self.timeout = timeout  # how long the test's thread waits for the loop
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    async def starting(self) -> None:
        """What runs on the loop before the thread counts as started."""
        raise NotImplementedError

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.loop_errors.append(f"{context.get('message')}: {context.get('exception')!r}")
        loop.default_exception_handler(context)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.starting())
        except BaseException as exc:  # pylint: disable=broad-exception-caught
            # Handed to the test's thread, which raises it from start_thread().
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            self.loop.run_forever()
        finally:
            # Whatever the test left behind (a handler aborted at shutdown
            # and cancelled, say) is finished here, on its own loop.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start_thread(self) -> None:
        """Start the thread; return once :meth:`starting` has finished on the loop."""
        self._thread.start()
        assert self._started.wait(self.timeout), "the server did not start"
        if self._start_error is not None:
            raise self._start_error

    @property
    def started(self) -> bool:
        """Whether the thread is running its loop (started, and not ended yet)."""
        return self._thread.is_alive() and self._start_error is None

    def end_thread(self) -> None:
        """Stop the loop, and wait for the thread to close it."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(self.timeout)

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run a coroutine on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(
            self.timeout if timeout is None else timeout)

    def call(self, function: Callable[[], Any]) -> Any:
        """Call ``function`` on the loop (where the server's state lives); its result."""
        async def on_loop() -> Any:
            return function()
        return self.run(on_loop())
