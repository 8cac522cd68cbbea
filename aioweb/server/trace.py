"""Trace mode: every step of every connection, told in order as a story.

    conn 1: connected from ('127.0.0.1', 50312)
    conn 1: phase FRESH (timeout 10.0 s)
    conn 1: read 83 bytes
    conn 1: request 1: head complete: GET b'/hello' HTTP/1.1 (no body)
    conn 1: request 1: complete
    conn 1: phase FRESH -> HANDLING
    conn 1: handler for GET b'/hello' started eagerly
    conn 1: response written; keep-alive
    conn 1: phase HANDLING -> IDLE (timeout 5.0 s)

Turned on by ``Config(debug=True)`` (``--debug`` on the sample server,
``--trace`` too). When off it costs one attribute test per step: the
connection checks ``self._debug`` before building any text. Request targets
are shown with ``%r``, so control characters from a client are escaped and
cannot forge log lines.
"""

from __future__ import annotations

import itertools
import logging

trace_log = logging.getLogger("aioweb.trace")


class Tracer:
    """Numbers connections and writes their steps to the ``aioweb.trace`` logger."""

    def __init__(self) -> None:
        self._connection_ids = itertools.count(1)

    def next_connection_id(self) -> int:
        """A number for a new connection, shown on each of its lines."""
        return next(self._connection_ids)

    @staticmethod
    def step(connection_id: int, message: str, *args: object) -> None:
        """One line of the story (``message`` is a %-format, like logging's)."""
        trace_log.debug("conn %d: " + message, connection_id, *args)
