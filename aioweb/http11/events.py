"""What the request reader tells the connection: the four events of a request stream.

A well-formed request is ``RequestHead``, zero or more ``BodyData``, then
``END_OF_REQUEST``. Anything the reader refuses becomes one ``Rejection``,
after which it reads nothing more from that connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(slots=True, eq=False)
class RequestHead:
    """The request line and headers, checked and complete.

    The reader makes one per request through the factory it is given: by
    default this class; in the server, a subclass that is the handler's
    request itself (``aioweb/server/request.py``), so one object is made per
    request instead of two. (``eq=False``: two requests are never "equal",
    whatever their fields; the connection finds its own in a list.)
    """

    method: str
    target: bytes
    http_version: str
    raw_headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    # The client waits for "100 Continue" before sending its body (RFC 9110 §10.1.1).
    expect_continue: bool
    # False when there is no body at all: no Content-Length (or 0) and not chunked.
    has_body: bool


@dataclasses.dataclass(slots=True)
class BodyData:
    """A piece of the request body, already de-chunked."""

    data: bytes


class EndOfRequest:
    """The request is complete; the next bytes belong to the next request."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_REQUEST"


# One instance serves every request: an end carries no data, so there is
# nothing to allocate per request.
END_OF_REQUEST = EndOfRequest()


@dataclasses.dataclass(slots=True)
class Rejection:
    """Input the server refuses: answer ``status`` and close the connection."""

    status: int
    reason: str
    # The refused request's method when it was read: a HEAD gets no body.
    method: str = ""


Event = RequestHead | BodyData | EndOfRequest | Rejection

# What the reader calls to make a RequestHead: (method, target, http_version,
# raw_headers, keep_alive, expect_continue, has_body), in the fields' order.
HeadFactory = Callable[[str, bytes, str, list[tuple[bytes, bytes]], bool, bool, bool],
                       RequestHead]
