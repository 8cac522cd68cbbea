"""One TCP connection: where bytes from the event loop meet the HTTP rules.

asyncio calls an ``asyncio.Protocol`` back on transport events; this is the
one class that answers those calls. Three kinds of code run here, each
triggered by the one before (the original async-web-container's "three modes
of processing"):

1. **Transport callbacks** (``data_received``, ``connection_lost``, ...),
   called by the event loop when the socket has news.
2. **Reader events**: ``data_received`` feeds bytes to the sans-IO
   :class:`RequestReader`, which returns request heads, body pieces, ends.
3. **Handlers**: each request's :func:`respond` coroutine, started eagerly
   when its turn comes. Requests on one connection run one at a time, in
   arrival order, so pipelined responses can never interleave.

How it is done to the socket (writing and draining, pausing reading, the
phase and its deadline, closing and lingering) sits in the base class,
:class:`aioweb.server.transport_control.TransportControl`; this module
decides what happens to requests.

Nothing here sleeps or polls. Every wait is a future that a transport
callback completes, and every timeout is a deadline checked by the
container's single periodic timer (see ``container.py``), which also arms
the deadline of each phase entered since its last tick (see ``_enter``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, cast

from aioweb.errors import ClientDisconnected, HttpError
from aioweb.http11 import writer
from aioweb.http11.events import BodyData, EndOfRequest, Rejection
from aioweb.http11.phases import FRESH, HANDLING, HEAD, IDLE, Phase
from aioweb.http11.pipelining import EMPTY_LINE, split_after_heads
from aioweb.http11.reader import RequestReader
from aioweb.server.eager import start_eagerly
from aioweb.server.request import HttpToolsRequest
from aioweb.server.respond import JOIN_LIMIT, refusal_bytes, respond
from aioweb.server.transport_control import (ARM_AT_NEXT_TICK, BODY_BUFFER_FULL, PIPELINE_FULL,
                                             TransportControl)

if TYPE_CHECKING:
    from aioweb.server.container import ServerState

log = logging.getLogger("aioweb")

# How long a connection that has sent nothing yet when a graceful shutdown
# begins may take to send its request (see shutdown()): a request already
# sent arrives within a round trip.
SHUTDOWN_FIRST_BYTE_WAIT = 0.5


class HttpToolsConnection(TransportControl):
    """The server side of one HTTP/1.1 connection."""

    __slots__ = ("body_buffer_size", "_max_pipeline", "_requests_seen", "_body_timeout",
                 "gzip_min_size", "plain_below", "_reader", "_waiting", "_unparsed", "_current",
                 "_receiving", "_task", "_keep_alive", "_closing")

    def __init__(self, state: ServerState, peer: tuple[str, int] | None = None,
                 local: tuple[str, int] | None = None) -> None:
        super().__init__(state, peer, local)
        self.body_buffer_size = state.config.body_buffer_size
        self._max_pipeline = state.config.max_pipeline_depth
        self._requests_seen = 0
        self._body_timeout = state.config.body_timeout
        # Bodies this size and up may be gzipped; "infinity" when gzip is off.
        self.gzip_min_size = state.config.gzip_min_size if state.config.gzip else 1 << 62
        # Bodies smaller than this go out plain, joined to their head in one
        # write (too small to gzip or to split): respond.py's fast paths.
        self.plain_below = min(self.gzip_min_size, JOIN_LIMIT + 1)
        # The reader's heads are this connection's requests (see request.py).
        self._reader = RequestReader(state.config, functools.partial(HttpToolsRequest, self))
        # Requests waiting behind the one being handled. A list, not a deque:
        # it holds at most max_pipeline_depth items, and an empty list costs
        # 56 bytes per idle connection where an empty deque costs 760.
        self._waiting: list[HttpToolsRequest | Rejection] = []
        self._unparsed = b""  # read, but held back while the queue is full (see _parse)
        self._current: HttpToolsRequest | None = None   # its handler is running
        self._receiving: HttpToolsRequest | None = None  # its body is arriving
        self._task: asyncio.Task[None] | None = None
        self._keep_alive = True  # False once a response or a refusal ends the connection
        self._closing = False  # shutdown asked, or the client sent EOF

    # --- 1. transport callbacks ------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclasses, but quack alike.
        transport = self.transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(high=self.config.write_buffer_size)
        self.state.connections.add(self)
        if self._debug:
            self._step("connected from %s", self.peer)
        self._enter(FRESH)
        limit = self.config.max_connections
        if self.state.shutting_down:  # accepted just as the container stopped
            self.shutdown()
        elif limit is not None and len(self.state.connections) > limit:
            # Over capacity: answered before its request is read (the linger
            # drops that), and closed.
            self._send_rejection(Rejection(503, "too many connections", ""))

    def data_received(self, data: bytes) -> None:
        if self._debug:
            self._step("read %d bytes", len(data))
        if self._unparsed:  # read just as reading paused: held back too
            self._unparsed += data
            return
        self._parse(data)
        if self._unparsed or (self._waiting and self._current is None):
            # Held-back bytes are parsed as the queue has room, even with a
            # handler running: what _parse counted may be in its own body.
            self._run_waiting()
        elif self._current is None and self._reader.in_head and self.phase is not HEAD:
            self._enter(HEAD)  # the head timeout counts from here

    def eof_received(self) -> bool:
        # The client will send nothing more. A body still arriving never will.
        receiving, self._receiving = self._receiving, None
        if receiving is not None:
            receiving._fail(ClientDisconnected("the client ended the connection mid-body"))  # pylint: disable=protected-access
        if self._current is not None:
            # A handler waiting for the client to go (long polling, http.disconnect).
            self._current._disconnected()  # pylint: disable=protected-access
        if self._current is None and not self._waiting:
            return False  # nothing in flight: let the transport close
        # Answer what it sent (True keeps the transport open for writing), then close.
        self._closing = True
        return True

    def resume_writing(self) -> None:
        super().resume_writing()  # wakes a drain() waiting, resumes reading
        if self._current is None and self._waiting:
            self._run_waiting()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._enter(Phase.CLOSED)
        self.state.connection_closed(self)
        gone = ClientDisconnected("the client closed the connection")
        for request in (self._current, self._receiving, *self._waiting):
            if isinstance(request, HttpToolsRequest):
                request._disconnected()  # pylint: disable=protected-access
        self._drop_queued()
        self._receiving = None
        self._wake_drain_with(gone)
        if self._debug:
            self._step("closed (%s)", exc or "cleanly")

    # --- 2. reader events ------------------------------------------------

    def _parse(self, data: bytes) -> None:
        """Feed bytes to the reader and act on the events they complete; what
        the queue has no room for waits unparsed (see http11/pipelining.py)."""
        room = self._max_pipeline - len(self._waiting)
        # An empty line is 4 bytes: a read of at most 4 * room bytes cannot end
        # more heads than there is room for, and needs no counting.
        if room <= 0 or (len(data) > 4 * room and data.count(EMPTY_LINE) > room):
            data, self._unparsed = split_after_heads(data, room)
            self._pause_reading(PIPELINE_FULL)
            if not data:
                return
        for event in self._reader.receive(data):
            kind = type(event)
            if kind is HttpToolsRequest:
                self._on_head(event)  # type: ignore[arg-type]
            elif kind is BodyData:
                if self._receiving is not None and self._receiving._feed(event.data):  # type: ignore[union-attr]  # pylint: disable=protected-access
                    self._receiving.paused_reading = True
                    self._pause_reading(BODY_BUFFER_FULL)
            elif kind is EndOfRequest:
                if self._debug:
                    self._step("request %d: complete", self._requests_seen)
                if self._receiving is not None:
                    self._receiving._end()  # pylint: disable=protected-access
                    self._receiving = None
            else:
                self._on_rejection(event)  # type: ignore[arg-type]

    def _on_head(self, request: HttpToolsRequest) -> None:
        if (self.state.shutting_down and self.phase is HANDLING) or not self._keep_alive:
            # Pipelined behind a response in flight when shutdown began (which
            # says Connection: close; see shutdown()), or behind one that closed
            # the connection: not accepted. Read no further.
            self._reader.finished = True
            return
        if self._debug:
            self._requests_seen += 1
            self._step("request %d: head complete: %s %r HTTP/%s%s", self._requests_seen,
                       request.method, request.target, request.http_version,
                       "" if request.has_body else " (no body)")
        if request.has_body:
            self._receiving = request
        elif self._current is None and not self._waiting and not self._write_paused:
            # Complete (no body), nothing ahead of it: its turn is now, not from
            # the queue a moment later (~2,000 instructions a request fewer,
            # bench/instructions.py). A request with a body waits for the rest
            # of this read: its body is likely in it, and then needs no Task.
            self._current = request
            self._start(request)
            return
        self._waiting.append(request)

    def _on_rejection(self, rejection: Rejection) -> None:
        receiving, self._receiving = self._receiving, None
        if receiving is not None:  # the limit was hit inside this request's body
            receiving._fail(HttpError(rejection.status, rejection.reason))  # pylint: disable=protected-access
            if receiving is self._current:
                self._keep_alive = False  # its handler answers; then we close
                return
            self._waiting.remove(receiving)  # never started: answer the rejection instead
        if not self._keep_alive:
            return  # behind a response that closed the connection: nothing more is answered
        self._waiting.append(rejection)
        if self._debug:
            self._step("refused: %d %s", rejection.status, rejection.reason)

    # --- 3. handlers, one at a time ---------------------------------------

    def _run_waiting(self) -> None:
        """Start waiting requests in order, while each one finishes at once;
        parse held-back bytes as the queue makes room for them."""
        while True:
            while self._waiting and self._current is None and not self._write_paused:
                item = self._waiting.pop(0)
                if isinstance(item, Rejection):
                    self._send_rejection(item)
                    return
                self._current = item
                self._start(item)
            if not self._unparsed or len(self._waiting) >= self._max_pipeline or self.lost:
                break
            data, self._unparsed = self._unparsed, b""
            self._parse(data)
            if not self._unparsed:
                self._resume_reading(PIPELINE_FULL)
        if self._current is None and not self._waiting and self._reader.in_head \
                and self.phase is IDLE:
            self._enter(HEAD)  # held-back bytes began a head: its timeout runs

    def _start(self, request: HttpToolsRequest) -> None:
        # The caller makes the request current: set here, mypy (and the compiled
        # form, which trusts it) would take _current to be it after respond() too.
        if self.phase is not HANDLING:
            if self._debug:
                self._enter(HANDLING)  # traced, and the step checked against TRANSITIONS
            # What _enter does for a phase without a deadline, without its call.
            self.phase, self.deadline = HANDLING, None
        state = self.state
        coro = respond(self, request, state.handler)
        if self._debug:
            self._step("handler for %s %r started %s", request.method, request.target,
                       "eagerly" if state.eager else "in a Task")
        if state.eager:
            task = start_eagerly(coro, self.loop, self._context.copy())
        else:
            task = self.loop.create_task(coro, context=self._context.copy())
        if task is not None:  # it waits for something: it ends in handler_finished
            request.task = task
            self._task = task
            state.handler_tasks.add(task)
            if self._debug and state.eager:
                self._step("handler waits for something: it goes on in a Task")
        elif self._current is request:  # finished without a response (client gone)
            self.response_sent(False)

    # --- what respond() and HttpToolsRequest call back -------------------

    def handler_finished(self, request: HttpToolsRequest) -> None:
        """The last step of a handler that went on in a Task (see respond()).

        A handler that finished in its first step is ended by ``_start``
        itself; this is the other way, at the end of the Task's last step.
        """
        task = request.task
        assert task is not None
        self.state.handler_tasks.discard(task)
        if self._task is task:
            self._task = None
        # Act only for this handler's own request: a handler may answer and go
        # on running (an ASGI app's background work) while the next request's
        # handler is already the current one.
        if self._current is request and not self.lost:  # it never wrote a response
            self.response_sent(False)
        if self._current is None and self._waiting and not self.lost:
            # Not from here, in the finishing Task's step: the next handler's
            # eager first step would see that Task as current. The next loop
            # turn has none, as when bytes arrive.
            self.loop.call_soon(self._run_waiting, context=self._context)

    def keep_alive_after(self, request: HttpToolsRequest, handler_says_close: bool) -> bool:
        """Whether the connection stays open after this request's response."""
        return (request.keep_alive and self._keep_alive and request.complete
                and not handler_says_close
                and not (self._closing and not self._waiting and not self._unparsed))

    def response_sent(self, keep_alive: bool) -> None:
        """The current request is over (its response written, or none will be:
        the client left, the handler gave up); decide the connection's fate."""
        request, self._current = self._current, None
        if request is not None and request.response_started and not self.lost:
            self.state.requests_served += 1  # only answers that reached the transport
        if self._debug:
            self._step("response written; %s", "keep-alive" if keep_alive else "closing")
        if self.lost:
            return
        if not keep_alive:
            self._keep_alive = False  # a head still in this read is not accepted (_on_head)
            self._drop_queued()
            if request is not None and not request.complete:
                # Answered before its body was read: closing now could reset the
                # connection under the answer while the client still sends. Linger.
                self._reader.finished = True
                self._linger()
            else:
                self._close()
        elif not self._waiting and not self._unparsed:
            if self._closing:
                self._close()
            elif self._reader.in_head:
                self._enter(HEAD)  # the next head has begun: its timeout runs
            else:
                if self._debug:
                    self._enter(IDLE)  # traced, and the step checked against TRANSITIONS
                # _enter's effect without its call: ~850 instructions a request fewer.
                self.phase, self.deadline = IDLE, ARM_AT_NEXT_TICK

    def send_continue(self, request: HttpToolsRequest) -> None:
        """Answer ``Expect: 100-continue``: the handler wants the body."""
        if request.expect_continue and request is self._current:
            request.expect_continue = False  # once
            self.write(writer.CONTINUE_100)

    def body_drained(self) -> None:
        """A handler consumed the body buffer that had paused reading."""
        self._resume_reading(BODY_BUFFER_FULL)

    # --- timeouts, errors, shutdown --------------------------------------

    def waiting_for_body(self, request: HttpToolsRequest, waiting: bool) -> None:
        """A handler starts (or stops) waiting for body bytes: body_timeout runs meanwhile."""
        if request is self._current:
            self.deadline = self.loop.time() + self._body_timeout if waiting else None

    def deadline_passed(self) -> None:
        """Called by the container's timer when this phase's deadline is past."""
        if self._debug:
            self._step("%s timeout", self.phase.name)
        self.deadline = None
        if self.phase is HANDLING:
            if self._drain_waiter is not None:  # send_timeout: the client does not read
                if self.transport is not None:
                    self.transport.abort()  # connection_lost wakes drain() with an error
            elif self._current is not None:  # body_timeout: the body does not come
                self._keep_alive = False
                self._current._fail(HttpError(408, "request body not received in time"))  # pylint: disable=protected-access
            return
        if self.phase is HEAD:
            self._send_rejection(self._reader.refuse(408, "request head not received in time"))
        else:
            self._close()

    def shutdown(self) -> None:
        """Graceful shutdown: finish what is in flight, accept nothing new.

        Reading goes on, so a request body in flight can still arrive; the
        response to the last request in flight says ``Connection: close``.
        """
        self._closing = True
        if self.phase is FRESH:
            # Accepted just before: its request may be on its way, and gets a
            # moment to arrive and be answered (Connection: close), not reset.
            # Not first_byte_timeout: preconnected sockets would hold up every stop.
            self.deadline = self.loop.time() + SHUTDOWN_FIRST_BYTE_WAIT
        elif self._current is None and not self._waiting:
            self._close()

    def abort(self) -> None:
        """The grace period is over: cancel the handler and drop the connection."""
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.abort()

    def _send_rejection(self, rejection: Rejection) -> None:
        # Bad input: answer, then half-close and linger so the client reads
        # the answer before any reset its unread bytes might cause.
        self.write(refusal_bytes(rejection, self.state.common_blocks[0]))
        self._drop_queued()
        self._reader.finished = True  # whatever comes next is discarded unread
        self._linger()

    def _drop_queued(self) -> None:
        """Forget the requests waiting their turn, parsed or not: none will be answered."""
        self._waiting.clear()
        self._unparsed = b""
