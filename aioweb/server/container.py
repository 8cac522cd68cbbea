"""The listening socket, the clock, and the shutdown: what all connections share.

:class:`HttpToolsContainer` binds the socket, accepts connections on it (see
``listener.py``), makes one :class:`HttpToolsConnection` per connection, runs
one periodic timer that closes connections whose deadline has passed, and
shuts down in order: stop accepting, close idle connections, wait for
in-flight requests (at most the grace period), cancel what is left.

One timer for all connections instead of one per connection: arming and
cancelling a timer on every request costs more than the request itself on a
fast path; checking a deadline attribute every tick costs almost nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
import time
from collections.abc import Iterable, Sequence

from aioweb.config import Config
from aioweb.contract import Container, Handler, HandlerFunction
from aioweb.http11.phases import DEADLINES, Phase
from aioweb.http11.writer import CommonHeaders, status_line
from aioweb.server.connection import HttpToolsConnection
from aioweb.server.transport_control import ARM_AT_NEXT_TICK
from aioweb.server.listener import Listener, bind, socket_address
from aioweb.server.respond import HandlerCall
from aioweb.server.tls import tls_options
from aioweb.server.trace import Tracer

log = logging.getLogger("aioweb")


class ServerState:
    """What every connection of one container reads or updates."""

    def __init__(self, config: Config, handler: Handler | HandlerFunction,
                 loop: asyncio.AbstractEventLoop, scheme: str = "http") -> None:
        self.config = config
        self.loop = loop
        self.scheme = scheme  # every request's Request.scheme: "https" with TLS
        if isinstance(handler, Handler):
            self.handler: HandlerCall = handler.handle
            self.eager = config.eager_handlers and handler.runs_eagerly
        else:
            self.handler = handler
            self.eager = config.eager_handlers
        self.connections: set[HttpToolsConnection] = set()
        # Handlers running in Tasks, including ones that answered and go on
        # working; a graceful stop waits for them too, an abort cancels them.
        self.handler_tasks: set[asyncio.Task[None]] = set()
        self.requests_served = 0
        self.shutting_down = False
        self.tracer = Tracer()
        # Indexed by Phase: timeouts[phase] is that phase's timeout, or None.
        self.timeouts: tuple[float | None, ...] = tuple(
            None if DEADLINES[phase] is None else float(getattr(config, str(DEADLINES[phase])))
            for phase in Phase)
        # The Date/Server block of every response, refreshed by the
        # container's tick rather than read from the clock per response;
        # common_blocks[replaced]: without the lines a handler replaced.
        self.common_headers = CommonHeaders(config.server_header, config.date_header,
                                            config.default_headers)
        self.common_blocks: tuple[bytes, ...] = ()
        # The commonest head's start, "HTTP/1.1 200 OK" and that block, kept
        # joined: the fast path then formats a response in one step.
        self.ok_block = b""
        self.set_clock(time.time())
        self.all_closed = asyncio.Event()

    def set_clock(self, now: float) -> None:
        """Refresh what depends on the time of day: the Date header."""
        self.ok_block = status_line(200) + self.common_headers.at(now)
        self.common_blocks = self.common_headers.blocks

    def connection_closed(self, connection: HttpToolsConnection) -> None:
        """A connection is gone: forget it, and tell a waiting shutdown."""
        self.connections.discard(connection)
        if not self.connections:
            self.all_closed.set()


class HttpToolsContainer(Container):
    """A :class:`Container` on asyncio (or uvloop) transports and httptools.

    It binds ``config.host`` and ``config.port``, unless given ``sockets``
    already bound (a Unix socket, or what a supervisor or systemd handed down,
    see ``aioweb/supervisor.py``): it listens on those instead. Given ``tls``
    (a server-side ``ssl.SSLContext``, see ``tls.py``), every connection is
    TLS: HTTPS.
    """

    def __init__(self, handler: Handler | HandlerFunction, config: Config | None = None,
                 sockets: Sequence[socket.socket] = (), tls: ssl.SSLContext | None = None
                 ) -> None:
        self._handler = handler
        self.config = config or Config()
        self._sockets = list(sockets)
        self._tls = tls
        self._listeners: list[Listener] = []
        self._state: ServerState | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._address: tuple[str, int] = (self.config.host, self.config.port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        state = self._state = ServerState(self.config, self._handler, loop,
                                          "http" if self._tls is None else "https")
        sockets = self._sockets or await bind(self.config.host, self.config.port)
        tls = None if self._tls is None else tls_options(self._tls, self.config)
        self._listeners = [Listener(sock, loop, functools.partial(HttpToolsConnection, state),
                                    self.config.backlog, tls, self.config.max_connections)
                           for sock in sockets]
        for listener in self._listeners:
            listener.start()
        sockname = sockets[0].getsockname()
        self._address = socket_address(sockname) or (str(sockname), 0)  # (path, 0): a Unix socket
        self._stopped = loop.create_future()
        self._tick = loop.call_later(self.config.timer_tick(), self._check_deadlines)

    def _check_deadlines(self) -> None:
        state = self._state
        assert state is not None
        state.set_clock(time.time())
        now = state.loop.time()
        timeouts = state.timeouts
        for connection in _due(state.connections, now):
            if connection.deadline == ARM_AT_NEXT_TICK:
                # It entered its phase since the last tick (see
                # HttpToolsConnection._enter): the phase's timeout runs from now.
                timeout = timeouts[connection.phase]
                assert timeout is not None  # only a phase with a timeout is marked
                connection.deadline = now + timeout
            else:
                connection.deadline_passed()
        limit = self.config.max_requests
        if limit is not None and state.requests_served >= limit and self._stopping is None:
            log.info("served %d requests (max_requests %d): stopping", state.requests_served, limit)
            self._stopping = state.loop.create_task(self._stop(None))
        self._tick = state.loop.call_later(self.config.timer_tick(), self._check_deadlines)

    async def serve_forever(self) -> None:
        if self._stopped is None:
            await self.start()
        assert self._stopped is not None
        await asyncio.shield(self._stopped)

    async def stop(self, grace_period: float | None = None) -> None:
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(grace_period))
        elif grace_period == 0 and self._state is not None:
            # A stop is under way and patience has run out (a second Ctrl-C):
            # abort what is left; the stop under way then completes.
            for connection in list(self._state.connections):
                connection.abort()
            for task in list(self._state.handler_tasks):
                task.cancel()
            for listener in self._listeners:
                listener.abandon_handshakes()
        await asyncio.shield(self._stopping)  # a second stop() waits for the first

    async def _stop(self, grace_period: float | None) -> None:
        if not self._listeners or self._state is None or self._stopped is None:
            return
        if grace_period is None:
            grace_period = self.config.graceful_shutdown_timeout
        state = self._state
        deadline = state.loop.time() + grace_period
        state.shutting_down = True
        for listener in self._listeners:  # 1. stop accepting
            listener.close()
        for listener in self._listeners:  # connections accepted just now get made (and shut down)
            await listener.wait_closed(max(0.0, deadline - state.loop.time()))
        connections = list(state.connections)
        if connections:
            state.all_closed.clear()
            for connection in connections:  # 2. idle ones close now, busy ones when done
                connection.shutdown()
            try:  # 3. wait for in-flight requests
                await asyncio.wait_for(state.all_closed.wait(), grace_period)
            except TimeoutError:
                log.warning("grace period over: aborting %d connections", len(state.connections))
                for connection in list(state.connections):  # 4. cancel the rest
                    connection.abort()
                await asyncio.sleep(0)  # let the aborted transports call connection_lost
        await _finish_handler_tasks(state, deadline)
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if not self._stopped.done():
            self._stopped.set_result(None)
        self._listeners = []

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    @property
    def requests_served(self) -> int:
        return 0 if self._state is None else self._state.requests_served

    @property
    def connection_count(self) -> int:
        """Open connections right now (for tests and monitoring)."""
        return 0 if self._state is None else len(self._state.connections)


async def _finish_handler_tasks(state: ServerState, deadline: float) -> None:
    """Wait, until the deadline, for handlers still running after they answered; then cancel."""
    if not state.handler_tasks:
        return
    _, pending = await asyncio.wait(list(state.handler_tasks),
                                    timeout=max(0.0, deadline - state.loop.time()))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    # Each Task removes itself as its handler ends (respond()'s last step); a
    # Task cancelled before its first step never ran that step.
    state.handler_tasks.clear()


def _due(connections: Iterable[HttpToolsConnection], now: float) -> list[HttpToolsConnection]:
    """The connections whose deadline has passed or is still to be armed."""
    return [c for c in connections if c.deadline is not None and c.deadline <= now]
