"""The exceptions a request can meet, and the status each one becomes.

They derive from :class:`Exception` (never ``BaseException``) so that they
can never be confused with cancellation, which must always flow through.
"""

from __future__ import annotations

from http import HTTPStatus


class HttpError(Exception):
    """A request that must be answered with an error status.

    Raise it in a handler to answer with that status (``raise HttpError(404)``);
    the container raises it too, from ``request.body()`` for a body over the
    limit (413), for instance.
    """

    def __init__(self, status: int, detail: str | None = None) -> None:
        self.status = status
        self.detail = detail if detail is not None else _phrase(status)
        super().__init__(status, self.detail)


class ClientDisconnected(ConnectionError):
    """The client closed the connection while its request was being handled."""


class ResponseHeaderError(ValueError):
    """A handler's response header would break the framing (CR, LF, NUL or a bad name)."""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
