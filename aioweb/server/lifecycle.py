"""Running a container as a program: pick the loop, handle signals, exit cleanly.

SIGINT or SIGTERM starts a graceful shutdown (``Container.stop``); a second
SIGINT forces it, aborting in-flight requests at once, for the impatient
Ctrl-C Ctrl-C. The process exits 0 after a graceful stop, also when the
container stopped by itself (``Config.max_requests``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aioweb.server.container import HttpToolsContainer

log = logging.getLogger("aioweb")


def new_event_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    """uvloop's loop when asked for and installed, else asyncio's own."""
    if use_uvloop:
        try:
            import uvloop  # pylint: disable=import-outside-toplevel
        except ImportError:
            log.warning("uvloop is not installed; using the asyncio event loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_until_signalled(container: HttpToolsContainer, use_uvloop: bool,
                        on_started: Callable[[HttpToolsContainer], None] | None = None) -> None:
    """A program's whole life: a new event loop, serve until SIGINT/SIGTERM,
    a graceful stop, then the loop closed."""
    loop = new_event_loop(use_uvloop)
    try:
        loop.run_until_complete(serve_until_signalled(container, on_started=on_started))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def serve_until_signalled(container: HttpToolsContainer,
                                on_started: Callable[[HttpToolsContainer], None] | None = None,
                                stop_requested: asyncio.Event | None = None) -> None:
    """Start, serve until SIGINT/SIGTERM, then stop gracefully.

    ``stop_requested``, when given, is one more way to ask for the graceful
    stop: setting it does what a first signal does (a worker whose
    supervisor is gone sets it, see ``aioweb/supervisor.py``).
    """
    loop = asyncio.get_running_loop()
    await container.start()
    requested = asyncio.Event() if stop_requested is None else stop_requested
    stopping: asyncio.Task[None] | None = None

    def on_signal() -> None:
        if not requested.is_set():
            requested.set()
        elif stopping is not None:  # a second signal: no more patience
            log.warning("second signal: forcing shutdown")
            stopping.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    if on_started is not None:
        # After the handlers: a supervisor told that the worker serves may
        # pass a signal on at once, and it must find them in place.
        on_started(container)
    # Until a signal (or stop_requested), or until the container stops by
    # itself (Config.max_requests).
    signalled = loop.create_task(requested.wait())
    serving = loop.create_task(container.serve_forever())
    try:
        await asyncio.wait((signalled, serving), return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        stopping = loop.create_task(container.stop())
        try:
            await stopping
        except asyncio.CancelledError:
            if not stopping.cancelled():
                raise  # we were cancelled ourselves: let it flow
            await container.stop(grace_period=0)
    finally:
        signalled.cancel()
        serving.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
