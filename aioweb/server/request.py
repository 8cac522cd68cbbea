"""The request a handler receives: its head, and its body as it arrives.

The connection feeds body pieces in (``_feed``, ``_end``, ``_fail``); the
handler takes them out (``body()``, ``stream()``). In between sits a small
buffer whose size is the whole flow-control story on the way in: when it
holds more than ``Config.body_buffer_size``, the connection stops reading
from the socket; when the handler drains it, reading resumes. TCP does the
rest — the client's kernel stops sending when ours stops reading.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING

import httptools
from mypy_extensions import mypyc_attr

from aioweb.contract import Header, Request, Response
from aioweb.errors import ClientDisconnected
from aioweb.headers import Headers
from aioweb.http11 import writer
from aioweb.http11.events import RequestHead
from aioweb.server.respond import ResponseBodyWriter, write_response

if TYPE_CHECKING:
    from aioweb.server.connection import HttpToolsConnection


# "%" as a byte value: ``37 in data`` costs about a seventh of ``b"%" in
# data`` on CPython 3.11, which first tries the needle as an int and pays
# for the TypeError that raises (measured: ~2,400 instructions a test).
_PERCENT = ord("%")


# Compiled (scripts/build_compiled.py), a class whose bases are Python classes
# (the contract's ABC) must be a "non-native" one: compiled methods on an
# ordinary class. Without compiling, the decorator does nothing.
@mypyc_attr(native_class=False)
class HttpToolsRequest(RequestHead, Request):  # pylint: disable=abstract-method  # (slots)
    """A :class:`Request` fed by an :class:`HttpToolsConnection`.

    It is also the reader's :class:`RequestHead`: the connection gives the
    reader a factory that makes these (``partial(HttpToolsRequest,
    connection)``), so the head the reader completes is already the request
    the handler gets, without a second object to copy it into (measured:
    3% of a small request's instructions).
    """

    # The request line's parts, the addresses and the scheme are plain
    # attributes, not properties: they are set once, here, and read often (an
    # ASGI scope reads eight of them), and reading a slot costs far less than
    # calling a property (measured, bench/instructions_asgi.py: the scheme as
    # a property cost a raw ASGI request 725 instructions; as a slot, 217,
    # and a native request 222 to set). A slot also implements the contract's abstract property (the
    # head's: method, http_version, keep_alive, raw_headers; these below).
    __slots__ = ("raw_path", "query_string", "client", "server", "scheme", "_connection",
                 "_chunks", "_buffered", "complete", "_error", "_waiter",
                 "_body", "_headers", "_query", "paused_reading",
                 "response_started", "writer", "_disconnect_waiter", "task")

    def __init__(self, connection: HttpToolsConnection,
                 method: str, target: bytes, http_version: str,
                 raw_headers: list[tuple[bytes, bytes]], keep_alive: bool,
                 expect_continue: bool, has_body: bool) -> None:
        # The head's fields, set here rather than by RequestHead's __init__:
        # one call per request fewer.
        # pylint: disable=super-init-not-called
        self.method = method
        self.target = target
        self.http_version = http_version
        self.raw_headers = raw_headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.has_body = has_body
        if target[:1] == b"/" or target == b"*":
            raw_path, _, query = target.partition(b"?")
        else:  # absolute-form, "GET http://host/path HTTP/1.1" (RFC 9112 §3.2.2)
            url = httptools.parse_url(target)
            # Read untyped: httptools' stubs say bytes, but a part the target
            # lacks ("http://host") is None, and the compiled form
            # (docs/compiled.md) would trust the stubs and refuse the None.
            raw_path = getattr(url, "path") or b"/"
            query = getattr(url, "query") or b""
        self.raw_path: bytes = raw_path
        self.query_string: bytes = query
        self.client: tuple[str, int] | None = connection.peer
        self.server: tuple[str, int] | None = connection.local
        self.scheme: str = connection.state.scheme
        self._connection = connection
        self._chunks: list[bytes] = []
        self._buffered = 0
        # True once the whole body has arrived (at once, when there is none).
        # A slot the connection sets, read as the contract's property.
        self.complete: bool = not has_body
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._body: bytes | None = None
        self._headers: Headers | None = None
        self._query: dict[str, list[str]] | None = None
        # Whether this request's full buffer is why the connection stopped reading.
        self.paused_reading = False
        self.response_started: bool = False
        self.writer: ResponseBodyWriter | None = None
        self._disconnect_waiter: asyncio.Future[None] | None = None
        # The Task its handler goes on in, once it waited for something.
        self.task: asyncio.Task[None] | None = None

    # --- the head, decoded only when asked --------------------------------

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self.raw_headers)
        return headers

    @property
    def path(self) -> str:
        raw_path = self.raw_path
        if _PERCENT not in raw_path:  # nothing to decode: the common case
            return raw_path.decode("utf-8", "replace")
        return urllib.parse.unquote_to_bytes(raw_path).decode("utf-8", "replace")

    @property
    def query(self) -> Mapping[str, list[str]]:
        if self._query is None:
            self._query = urllib.parse.parse_qs(self.query_string.decode("latin-1"),
                                                keep_blank_values=True)
        return self._query

    @property
    def is_disconnected(self) -> bool:
        # Gone altogether, or closed its sending side before the body was complete.
        return self._connection.lost or isinstance(self._error, ClientDisconnected)

    # --- the body: the connection's side ---------------------------------

    def _feed(self, data: bytes) -> bool:
        """Buffer a body piece; True when the buffer is full and reading should pause."""
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()
        return self._buffered > self._connection.body_buffer_size

    def _end(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        """The body cannot arrive: a limit was hit, or the client went away."""
        if not self.complete:
            self._error = error
            self._wake()

    def _disconnected(self) -> None:
        """The connection is gone: fail the body, wake wait_disconnected()."""
        self._fail(ClientDisconnected("the client closed the connection"))
        waiter = self._disconnect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- the body: the handler's side ------------------------------------

    async def body(self) -> bytes:
        if self._body is not None:
            return self._body
        if self.complete and self._error is None:
            if not self._chunks:  # no body at all, as for most GETs
                self._body = b""
                return b""
            # Fast path: the body arrived with the head.
            chunks = self._chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._take_all()
        else:
            body = b"".join([chunk async for chunk in self.stream()])
        self._body = body
        return body

    def stream(self) -> AsyncIterator[bytes]:
        return BodyStream(self)

    def _stream_begins(self) -> bytes | None:
        """A stream's first step: the whole body if body() has read it already
        (the stream gives it as one piece), else None, after asking for the
        body (100 Continue) if it is still to come."""
        if self._body is None and not self.complete:
            self._connection.send_continue(self)
        return self._body

    async def _next_piece(self) -> bytes | None:
        """The body bytes buffered now, waiting until there are some; None at the end."""
        while True:
            if self._chunks:
                chunks = self._chunks
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._take_all()
                return data
            if self._error is not None:
                raise self._error
            if self.complete:
                return None
            if self._connection.lost:
                raise ClientDisconnected("the client closed the connection")
            self._waiter = self._connection.loop.create_future()
            self._connection.waiting_for_body(self, True)
            try:
                await self._waiter
            finally:
                self._connection.waiting_for_body(self, False)

    async def wait_disconnected(self) -> None:
        if self._connection.lost:
            return
        if self._disconnect_waiter is None:
            self._disconnect_waiter = self._connection.loop.create_future()
        await asyncio.shield(self._disconnect_waiter)

    # --- answering from inside the handler -------------------------------

    async def send(self, response: Response) -> None:
        if self.response_started:
            raise RuntimeError("this request has already been answered")
        streaming = write_response(self._connection, self, response)
        if streaming is not None:
            await streaming

    def start_response(self, status: int, headers: Iterable[Header],
                       content_length: int | None = None) -> ResponseBodyWriter:
        if self.response_started:
            raise RuntimeError("this request has already been answered")
        pairs = list(headers)
        header_lines, length, close, replaced = writer.encode_headers(pairs)
        if content_length is not None:
            length = content_length
        keep_alive = self._connection.keep_alive_after(self, close)
        body_writer = self.writer = ResponseBodyWriter(self._connection, self, status, pairs,
                                                       header_lines, length, keep_alive,
                                                       replaced)
        return body_writer

    def _take_all(self) -> None:
        self._chunks = []
        self._buffered = 0
        if self.paused_reading:
            self.paused_reading = False
            self._connection.body_drained()


class BodyStream:
    """``request.stream()``: the async iterator protocol written out.

    ``async for chunk in request.stream()`` calls ``__aiter__`` once, then
    awaits ``__anext__`` for each chunk until it raises StopAsyncIteration.
    An async generator would hide these two methods; a class shows them, and
    lets this module be compiled (mypyc compiles no async generators; see
    docs/compiled.md).
    """

    __slots__ = ("_request", "_started", "_whole")

    def __init__(self, request: HttpToolsRequest) -> None:
        self._request = request
        self._started = False
        self._whole: bytes | None = None  # the body, when body() had read it before

    def __aiter__(self) -> BodyStream:
        return self

    async def __anext__(self) -> bytes:
        request = self._request
        if not self._started:
            self._started = True
            self._whole = request._stream_begins()  # pylint: disable=protected-access
        whole = self._whole
        if whole is not None:
            self._whole = b""  # given once
            if whole:
                return whole
            raise StopAsyncIteration
        piece = await request._next_piece()  # pylint: disable=protected-access
        if piece is None:
            raise StopAsyncIteration
        return piece
