"""How a connection drives its transport: the mechanics under the HTTP flow.

:class:`aioweb.server.connection.HttpToolsConnection` decides *what* happens
to a request; this base class holds *how* it is done to the socket, in one
place, with no HTTP in it:

* writing, and waiting for a client that reads slower than we write
  (``write``, ``drain``, ``pause_writing``, ``resume_writing``);
* pausing reading for a reason, and resuming it only when no reason is left
  (``_pause_reading``, ``_resume_reading``): flow control on the way in;
* the connection's phase and its deadline (``_enter``), which the container's
  single timer checks (see ``container.py``);
* the two ways a connection ends: ``_close``, and the lingering half-close
  that follows an error answer (``_linger``);
* trace mode's story of each step (``_step``, see ``trace.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING

from aioweb.errors import ClientDisconnected
from aioweb.http11.phases import TRANSITIONS, Phase

if TYPE_CHECKING:
    from aioweb.server.container import ServerState

# A phase's deadline before the container's timer has armed it (see
# _enter): no clock reading can pass it, and the timer knows it by its value.
ARM_AT_NEXT_TICK = -1.0

# Why reading is paused; reading resumes only when no reason is left.
BODY_BUFFER_FULL = 1   # a handler has not consumed the body buffered for it
PIPELINE_FULL = 2      # too many requests wait behind the one being handled
WRITE_BUFFER_FULL = 4  # the client is not reading our responses
_PAUSE_REASONS = {BODY_BUFFER_FULL: "body buffer full", PIPELINE_FULL: "pipeline full",
                  WRITE_BUFFER_FULL: "client reads slower than we write"}


class TransportControl(asyncio.Protocol):
    """One connection's transport, its pauses, its phase and its deadline."""

    # Slots, not a __dict__: a server holds one connection per open socket, by
    # the ten thousand. (Past 30 attributes CPython also stops sharing an
    # instance dict's keys, and each dict would cost over 1.5 KiB.) The
    # subclass adds its own.
    __slots__ = ("state", "config", "loop", "_debug", "_id", "_timeouts", "_send_timeout",
                 "transport", "peer", "local", "lost", "phase", "deadline", "_paused_for",
                 "_write_paused", "_drain_waiter", "_context")

    def __init__(self, state: ServerState, peer: tuple[str, int] | None,
                 local: tuple[str, int] | None) -> None:
        self.state = state
        self.config = state.config
        self.loop = state.loop
        self._debug = state.config.debug  # trace mode: see trace.py
        self._id = state.tracer.next_connection_id() if self._debug else 0
        self._timeouts = state.timeouts
        self._send_timeout = state.config.send_timeout
        self.transport: asyncio.Transport | None = None
        # The client's address and ours (IP connections only), as the
        # listener learnt them when it accepted the connection.
        self.peer = peer
        self.local = local
        self.lost = False
        self.phase = Phase.FRESH
        # When the current phase times out: None if it cannot, and
        # ARM_AT_NEXT_TICK until the container's timer has set it (see _enter).
        self.deadline: float | None = None
        self._paused_for = 0  # the reasons reading is paused, or-ed together
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        # Each handler runs in a copy of this: what one request's handler sets
        # in a contextvar is not seen by the next one's.
        self._context = contextvars.copy_context()

    # --- writing, and the client that reads slowly ------------------------

    def write(self, data: bytes) -> None:
        """Write bytes; silently dropped once the client is gone."""
        if not self.lost:
            self.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark."""
        if self.lost or self.transport is None or self.transport.is_closing():
            # Closing already (a reset makes writes fail before connection_lost
            # runs): stop the writer, or it would loop without ever yielding.
            raise ClientDisconnected("the client closed the connection")
        if self._write_paused:
            waiter = self._drain_waiter = self.loop.create_future()
            self.deadline = self.loop.time() + self._send_timeout
            try:
                await waiter
            finally:
                self.deadline = None

    def pause_writing(self) -> None:
        # The transport's buffer passed the high-water mark: the client reads
        # slower than we write. Stop producing until it catches up.
        self._write_paused = True
        self._pause_reading(WRITE_BUFFER_FULL)

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        self._resume_reading(WRITE_BUFFER_FULL)

    def _wake_drain_with(self, error: Exception) -> None:
        """The connection is gone: a writer waiting in drain() gets ``error``."""
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
            waiter.exception()  # mark it retrieved: nobody may be waiting any more

    # --- reading paused for a reason --------------------------------------

    def _pause_reading(self, reason: int) -> None:
        if not self._paused_for and self.transport is not None and not self.lost:
            self.transport.pause_reading()
            if self._debug:
                self._step("reading paused (%s)", _PAUSE_REASONS[reason])
        self._paused_for |= reason

    def _resume_reading(self, reason: int) -> None:
        if self._paused_for & reason:
            self._paused_for &= ~reason
            if not self._paused_for and self.transport is not None and not self.lost:
                self.transport.resume_reading()
                if self._debug:
                    self._step("reading resumed")

    # --- phases, and the two ways to end ----------------------------------

    def _enter(self, phase: Phase) -> None:
        """Move to ``phase``; its timeout, if it has one, starts at the next tick.

        The deadline is not set from the clock here but marked
        ``ARM_AT_NEXT_TICK``: the container's timer, which visits every
        connection each tick anyway, sets it to that tick's time plus the
        phase's timeout. Reading the clock on every request (to enter IDLE)
        cost ~500 instructions more (measured, bench/instructions.py's
        aioweb-connection-uvloop); in exchange a timeout fires
        between one and two ticks late instead of within one.
        """
        timeout = self._timeouts[phase]
        if self._debug:
            assert (self.phase, phase) in TRANSITIONS or phase is self.phase, (self.phase, phase)
            self._step("phase %s%s", phase.name if phase is self.phase
                       else f"{self.phase.name} -> {phase.name}",
                       "" if timeout is None else f" (timeout {timeout} s)")
        self.phase = phase
        self.deadline = None if timeout is None else ARM_AT_NEXT_TICK

    def _close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()

    def _linger(self) -> None:
        """Half-close: no more writes, but read and discard until the client
        closes or linger_timeout passes (nginx's lingering close)."""
        transport = self.transport
        if transport is None or self.lost:
            return
        self._enter(Phase.LINGERING)
        self._paused_for = 0
        transport.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def _step(self, message: str, *args: object) -> None:
        self.state.tracer.step(self._id, message, *args)
