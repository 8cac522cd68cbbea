"""One request's turn: call the handler, then write what it returned.

:func:`respond` is the coroutine the connection runs for each request (most
often to completion in one step, see ``eager.py``). A whole-bytes response
goes out in one ``transport.write`` — head and body together, so a small
response is one TCP segment. A streamed response writes its head, then each
chunk as the handler's iterator yields it, waiting whenever the transport's
buffer is full: that wait is flow control on the way out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aioweb.contract import Header, Request, Response, ResponseLike, ResponseWriter
from aioweb.errors import ClientDisconnected, HttpError, ResponseHeaderError
from aioweb.http11 import compression, writer

if TYPE_CHECKING:
    from aioweb.http11.events import Rejection, RequestHead
    from aioweb.server.connection import HttpToolsConnection
    from aioweb.server.request import HttpToolsRequest

log = logging.getLogger("aioweb")

HandlerCall = Callable[[Request], Awaitable[ResponseLike]]

# Bodies up to this size are joined to the head and written once; past it,
# copying the body costs more than a second write call saves.
JOIN_LIMIT = 64 * 1024


def error_response(status: int, detail: str | None = None) -> Response:
    """A small plain-text response for an error status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    text = f"{status} {phrase}" + (f": {detail}" if detail and detail != phrase else "") + "\n"
    return Response(text, status)


def refusal_bytes(rejection: Rejection, common_block: bytes) -> bytes:
    """The whole answer to a request the reader refused; the connection closes after it."""
    response = error_response(rejection.status, rejection.reason)
    assert isinstance(response.body, bytes)
    header_lines, _, _, _ = writer.encode_headers(response.headers)
    head = writer.encode_head("1.1", rejection.status, common_block, header_lines,
                              writer.content_length_line(len(response.body)), keep_alive=False)
    # RFC 9110 §9.3.2: a response to HEAD never has content, even a refusal.
    return head if rejection.method == "HEAD" else head + response.body


async def respond(connection: HttpToolsConnection, request: HttpToolsRequest,
                  handler: HandlerCall) -> None:
    """Run the handler for one request and write its response."""
    try:
        try:
            result: object = await handler(request)
        except HttpError as exc:
            result = error_response(exc.status, exc.detail)
        except ClientDisconnected:
            return  # nobody is left to answer
        except Exception:  # pylint: disable=broad-exception-caught
            # The handler's bug, not the server's: log it, answer 500, keep serving.
            log.exception("handler failed on %s %r", request.method, request.target)
            result = error_response(500)
        if result is None:
            if request.response_started:  # it answered through send()/start_response()
                body_writer = request.writer
                if body_writer is not None and not body_writer.finished:
                    log.error("handler returned before finishing its response to %s %r",
                              request.method, request.target)
                    body_writer.abort()
                return
            log.error("handler returned no response to %s %r", request.method,
                      request.target)
            result = error_response(500)
        streaming = write_response(connection, request, result)
        if streaming is not None:
            await streaming
    except Exception:  # pylint: disable=broad-exception-caught
        # The server's own bug, past the handler: logged; the request still ends below.
        log.exception("request handling failed on %s %r", request.method, request.target)
    finally:
        # In a Task (the handler waited for something), this is the Task's
        # last step, and the request ends here: no done-callback, which would
        # cost a loop turn of its own. A handler that finished in its first
        # step, inside the connection's _start, is ended there.
        if request.task is not None:
            connection.handler_finished(request)


def write_response(connection: HttpToolsConnection, request: HttpToolsRequest,
                   result: object) -> Coroutine[Any, Any, None] | None:
    """Write a whole response now, or return the coroutine that streams it.

    ``result`` is typed ``object``, not ResponseLike: a handler may return
    anything, and what is not a response becomes a 500 here (_bad_result).
    """
    request.response_started = True
    if (type(result) is bytes and len(result) < connection.plain_below  # pylint: disable=unidiomatic-typecheck
            and request.method != "HEAD" and request.http_version == "1.1"
            and connection.keep_alive_after(request, False)):
        # The fast path, taken by most responses: a 200 with a small bytes
        # body, no handler headers, kept alive (so no Connection header). One
        # formatting step builds it whole from the per-second "HTTP/1.1 200 OK"
        # + Date/Server block: measured, ~5,800 instructions per request fewer
        # than joining six parts (bench/instructions.py, 60,366 -> 54,600 for
        # the whole path). Anything else takes the general path below, which
        # gives the same bytes for this case.
        connection.write(b"%scontent-length: %d\r\n\r\n%s" % (
            connection.state.ok_block, len(result), result))
        connection.response_sent(True)
        return None
    if not isinstance(result, Response):
        result = Response(result) if isinstance(result, (bytes, str)) else _bad_result(result)
    status, body, headers = result.status, result.body, result.headers
    try:
        header_lines, length, close, replaced = writer.encode_headers(headers)
    except ResponseHeaderError as exc:
        log.error("refused a response to %s %r: %s", request.method, request.target, exc)
        status, body, headers = 500, b"500 Internal Server Error\n", []
        header_lines, length, close, replaced = b"", None, False, 0
    if (status == 200 and not replaced and type(body) is bytes  # pylint: disable=unidiomatic-typecheck
            and len(body) < connection.plain_below):
        if ((length is None or length == len(body)) and request.method != "HEAD"
                and request.http_version == "1.1" and connection.keep_alive_after(request, close)):
            # A 200 with headers (every ASGI response, most native ones) that
            # replace none of the container's lines (Server, Date),
            # too small to gzip, its length as declared if declared: as the
            # fast path above, one formatting step, and the same bytes as
            # the general path below. Decided before the general path's
            # checks, which it needs none of (measured: ~1,000 instructions
            # per ASGI request).
            connection.write(b"%scontent-length: %d\r\n%s\r\n%s" % (
                connection.state.ok_block, len(body), header_lines, body))
            connection.response_sent(True)
            return None
    if not 100 <= status <= 599:  # RFC 9110 §15: three digits, 1xx to 5xx
        log.error("refused a response to %s %r: status %r", request.method, request.target, status)
        status, body, headers = 500, b"500 Internal Server Error\n", []
        header_lines, length, close, replaced = b"", None, False, 0
    keep_alive = connection.keep_alive_after(request, close)
    with_body = writer.body_allowed(request.method, status)
    if not isinstance(body, bytes) or (
            length is not None and length != len(body) and with_body
            and result.content_length_binding):
        # Streamed, or a body that breaks the length it promised: the writer
        # frames by the declared length and checks the body against it.
        return _stream(ResponseBodyWriter(connection, request, status, headers, header_lines,
                                          length, keep_alive, replaced), body)
    # Decided as for GET even for HEAD: HEAD must announce what GET would send
    # (RFC 9110 §9.3.2), and the size GET would have is the length it declares.
    size = length if request.method == "HEAD" and not body and length is not None else len(body)
    gzip = False
    if size >= connection.gzip_min_size and writer.body_allowed("GET", status):
        gzip, header_lines = _content_coding(request, status, headers, header_lines)
        if gzip and body:
            body = compression.gzip_body(body, connection.config.gzip_level)
    if status == 204 or status == 304 or status < 200:
        framing = b""  # RFC 9110 §8.6: no Content-Length on these
    elif request.method == "HEAD" and not body and length is not None:
        # The size GET would have, as the handler declared it; none when the GET
        # would be gzipped: only compressing would tell (RFC 9110 §9.3.2 lets a
        # HEAD leave out what only the content tells).
        framing = b"" if gzip else writer.content_length_line(length)
    else:
        framing = writer.content_length_line(len(body))
    response_head = writer.encode_head(request.http_version, status,
                                       connection.state.common_blocks[replaced],
                                       header_lines, framing, keep_alive)
    if not with_body or not body:
        connection.write(response_head)
    elif len(body) <= JOIN_LIMIT:
        connection.write(response_head + body)
    else:
        connection.write(response_head)
        connection.write(body)
    connection.response_sent(keep_alive)
    return None


def _content_coding(request: RequestHead, status: int, headers: list[Header],
                    header_lines: bytes) -> tuple[bool, bytes]:
    """Whether to gzip the body, and the header lines to send with it: the
    handler's own, or (ETag, Vary) those the coding changes."""
    gzip, coded_headers = compression.negotiate(status, headers, request.raw_headers)
    return gzip, header_lines if coded_headers is None else writer.encode_headers(coded_headers)[0]


def _bad_result(result: object) -> Response:
    log.error("handler returned %s; expected Response, bytes or str", type(result).__name__)
    return error_response(500)


class ResponseBodyWriter(ResponseWriter):
    """Writes a response head now and its body piece by piece.

    Framing: the Content-Length the handler gave (its byte count is then
    checked), else chunked for HTTP/1.1, else (HTTP/1.0) the body ends when
    the connection closes. Each write waits for the client to catch up when
    the transport's buffer is full. ``replaced``: the container's lines the
    handler's own headers replace (``writer.encode_headers``).
    """

    def __init__(self, connection: HttpToolsConnection, request: HttpToolsRequest, status: int,
                 headers: list[Header], header_lines: bytes, length: int | None,
                 keep_alive: bool, replaced: int) -> None:
        self._connection = connection
        self.with_body = writer.body_allowed(request.method, status)
        self._gzip = None
        head_unframed = False
        # A body of declared length is sent as it is; a HEAD announces what its GET
        # would get, whatever length it declares (RFC 9110 §9.3.2).
        if connection.config.gzip and writer.body_allowed("GET", status) and (
                length is None or not self.with_body):
            gzip, header_lines = _content_coding(request, status, headers, header_lines)
            if gzip and self.with_body:
                self._gzip = compression.GzipStream(connection.config.gzip_level)
            elif gzip and length is not None:
                # A HEAD whose GET would be gzipped: its size is known only by
                # compressing, and how the GET is framed depends on it. Say neither.
                length, head_unframed = None, True
        self._chunked = False
        if length is not None:
            framing = writer.content_length_line(length)
        elif status == 204 or status == 304 or status < 200 or head_unframed:
            framing = b""
        elif request.http_version == "1.1":
            framing, self._chunked = writer.CHUNKED_LINE, True
        else:
            # HTTP/1.0 knows no chunked coding: the end of the body is the close.
            framing, keep_alive = b"", False
        self._length = length
        self._sent = 0
        self._keep_alive = keep_alive
        self._finished = False
        request.response_started = True
        connection.write(writer.encode_head(request.http_version, status,
                                            connection.state.common_blocks[replaced],
                                            header_lines, framing, keep_alive))

    async def write(self, data: bytes) -> None:
        if self._finished:
            raise RuntimeError("write() after the response was finished")
        if not self.with_body:
            return  # HEAD, 204, 304: the body is not sent
        if self._gzip is not None:
            data = self._gzip.compress(data)
        if not data:
            return  # an empty chunk would read as the last one
        self._sent += len(data)
        if self._length is not None and self._sent > self._length:
            log.error("response body longer than its Content-Length %d: cut", self._length)
            self.abort()
            return
        connection = self._connection
        connection.write(writer.encode_chunk(data) if self._chunked else data)
        await connection.drain()

    async def close(self) -> None:
        if self._finished:
            return
        if self.with_body:
            tail = self._gzip.finish() if self._gzip is not None else b""
            if self._chunked:
                self._connection.write((writer.encode_chunk(tail) if tail else b"")
                                       + writer.LAST_CHUNK)
            elif tail:
                self._connection.write(tail)
        complete = (not self.with_body or self._length is None or self._sent == self._length)
        if not complete:
            log.error("response body shorter than its Content-Length %s", self._length)
        self._finished = True
        self._connection.response_sent(self._keep_alive and complete)

    @property
    def finished(self) -> bool:
        return self._finished

    def abort(self) -> None:
        """Give up on this response: the connection closes, telling the client it is cut short."""
        if not self._finished:
            self._finished = True
            self._connection.response_sent(False)


async def _stream(body_writer: ResponseBodyWriter, body: bytes | AsyncIterable[bytes]) -> None:
    """Copy a handler's async iterator (or bytes, to be checked against a
    declared length) into a response body."""
    async with _ClosingBody(body):
        try:
            if isinstance(body, bytes):
                if body_writer.with_body:
                    await body_writer.write(body)
            elif body_writer.with_body:  # never iterate for HEAD: the body might not end
                async for chunk in body:
                    await body_writer.write(chunk)
                    if body_writer.finished:
                        break
            await body_writer.close()
        except ClientDisconnected:
            body_writer.abort()
        except Exception:  # pylint: disable=broad-exception-caught
            # The head is out: too late for a 500. Closing tells the client the
            # body is cut short (chunked without its last chunk, or too short).
            log.exception("streaming a response body failed")
            body_writer.abort()


class _ClosingBody:
    """``async with``: the body's ``aclose()``, if it has one, however the
    writing ends (cancelled too). Whoever iterates an async generator closes
    it (PEP 525), so that its own ``finally`` runs now, not when it is
    collected.

    A context manager rather than ``finally: await aclose()``: a compiled
    coroutine that awaits in a ``finally`` while an exception passes through
    leaves that exception behind as the one being handled (docs/compiled.md).
    """

    def __init__(self, body: object) -> None:
        self._aclose: Callable[[], Awaitable[object]] | None = getattr(body, "aclose", None)

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        if self._aclose is not None:
            await self._aclose()
