"""What the request reader tells the connection: the four events of a request stream.

A well-formed request is ``RequestHead``, zero or more ``BodyData``, then
``END_OF_REQUEST``. Anything the reader refuses becomes one ``Rejection``,
after which it reads nothing more from that connection.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(slots=True)
class RequestHead:
    """The request line and headers, checked and complete."""

    method: str
    target: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
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
