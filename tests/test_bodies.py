"""Bodies on the wire: request bodies, 100-continue, response framing, gzip."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest

from aioweb import Config, HttpError, Request, Response
from aioweb.server.connection import HttpToolsConnection
from aioweb.server.container import ServerState

TEXT = ("All happy families are alike; each unhappy family is unhappy in its own way. "
        * 40).encode()  # 3 KiB of text: over the default gzip_min_size of 1400


async def echo(request: Request) -> bytes:
    """The request body back."""
    return await request.body()


def counting(handler):
    """``handler`` wrapped to count its calls in ``wrapper.calls``."""
    async def wrapper(request: Request):
        wrapper.calls += 1
        return await handler(request)
    wrapper.calls = 0
    return wrapper


async def chunks(*pieces: bytes) -> AsyncIterator[bytes]:
    """An async iterator over ``pieces``: a streamed body."""
    for piece in pieces:
        yield piece


# --- request bodies (RFC 9112 §6) -------------------------------------------

def test_content_length_body(serve, connect) -> None:
    """A Content-Length body reaches ``request.body()`` exactly (RFC 9112 §6.2)."""
    server = serve(echo)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789")
    assert client.read_response().body == b"0123456789"


def test_chunked_body_with_extensions_and_trailer(serve, connect) -> None:
    """A chunked body (RFC 9112 §7.1) is de-chunked: extensions and trailer are
    consumed, and the next request on the connection is read correctly after it."""
    server = serve(echo)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;name=value;other\r\nhello\r\n7;x=\"quoted\"\r\n, world\r\n0\r\n"
                b"X-Checksum: 1234\r\n\r\n"
                b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nnext")
    first, second = client.read_responses(2)
    assert first.body == b"hello, world"
    assert second.body == b"next"


def test_stream_yields_the_body_as_it_arrives(serve, connect, make_event) -> None:
    """``request.stream()`` yields pieces as they arrive; joined they are the body."""
    got_first = make_event()
    pieces: list[bytes] = []

    async def streaming(request: Request) -> bytes:
        async for piece in request.stream():
            pieces.append(piece)
            got_first.set()
        return b"|".join(pieces)
    server = serve(streaming)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nfirst")
    assert got_first.wait(), "the first piece was not delivered before the rest was sent"
    client.send(b"-last")
    assert client.read_response().body == b"first|-last"


def test_a_body_of_many_empty_lines_reaches_the_handler_waiting_for_it(
        serve, connect, make_event) -> None:
    """A multipart form of 40 fields (each part's headers end with an empty line)
    arriving while its handler already waits for it is read whole at once. Reading
    holds back bytes past max_pipeline_depth empty lines, which in a body are not
    heads: they used to wait behind the very handler waiting for them, until
    body_timeout (408)."""
    waiting = make_event()

    async def form_echo(request: Request) -> bytes:
        waiting.set()
        return await request.body()
    server = serve(form_echo)
    body = b"".join(b"--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n" % i
                    for i in range(40)) + b"--b--\r\n"
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
    assert waiting.wait(), "the handler did not start on the head"
    client.send(body)
    response = client.read_response()
    assert (response.status, response.body) == (200, body)


def test_body_twice_and_stream_after_body(serve, connect) -> None:
    """``body()`` may be called again (same bytes); ``stream()`` after it yields the body."""
    async def twice(request: Request) -> bytes:
        first = await request.body()
        again = await request.body()
        streamed = b"".join([piece async for piece in request.stream()])
        return b"%d" % (first == again == streamed == b"abc")
    server = serve(twice)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
    assert client.read_response().body == b"1"


def test_content_length_over_the_limit_is_413_without_the_handler(serve, connect) -> None:
    """A declared body over max_body_size is a 413 (RFC 9110 §15.5.14) before any
    handler runs; the connection closes; a new connection is served."""
    handler = counting(echo)
    server = serve(handler, max_body_size=100)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n" + b"x" * 101)
    response = client.read_response()
    assert response.status == 413
    assert response.closes
    assert client.wait_closed()
    assert handler.calls == 0
    again = connect(server.address)
    again.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
    assert again.read_response().body == b"x" * 100


def test_chunked_body_over_the_limit_is_413(serve, connect, make_event) -> None:
    """A chunked body that grows past max_body_size is answered 413 and the
    connection closes, whether or not its handler had started reading."""
    reading = make_event()

    async def slow_echo(request: Request) -> bytes:
        reading.set()
        return await request.body()
    server = serve(slow_echo, max_body_size=100)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"40\r\n" + b"a" * 64 + b"\r\n")
    assert reading.wait()
    client.send(b"40\r\n" + b"b" * 64 + b"\r\n0\r\n\r\n")
    response = client.read_response()
    assert response.status == 413
    assert response.closes
    assert client.wait_closed()


# --- Expect: 100-continue (RFC 9110 §10.1.1) ----------------------------------

def test_100_continue_is_sent_when_the_handler_reads(serve, connect, make_event) -> None:
    """``100 Continue`` goes out only once the handler asks for the body, not
    before; then the body is read and answered."""
    entered, go_on = make_event(), make_event()

    async def read_later(request: Request) -> bytes:
        entered.set()
        await go_on.wait_async()
        return await request.body()
    server = serve(read_later)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert entered.wait()
    assert client.silent_for(0.2), "100 Continue was sent before the handler read the body"
    go_on.set()
    interim = client.read_response()
    assert (interim.status, interim.reason, interim.headers) == (100, "Continue", [])
    assert interim.head == b"HTTP/1.1 100 Continue\r\n"
    client.send(b"body")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"body")


def test_no_100_continue_when_the_handler_does_not_read(serve, connect) -> None:
    """A handler that answers without reading the body gets its final response out
    with no ``100 Continue`` before it (the client need not send the body)."""
    async def refuse(_request: Request) -> Response:
        return Response(b"not wanted", 403)
    server = serve(refuse)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.body) == (403, b"not wanted")


def test_no_100_continue_for_http10(serve, connect, make_event) -> None:
    """An HTTP/1.0 client cannot understand 1xx (RFC 9110 §15.2): never sent to it."""
    reading = make_event()

    async def read_now(request: Request) -> bytes:
        reading.set()  # no await between this and body(): a 100 would be written already
        return await request.body()
    server = serve(read_now)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert reading.wait()
    client.send(b"body")
    interim, response = client.read_final_response()
    assert interim == []
    assert (response.status, response.body) == (200, b"body")


def test_no_100_continue_for_a_body_over_the_limit(serve, connect) -> None:
    """A declared body over max_body_size with ``Expect: 100-continue`` gets its
    413 at once, never a 100 first: the client is spared sending the body."""
    handler = counting(echo)
    server = serve(handler, max_body_size=100)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                b"Content-Length: 1000\r\n\r\n")
    interim, response = client.read_final_response()
    assert (interim, response.status) == ([], 413)
    assert handler.calls == 0


# --- response framing (RFC 9112 §6, RFC 9110 §6.4.1) ---------------------------

def test_bytes_body_has_content_length(serve, connect) -> None:
    """A bytes body is framed by Content-Length, never chunked."""
    async def handler(_request: Request) -> Response:
        return Response(b"x" * 100_000)
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert response.header("content-length") == "100000"
    assert response.header("transfer-encoding") is None
    assert response.body == b"x" * 100_000


def test_streamed_body_is_chunked_for_http11(serve, connect) -> None:
    """An async-iterator body goes out with ``transfer-encoding: chunked`` and no
    Content-Length; the connection persists after it."""
    async def handler(_request: Request) -> Response:
        return Response(chunks(b"one,", b"", b"two,", b"three"))
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
    for response in client.read_responses(2):
        assert response.header("transfer-encoding") == "chunked"
        assert response.header("content-length") is None
        assert response.body == b"one,two,three"


def test_streamed_body_is_close_delimited_for_http10(serve, connect) -> None:
    """HTTP/1.0 has no chunked coding (RFC 9112 §7): the body ends with the close."""
    async def handler(_request: Request) -> Response:
        return Response(chunks(b"one,", b"two"))
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = client.read_response()
    assert response.header("transfer-encoding") is None
    assert response.header("content-length") is None
    assert response.header("connection") != "keep-alive"  # 1.0: no keep-alive means close
    assert response.body == b"one,two"
    assert client.eof


def test_streamed_body_with_a_content_length_is_not_chunked(serve, connect) -> None:
    """A handler that knows its streamed body's length gets Content-Length framing."""
    async def handler(_request: Request) -> Response:
        return Response(chunks(b"abc", b"de"), headers={"Content-Length": "5"})
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert (response.header("content-length"), response.header("transfer-encoding")) == ("5", None)
    assert response.body == b"abcde"


def test_head_gets_the_headers_and_no_body(serve, connect) -> None:
    """HEAD (RFC 9110 §9.3.2): the GET's headers, Content-Length of the would-be
    body, and no body; the next request on the connection parses cleanly."""
    server = serve(echo_path_body)
    client = connect(server.address)
    client.send(b"HEAD /five HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client.read_response(method="HEAD")
    assert (head.status, head.header("content-length"), head.body) == (200, "5", b"")
    assert client.read_response().body == b"/next"


async def echo_path_body(request: Request) -> bytes:
    """The path as the body."""
    return request.path.encode()


def test_head_keeps_the_content_length_the_handler_declares(serve, connect) -> None:
    """A HEAD handler may skip the body and declare its size: a Content-Length
    header it sets is what goes out, never a made-up 0 (RFC 9110 §8.6: a HEAD
    response's Content-Length, if sent, must be what GET would send)."""
    async def sized(_request: Request) -> Response:
        return Response(b"", headers={"Content-Length": "1234"})
    server = serve(sized)
    client = connect(server.address)
    client.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client.read_response(method="HEAD")
    assert head.header("content-length") in ("1234", None)


@pytest.mark.parametrize("path", [b"/", b"/sized"], ids=["body", "declared-length"])
def test_head_announces_what_get_would_send_with_gzip(serve, connect, path: bytes) -> None:
    """HEAD with ``Accept-Encoding: gzip`` describes the GET response (RFC 9110
    §9.3.2, §8.6): same Content-Encoding and Vary, and a Content-Length equal to the
    GET's (compressed) one or none at all. ``/sized`` answers a HEAD as ASGI
    frameworks do, with no body and the GET's length declared: the head still
    announces the gzip, and leaves out the length only compressing would tell."""
    server = serve(text)
    client = connect(server.address)
    client.send(gzip_get(path).replace(b"GET", b"HEAD", 1) + gzip_get(path))
    head = client.read_response(method="HEAD")
    get = client.read_response()
    assert head.header("content-encoding") == get.header("content-encoding") == "gzip"
    assert varies_on_encoding(head) and varies_on_encoding(get)
    assert head.header("content-length") in (get.header("content-length"), None)
    assert head.body == b"" and gzip.decompress(get.body) == TEXT


def test_streamed_body_shorter_than_its_content_length_closes(serve, connect) -> None:
    """A streamed body that ends before its declared Content-Length: the server
    closes the connection, so the client sees an incomplete message (RFC 9112
    §6.3) instead of a desynchronised next response."""
    async def short(_request: Request) -> Response:
        return Response(chunks(b"abcde"), headers={"Content-Length": "10"})
    server = serve(short)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2)
    with pytest.raises(EOFError):
        client.read_response()


class _BindingResponse(Response):
    """A Response whose Content-Length is a promise (as the ASGI adapter's are)."""

    __slots__ = ()
    content_length_binding = True


@pytest.mark.parametrize("binding", [False, True], ids=["framed by the body", "binding"])
@pytest.mark.parametrize("body", [b"abcde", b"abcdefghijkl"], ids=["shorter", "longer"])
def test_a_whole_body_that_breaks_its_content_length(serve, connect, binding, body) -> None:
    """A bytes body that disagrees with its declared Content-Length: a plain
    Response is framed by the body itself (the container writes the framing);
    one with ``content_length_binding`` is sent under the declared length, cut
    to it when longer, and the connection closes either way."""
    kind = _BindingResponse if binding else Response

    async def handler(request: Request) -> Response:
        return Response(b"next") if request.path == "/next" else kind(
            body, headers={"Content-Length": "8"})
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    if not binding:
        first = client.read_response()
        assert (first.header("content-length"), first.body) == (str(len(body)), body)
        assert client.read_response().body == b"next"
        return
    assert client.wait_closed()  # the pipelined /next is never answered
    head, _, sent = client.pending.partition(b"\r\n\r\n")
    assert b"content-length: 8" in head.split(b"\r\n")
    assert body.startswith(sent) and len(sent) <= 8 and b"next" not in sent
    if len(body) < 8:
        assert sent == body  # all of the shorter body, then the close


def test_streamed_body_longer_than_its_content_length_is_cut(serve, connect) -> None:
    """A streamed body longer than its declared Content-Length never puts more
    than Content-Length bytes on the wire, and the connection closes."""
    async def long(request: Request) -> Response:
        if request.path == "/next":
            return Response(b"next")
        return Response(chunks(b"abcde", b"fghij"), headers={"Content-Length": "7"})
    server = serve(long)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    try:
        response = client.read_response()
    except EOFError:
        return  # cut short and closed: the client knows the message is incomplete
    assert response.body == b"abcdefg"
    assert client.wait_closed()
    assert client.pending == b"", "bytes past the Content-Length reached the wire"


def test_failing_stream_is_cut_short(serve, connect) -> None:
    """An iterator that raises after the head went out: the chunked body is left
    without its last chunk and the connection closes, so the client cannot
    mistake the truncated body for a complete one (RFC 9112 §7.1)."""
    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("the data source broke")

    async def handler(_request: Request) -> Response:
        return Response(failing())
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    with pytest.raises(EOFError):
        client.read_response()
    assert client.eof


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("streamed", [False, True], ids=["bytes", "streamed"])
def test_204_and_304_have_no_body_and_no_framing(serve, connect, status, streamed) -> None:
    """204 and 304 carry no content (RFC 9110 §15.3.5, §15.4.5): no body bytes and
    no Content-Length, even when the handler gave a body, and a 204 no
    Transfer-Encoding either (RFC 9112 §6.1); the next request is read cleanly."""
    async def handler(request: Request) -> Response:
        if request.path == "/next":
            return Response(b"next")
        body = chunks(b"ignored") if streamed else b"ignored"
        return Response(body, status)
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert response.status == status
    assert response.header("content-length") is None
    if status == 204:
        assert response.header("transfer-encoding") is None
    assert client.read_response().body == b"next"


@pytest.mark.parametrize("status,reason", [
    (201, "Created"), (404, "Not Found"), (418, "I'm a Teapot"), (429, "Too Many Requests"),
    (503, "Service Unavailable"), (599, ""),
])
def test_any_status_has_its_reason_phrase(serve, connect, status, reason) -> None:
    """The status line carries the code's reason phrase (Python's HTTPStatus), or an
    empty one for an unregistered code (RFC 9112 §4)."""
    async def handler(_request: Request) -> Response:
        return Response(b"", status)
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.reason) == (status, reason)


def test_http_error_becomes_its_status(serve, connect) -> None:
    """``raise HttpError(404)`` in a handler answers 404 Not Found; the connection persists."""
    async def missing(request: Request) -> bytes:
        if request.path == "/missing":
            raise HttpError(404)
        return b"found"
    server = serve(missing)
    client = connect(server.address)
    client.send(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
    missing_response, found = client.read_responses(2)
    assert (missing_response.status, missing_response.reason) == (404, "Not Found")
    assert found.body == b"found"


# --- gzip (RFC 9110 §8.4, §12.5.3) -------------------------------------------

async def text(request: Request) -> Response:
    """TEXT (or its first ``?n`` bytes) as text/plain; ``/stream`` streams it in pieces."""
    size = int(request.query.get("n", [str(len(TEXT))])[0])
    body = TEXT[:size]
    if request.path == "/stream":
        return Response(chunks(*(body[i:i + 500] for i in range(0, len(body), 500))),
                        content_type="text/plain")
    if request.path == "/png":
        return Response(body, content_type="image/png")
    if request.path == "/events":
        return Response(body, content_type="text/event-stream")
    if request.method == "HEAD" and request.path == "/sized":
        # As ASGI frameworks answer a HEAD: no body, the GET's length declared.
        return Response(b"", headers={"Content-Length": str(size)}, content_type="text/plain")
    return Response(body, content_type="text/plain")


def varies_on_encoding(response) -> bool:
    """Whether a response's Vary names Accept-Encoding."""
    return "accept-encoding" in (response.header("vary") or "").lower()


def gzip_get(path: bytes, version: bytes = b"1.1", accept: bytes = b"gzip, deflate") -> bytes:
    """A GET asking for gzip."""
    return b"GET %s HTTP/%s\r\nHost: t\r\nAccept-Encoding: %s\r\n\r\n" % (path, version, accept)


def test_gzip_when_accepted_and_large_enough(serve, connect) -> None:
    """A text body at or over gzip_min_size, to a client accepting gzip, is sent
    gzip-coded with its compressed length, and decompresses to the original."""
    server = serve(text)
    client = connect(server.address)
    client.send(gzip_get(b"/"))
    response = client.read_response()
    assert response.header("content-encoding") == "gzip"
    assert "accept-encoding" in (response.header("vary") or "").lower()
    assert int(response.header("content-length") or -1) == len(response.body) < len(TEXT)
    assert gzip.decompress(response.body) == TEXT


@pytest.mark.parametrize("request_bytes,varies", [
    (gzip_get(b"/?n=1399"), False),  # under gzip_min_size
    (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", True),  # no Accept-Encoding
    (gzip_get(b"/", accept=b"gzip;q=0"), True),  # explicitly refused
    (gzip_get(b"/png"), False),  # not a compressible type
    (gzip_get(b"/events"), False),  # an event stream: each event must go at once
    (b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n", True),  # streamed, not accepted
], ids=["small", "not-accepted", "q=0", "image", "event-stream", "streamed-not-accepted"])
def test_no_gzip_otherwise(serve, connect, request_bytes, varies) -> None:
    """Small bodies, clients not accepting gzip, non-text types and event streams go
    plain. When only the client's Accept-Encoding kept the body plain, Vary says so
    (RFC 9110 §12.5.5): a cache must not hand this copy to a client that accepts gzip
    without knowing another was possible."""
    server = serve(text)
    client = connect(server.address)
    client.send(request_bytes)
    response = client.read_response()
    assert response.header("content-encoding") is None
    assert TEXT.startswith(response.body) and response.body
    assert varies_on_encoding(response) is varies


def test_head_of_an_empty_body_says_zero(serve, connect) -> None:
    """A handler that answers every method alike with an empty body: its HEAD says
    ``content-length: 0``, as its GET does (the container drops HEAD bodies, so a
    handler need not treat HEAD apart)."""
    server = serve(text, gzip=False)
    client = connect(server.address)
    client.send(b"HEAD /?n=0 HTTP/1.1\r\nHost: t\r\n\r\nGET /?n=0 HTTP/1.1\r\nHost: t\r\n\r\n")
    head = client.read_response(method="HEAD")
    get = client.read_response()
    assert head.status == get.status == 200
    assert head.header("content-length") == get.header("content-length") == "0"


def test_gzip_disabled_by_config(serve, connect) -> None:
    """``Config(gzip=False)`` sends every body plain, and nothing varies."""
    server = serve(text, gzip=False)
    client = connect(server.address)
    client.send(gzip_get(b"/") + gzip_get(b"/stream"))
    for response in client.read_responses(2):
        assert response.header("content-encoding") is None
        assert not varies_on_encoding(response)
        assert response.body == TEXT


def test_gzip_streamed_response(serve, connect) -> None:
    """A streamed text response is gzip-coded chunk by chunk and decompresses whole."""
    server = serve(text)
    client = connect(server.address)
    client.send(gzip_get(b"/stream"))
    response = client.read_response()
    assert response.header("content-encoding") == "gzip"
    assert response.header("transfer-encoding") == "chunked"
    assert gzip.decompress(response.body) == TEXT


def test_gzip_streamed_response_to_http10(serve, connect) -> None:
    """A streamed gzip response to HTTP/1.0 (delimited by the close) is a complete
    gzip stream, trailer included."""
    server = serve(text)
    client = connect(server.address)
    client.send(gzip_get(b"/stream", version=b"1.0"))
    response = client.read_response()
    assert response.header("content-encoding") == "gzip"
    assert gzip.decompress(response.body) == TEXT


class _RecordingTransport:
    """Records each write: how many writes a response takes cannot be seen on
    the wire (TCP coalesces), so this is the one test with a transport of its own."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Keep the bytes of one write."""
        self.writes.append(bytes(data))

    def get_extra_info(self, _name: str, default: object = None) -> object:
        """No socket behind it."""
        return default

    def set_write_buffer_limits(self, high: int | None = None) -> None:
        """No buffer."""


@pytest.mark.parametrize("gzip_on", [True, False], ids=["gzip on", "gzip off"])
@pytest.mark.parametrize("with_headers", [False, True], ids=["bytes", "Response"])
@pytest.mark.parametrize("size,writes", [(1000, 1), (64 * 1024, 1), (64 * 1024 + 1, 2)])
def test_head_and_body_go_in_one_write_up_to_the_join_limit(
        gzip_on: bool, with_headers: bool, size: int, writes: int) -> None:
    """A whole body up to 64 KiB goes out with its head in one write; past it,
    head and body are two writes (copying the body would cost more than the
    second write saves), whether or not gzip is on and the handler set headers."""
    body = bytes(size)  # zeros: the request asks for no gzip, so none is applied

    async def handler(_request: Request) -> bytes | Response:
        return Response(body, headers=[("x-kind", "test")]) if with_headers else body

    async def serve_one() -> list[bytes]:
        state = ServerState(Config(gzip=gzip_on), handler, asyncio.get_running_loop())
        transport = _RecordingTransport()
        connection = HttpToolsConnection(state)
        connection.connection_made(transport)  # type: ignore[arg-type]
        connection.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        return transport.writes

    sent = asyncio.run(serve_one())
    assert len(sent) == writes
    assert b"".join(sent).endswith(b"\r\n\r\n" + body)
    assert sent[0].startswith(b"HTTP/1.1 200 OK\r\n")
