"""The contract: what a container promises a handler, and what a handler owes back.

This is the first module to read. Everything else in aioweb is one way of
keeping these promises (``aioweb.server`` keeps them on httptools + asyncio).

A request's life, as the contract sees it:

1. A client connects; the :class:`Container` accepts the connection.
2. The request head (request line and headers) arrives and passes the
   HTTP/1.1 checks. Malformed or oversized input is answered with a 4xx by the
   container itself: **a handler never sees a bad request**.
3. The container calls the :class:`Handler` with a :class:`Request`. The body
   may still be on its way; the handler reads it with ``await request.body()``
   or ``async for chunk in request.stream()``.
4. The handler returns a :class:`Response` (or ``bytes``/``str``, meaning
   200). The container frames it (Content-Length or chunked), writes it, and
   goes on to the next request on the connection.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping

from aioweb.headers import Headers

# What a response body may be: bytes sent as one piece, or an async iterator
# of chunks sent as they come (chunked encoding when no Content-Length is set).
Body = bytes | str | AsyncIterable[bytes]
# One response header. Text is what a handler usually writes; bytes are what
# an ASGI app hands over, and they pass through unconverted. Either way the
# container checks both parts before a byte is written.
Header = tuple[str | bytes, str | bytes]


class Response:
    """Plain data: a status, headers and a body, built by a handler.

    ``Response(b"hi")`` is a 200 with a two-byte body. ``headers`` may be a
    mapping or a list of ``(name, value)`` pairs, text or ISO-8859-1 bytes; a
    list keeps duplicates (several ``Set-Cookie``, say). A ``str`` body is
    encoded as UTF-8 and, when no Content-Type is given, sent as
    ``text/plain; charset=utf-8``.

    The container adds ``Date`` and ``Server`` (unless the handler gives its
    own: then only the handler's goes out), the framing headers
    (``Content-Length`` or ``Transfer-Encoding``) and ``Connection`` itself.
    A header name or value holding CR, LF or NUL is refused: the client gets a
    500 instead, so a handler cannot split a response by mistake.
    """

    __slots__ = ("status", "headers", "body")

    # What a Content-Length among ``headers`` means for a bytes body. False:
    # nothing; the container frames the body by its own size. True (the ASGI
    # adapter's responses: the spec makes the app's length binding): it is the
    # size promised, so a body that does not match is not quietly re-framed:
    # a shorter one closes the connection after it, a longer one is cut there.
    content_length_binding = False

    def __init__(self, body: Body = b"", status: int = 200,
                 headers: Mapping[str, str] | Iterable[Header] | None = None,
                 *, content_type: str | None = None) -> None:
        self.status = status
        if headers is None:
            pairs: list[Header] = []
        elif type(headers) is list:  # pylint: disable=unidiomatic-typecheck
            pairs = headers.copy()  # the common case, without the costly Mapping check
        elif isinstance(headers, Mapping):
            pairs = list(headers.items())
        else:
            pairs = list(headers)
        if isinstance(body, str):
            body = body.encode()
            if content_type is None:
                content_type = "text/plain; charset=utf-8"
        if content_type is not None:
            pairs.append(("Content-Type", content_type))
        self.headers: list[Header] = pairs
        self.body: bytes | AsyncIterable[bytes] = body

    def __repr__(self) -> str:
        kind = f"{len(self.body)} bytes" if isinstance(self.body, bytes) else "streamed"
        return f"Response({self.status}, {kind}, headers={self.headers!r})"


class Request(abc.ABC):
    """One HTTP request, as a handler sees it.

    The head is complete and checked when the handler is called; the body may
    still be arriving. Reading it is what lets more of it in: the container
    stops reading from the socket while body data it buffered is unread, so a
    slow handler never makes the server hold an unbounded body in memory.

    If the client disconnects, :attr:`is_disconnected` becomes true and
    ``body()``/``stream()`` raise :class:`aioweb.errors.ClientDisconnected`;
    the handler is not cancelled (it may have work to finish), and whatever it
    then writes is dropped.
    """

    __slots__ = ()  # so that implementations with __slots__ get no __dict__

    @property
    @abc.abstractmethod
    def method(self) -> str:
        """The request method, e.g. ``"GET"``."""

    @property
    @abc.abstractmethod
    def path(self) -> str:
        """The path, percent-decoded as UTF-8 (``/a%20b`` → ``/a b``)."""

    @property
    @abc.abstractmethod
    def raw_path(self) -> bytes:
        """The path exactly as the client sent it, without the query."""

    @property
    @abc.abstractmethod
    def query_string(self) -> bytes:
        """The raw query, without the ``?`` (``b""`` when there is none)."""

    @property
    @abc.abstractmethod
    def query(self) -> Mapping[str, list[str]]:
        """The query parsed into lists of values (``?a=1&a=2`` → ``{"a": ["1", "2"]}``)."""

    @property
    @abc.abstractmethod
    def http_version(self) -> str:
        """``"1.1"`` or ``"1.0"``."""

    @property
    @abc.abstractmethod
    def headers(self) -> Headers:
        """The request headers: case-insensitive, in order, duplicates kept.
        With an absolute-form target (``GET http://host/path``), ``Host`` is
        the target's host, whatever the client sent (RFC 9112 §3.2.2)."""

    @property
    @abc.abstractmethod
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The header ``(name, value)`` byte pairs as the client sent them, in
        order (what :attr:`headers` decodes on demand; an ASGI scope's source),
        but for ``Host`` with an absolute-form target (see :attr:`headers`)."""

    @property
    @abc.abstractmethod
    def scheme(self) -> str:
        """``"https"`` when the connection is TLS, else ``"http"``: how the client
        reached this server (a proxy in front may have been reached otherwise;
        the ASGI adapter's ``proxies`` says so in the scope)."""

    @property
    @abc.abstractmethod
    def client(self) -> tuple[str, int] | None:
        """The peer's (host, port), or None where the socket has none (Unix sockets)."""

    @property
    @abc.abstractmethod
    def server(self) -> tuple[str, int] | None:
        """The local (host, port) the request came in on."""

    @property
    @abc.abstractmethod
    def keep_alive(self) -> bool:
        """Whether the client asked to keep the connection open after this request."""

    @property
    @abc.abstractmethod
    def is_disconnected(self) -> bool:
        """True once the client has gone; a handler may poll it in long work."""

    @property
    @abc.abstractmethod
    def has_body(self) -> bool:
        """Whether the request has a body at all (a Content-Length above 0, or
        chunked): when it has none, :meth:`body` is ``b""`` and there is
        nothing to wait for or read (an adapter need not call it)."""

    @property
    @abc.abstractmethod
    def complete(self) -> bool:
        """True once the whole body has arrived (from the start when there is
        none): :meth:`body` will not wait. An adapter can then pass the body on
        in one piece (ASGI's ``more_body=False``) instead of streaming it."""

    @abc.abstractmethod
    async def body(self) -> bytes:
        """The whole body, once it has arrived.

        Raises :class:`aioweb.errors.HttpError` (413) past the body limit, and
        :class:`aioweb.errors.ClientDisconnected` if the client goes away. If
        the client sent ``Expect: 100-continue``, the first read is what makes
        the container answer ``100 Continue``.
        """

    @abc.abstractmethod
    def stream(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, as it arrives; same errors as :meth:`body`."""

    @abc.abstractmethod
    async def wait_disconnected(self) -> None:
        """Return once the client has closed the connection (never spins)."""

    # --- answering from inside the handler ---------------------------------
    # Most handlers return their response. These are for handlers that must
    # answer while they go on running (the ASGI adapter: an app's background
    # work runs after its response is sent). A handler that used them returns None.

    @abc.abstractmethod
    async def send(self, response: Response) -> None:
        """Write a whole response now."""

    @abc.abstractmethod
    def start_response(self, status: int, headers: Iterable[Header],
                       content_length: int | None = None) -> ResponseWriter:
        """Write the head of a response whose body follows piece by piece.

        With ``content_length`` the body must have exactly that many bytes (a
        short one closes the connection; excess bytes are not sent); without,
        HTTP/1.1 clients get chunked encoding and HTTP/1.0 clients a body that
        ends when the connection closes. A header with CR, LF or NUL raises
        :class:`aioweb.errors.ResponseHeaderError` before anything is written.
        """


class ResponseWriter(abc.ABC):
    """The body of a response being written piece by piece."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send a piece of the body; waits while the client reads slower than we write.

        Raises :class:`aioweb.errors.ClientDisconnected` once the client is gone.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """End the body (the last chunk, for chunked encoding)."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Give up on this response: the connection closes, so the client
        sees a body cut short rather than a complete-looking one."""

    @property
    @abc.abstractmethod
    def finished(self) -> bool:
        """Whether close() or abort() has been called."""


# What a handler may return: a Response, or bytes/str meaning "200 with this
# body", or None when it already answered through Request.send/start_response.
ResponseLike = Response | bytes | str | None
HandlerFunction = Callable[[Request], Awaitable[ResponseLike]]


class Handler(abc.ABC):
    """Turns a request into a response.

    The container calls :meth:`handle` once per request, one request at a
    time per connection (pipelined requests wait their turn, so responses go
    out in order). A plain ``async def handler(request)`` is accepted wherever
    a Handler is.

    Errors: an :class:`aioweb.errors.HttpError` becomes a response with its
    status; any other exception becomes a 500, its traceback is logged, and
    the connection goes on serving. Cancellation is never swallowed.

    Eagerness: a handler is started at once, inside the callback that received
    its request, and only becomes an ``asyncio.Task`` if it has to wait (see
    ``aioweb/server/eager.py``). Handlers that need a Task from their first
    line (anything calling ``asyncio.current_task()``, such as
    ``asyncio.timeout`` or anyio on Python 3.11) set :attr:`runs_eagerly` to
    False.
    """

    runs_eagerly: bool = True

    @abc.abstractmethod
    async def handle(self, request: Request) -> ResponseLike:
        """Answer one request."""


class Container(abc.ABC):
    """Listens on a socket and serves every connection with one handler.

    Life cycle: ``await start()`` returns once the socket listens (port 0
    picks a free port; :attr:`address` tells which); ``await serve_forever()``
    serves until ``stop()``; ``await stop()`` is the graceful shutdown: stop
    accepting, close idle keep-alive connections, let in-flight requests finish
    within the grace period, then close what is left.
    """

    @abc.abstractmethod
    async def start(self) -> None:
        """Bind and listen; return once connections are being accepted."""

    @abc.abstractmethod
    async def serve_forever(self) -> None:
        """Serve until :meth:`stop` has completed."""

    @abc.abstractmethod
    async def stop(self, grace_period: float | None = None) -> None:
        """Shut down gracefully, waiting at most ``grace_period`` seconds for requests."""

    @property
    @abc.abstractmethod
    def address(self) -> tuple[str, int]:
        """The (host, port) the container listens on, valid after :meth:`start`."""

    @property
    @abc.abstractmethod
    def requests_served(self) -> int:
        """How many responses have been written whole so far (not counting
        requests whose client left before the answer, nor refused input)."""
