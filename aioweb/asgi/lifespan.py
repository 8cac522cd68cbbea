"""The ASGI lifespan protocol: the app's startup before the first request, shutdown after the last.

A request's life is framed by the app's: before the server accepts a
connection, the app is called once with a ``lifespan`` scope and told
``lifespan.startup`` (open the database pool, load the model...); it answers
``lifespan.startup.complete`` or ``.failed``. After the last request, it is
told ``lifespan.shutdown``. What it stores in ``scope["state"]`` during
startup is copied into every request's scope (``request.state`` in Starlette).

Modes, as uvicorn's ``--lifespan``:

* ``auto`` — run it; an app that raises before completing startup does not
  support lifespan (Django, raw apps): that is fine, and logged at info level.
* ``on``   — run it; any failure is fatal.
* ``off``  — never call the app with a lifespan scope.

A startup the app reports as failed (``lifespan.startup.failed``) is fatal in
both ``auto`` and ``on``: :meth:`Lifespan.startup` raises
:class:`LifespanFailed`, and the CLI exits non-zero without listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any, Literal

from aioweb.asgi.spec import LIFESPAN_VERSION, AsgiApp, Message

log = logging.getLogger("aioweb.asgi")

LifespanMode = Literal["auto", "on", "off"]


class LifespanFailed(Exception):
    """The app's startup or shutdown failed; the message says why."""


class Lifespan:
    """Runs one app's lifespan: ``await startup()``, serve, ``await shutdown()``.

    Also an async context manager: ``async with Lifespan(app) as state: ...``.
    """

    def __init__(self, app: AsgiApp, mode: LifespanMode = "auto",
                 state: dict[str, Any] | None = None) -> None:
        if mode not in ("auto", "on", "off"):
            raise ValueError(f"lifespan mode must be auto, on or off, not {mode!r}")
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {} if state is None else state
        # None until startup: then whether the app speaks the protocol.
        self.supported: bool | None = None
        self._events: asyncio.Queue[Message] | None = None
        self._task: asyncio.Task[None] | None = None
        self._answers: dict[str, asyncio.Future[str | None]] = {}
        self._error: Exception | None = None

    async def startup(self) -> None:
        """Tell the app to start; return when it has, raise LifespanFailed if it cannot."""
        if self.mode == "off":
            self.supported = False
            return
        loop = asyncio.get_running_loop()
        self._events = asyncio.Queue()
        self._answers = {"startup": loop.create_future(), "shutdown": loop.create_future()}
        self._task = loop.create_task(self._run())
        self._events.put_nowait({"type": "lifespan.startup"})
        failure = await self._answer("startup")
        if failure is not None:
            raise LifespanFailed(f"application startup failed: {failure}")
        if self._task.done():  # it returned or raised without completing startup
            if self._error is not None and self.mode == "on":
                raise LifespanFailed(f"application startup failed: {self._error!r}")
            if self._error is not None:
                log.info("ASGI 'lifespan' protocol appears unsupported (%r)", self._error)
            self.supported = False
            return
        self.supported = True
        log.debug("application startup complete")

    async def shutdown(self, timeout: float | None = None) -> None:
        """Tell the app to shut down; wait at most ``timeout`` seconds for it."""
        task = self._task
        if not self.supported or task is None or task.done() or self._events is None:
            return
        self._events.put_nowait({"type": "lifespan.shutdown"})
        try:
            failure = await asyncio.wait_for(self._answer("shutdown"), timeout)
        except TimeoutError:
            failure = f"no answer in {timeout} s"
        finally:
            if not task.done():  # it answered but lingers, or never answered
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if failure is None and self._error is not None:
            failure = repr(self._error)
        if failure is not None:
            raise LifespanFailed(f"application shutdown failed: {failure}")
        log.debug("application shutdown complete")

    async def _answer(self, phase: str) -> str | None:
        """Wait for the app's answer to ``phase``: None if complete, else why it failed."""
        answer = self._answers[phase]
        task = self._task
        assert task is not None
        await asyncio.wait([answer, task],  # type: ignore[type-var]  # mixed future types
                           return_when=asyncio.FIRST_COMPLETED)
        if answer.done():
            return answer.result()
        if self._error is not None and phase == "shutdown":
            return repr(self._error)
        return None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": dict(LIFESPAN_VERSION), "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Kept, not raised: what it means depends on the mode and the phase.
            self._error = exc
            if self.mode == "on" or self.supported:
                log.error("ASGI lifespan failed", exc_info=exc)

    async def _receive(self) -> Message:
        assert self._events is not None
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        phase, _, outcome = kind.removeprefix("lifespan.").partition(".")
        answer = self._answers.get(phase)
        if answer is None or outcome not in ("complete", "failed"):
            raise RuntimeError(f"unexpected ASGI lifespan message {kind!r}")
        if answer.done():
            raise RuntimeError(f"{kind!r} sent after lifespan.{phase} was already answered")
        answer.set_result(None if outcome == "complete" else str(message.get("message", "")))

    async def __aenter__(self) -> dict[str, Any]:
        await self.startup()
        return self.state

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.shutdown()
