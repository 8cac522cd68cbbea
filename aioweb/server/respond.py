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

from aioweb.contract import Request, Response, ResponseLike
from aioweb.errors import ClientDisconnected, HttpError, ResponseHeaderError
from aioweb.http11 import compression, writer

if TYPE_CHECKING:
    from aioweb.server.connection import HttpToolsConnection
    from aioweb.server.request import HttpToolsRequest

log = logging.getLogger("aioweb")

HandlerCall = Callable[[Request], Awaitable[ResponseLike]]

# Bodies up to this size are joined to the head and written once; past it,
# copying the body costs more than a second write call saves.
_JOIN_LIMIT = 64 * 1024


def error_response(status: int, detail: str | None = None) -> Response:
    """A small plain-text response for an error status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    text = f"{status} {phrase}" + (f": {detail}" if detail and detail != phrase else "") + "\n"
    return Response(text, status)


async def respond(connection: HttpToolsConnection, request: HttpToolsRequest,
                  handler: HandlerCall) -> None:
    """Run the handler for one request and write its response."""
    try:
        result = await handler(request)
    except HttpError as exc:
        result = error_response(exc.status, exc.detail)
    except ClientDisconnected:
        return  # nobody is left to answer
    except Exception:  # pylint: disable=broad-exception-caught
        # The handler's bug, not the server's: log it, answer 500, keep serving.
        log.exception("handler failed on %s %r", request.method, request.head.target)
        result = error_response(500)
    streaming = write_response(connection, request, result)
    if streaming is not None:
        await streaming


def write_response(connection: HttpToolsConnection, request: HttpToolsRequest,
                   result: ResponseLike) -> Coroutine[Any, Any, None] | None:
    """Write a whole response now, or return the coroutine that streams it."""
    head = request.head
    if type(result) is bytes and len(result) < connection.gzip_min_size \
            and head.method != "HEAD":  # pylint: disable=unidiomatic-typecheck
        # The fast path, taken by most responses: 200, a small bytes body, no
        # handler headers. Same bytes as the general path below, fewer steps.
        keep_alive = connection.keep_alive_after(request, False)
        connection.write(b"".join((
            writer.status_line(head.http_version, 200), connection.state.common_block,
            b"content-length: %d\r\n" % len(result),
            b"" if keep_alive and head.http_version == "1.1" else writer.connection_line(
                head.http_version, keep_alive),
            b"\r\n", result)))
        connection.response_sent(keep_alive)
        return None
    if not isinstance(result, Response):
        result = Response(result) if isinstance(result, (bytes, str)) else _bad_result(result)
    status, body, headers = result.status, result.body, result.headers
    try:
        header_lines, length, close = writer.encode_headers(headers)
    except ResponseHeaderError as exc:
        log.error("refused a response to %s %r: %s", head.method, head.target, exc)
        status, body, headers = 500, b"500 Internal Server Error\n", []
        header_lines, length, close = b"", None, False
    config = connection.config
    keep_alive = connection.keep_alive_after(request, close)
    with_body = writer.body_allowed(head.method, status)
    if not isinstance(body, bytes):
        return _stream(connection, request, status, body, headers, header_lines,
                       length, keep_alive, with_body)
    if (len(body) >= connection.gzip_min_size and with_body
            and compression.accepts_gzip(head.headers) and compression.compressible(headers)):
        body = compression.gzip_body(body, config.gzip_level)
        header_lines += compression.GZIP_HEADER_LINES
    if status == 204 or status == 304 or status < 200:
        framing = b""  # RFC 9110 §8.6: no Content-Length on these
    else:
        framing = writer.content_length_line(len(body))
    response_head = writer.encode_head(head.http_version, status, connection.state.common_block,
                                       header_lines, framing, keep_alive)
    if not with_body or not body:
        connection.write(response_head)
    elif len(body) <= _JOIN_LIMIT:
        connection.write(response_head + body)
    else:
        connection.write(response_head)
        connection.write(body)
    connection.response_sent(keep_alive)
    return None


def _bad_result(result: object) -> Response:
    log.error("handler returned %s; expected Response, bytes or str", type(result).__name__)
    return error_response(500)


async def _stream(connection: HttpToolsConnection, request: HttpToolsRequest, status: int,
                  body: AsyncIterable[bytes], headers: list[tuple[str, str]],
                  header_lines: bytes, length: int | None, keep_alive: bool,
                  with_body: bool) -> None:
    """Write a response whose body comes from an async iterator."""
    config = connection.config
    gzip = None
    if (config.gzip and with_body and length is None
            and compression.accepts_gzip(request.head.headers)
            and compression.compressible(headers)):
        gzip = compression.GzipStream(config.gzip_level)
        header_lines += compression.GZIP_HEADER_LINES
    if length is not None:
        framing, chunked = writer.content_length_line(length), False
    elif request.http_version == "1.1":
        framing, chunked = writer.CHUNKED_LINE, True
    else:
        # HTTP/1.0 knows no chunked coding: the end of the body is the close.
        framing, chunked, keep_alive = b"", False, False
    connection.write(writer.encode_head(request.http_version, status,
                                        connection.state.common_block, header_lines,
                                        framing, keep_alive))
    sent = 0
    complete = False
    try:
        if with_body:
            async for chunk in body:
                if gzip is not None:
                    chunk = gzip.compress(chunk)
                if not chunk:
                    continue  # an empty chunk would read as the last one
                sent += len(chunk)
                if length is not None and sent > length:
                    log.error("response body longer than its Content-Length %d", length)
                    break
                connection.write(writer.encode_chunk(chunk) if chunked else chunk)
                await connection.drain()
            else:
                if gzip is not None and chunked:
                    connection.write(writer.encode_chunk(gzip.finish()))
                if chunked:
                    connection.write(writer.LAST_CHUNK)
                complete = length is None or sent == length
        else:
            complete = True
    except ClientDisconnected:
        pass
    except Exception:  # pylint: disable=broad-exception-caught
        # The head is out: too late for a 500. Closing tells the client the
        # body is cut short (chunked without its last chunk, or too short).
        log.exception("streaming the response to %s %r failed",
                      request.method, request.head.target)
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    connection.response_sent(keep_alive and complete)
