"""Errors on the wire: bad input, bad responses, failing handlers.

Bad input is answered by the container itself with the right status and
``connection: close``; the handler never sees it, and the server goes on
serving other connections.
"""

from __future__ import annotations

import asyncio

import pytest

from aioweb import Request, Response

LIMITS = {"max_url_size": 100, "max_head_size": 1024, "max_header_count": 10}

BAD_INPUT = {
    "malformed request line": (b"NOT A REQUEST\r\n\r\n", 400),
    "target too long": (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    "head too large": (b"GET / HTTP/1.1\r\nHost: t\r\nCookie: " + b"c" * 1500 + b"\r\n\r\n", 431),
    "too many headers": (b"GET / HTTP/1.1\r\nHost: t\r\n"
                         + b"".join(b"X-H%d: v\r\n" % i for i in range(11)) + b"\r\n", 431),
    "transfer-encoding gzip": (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
                               501),
    "content-length and transfer-encoding": (
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n", 400),
    "two different content-lengths": (
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    "missing host": (b"GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400),
    "two hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "invalid host": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
}


def counting_hello():
    """A handler answering ``hello`` that counts its calls in ``.calls``."""
    async def hello(_request: Request) -> bytes:
        hello.calls += 1
        return b"hello"
    hello.calls = 0
    return hello


def assert_still_serving(server, connect) -> None:
    """A fresh connection to ``server`` gets a 200."""
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().status == 200


@pytest.mark.parametrize("data,status", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_refused(serve, connect, data, status) -> None:
    """Bad input gets its status with ``connection: close`` (RFC 9112 §9.6), the
    server closes, the handler is never called, and new connections are served."""
    handler = counting_hello()
    server = serve(handler, **LIMITS)
    client = connect(server.address)
    client.send(data)
    response = client.read_response()
    assert response.status == status
    assert response.closes
    assert client.wait_closed()
    assert handler.calls == 0
    assert_still_serving(server, connect)
    assert handler.calls == 1


def test_a_new_invalid_host_on_a_kept_alive_connection_is_refused(serve, connect) -> None:
    """The Host check is not skipped for a connection that sent a valid one
    before (the reader only remembers the last valid value): the request with
    the invalid Host gets a 400 and the connection closes (RFC 9112 §3.2)."""
    handler = counting_hello()
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n")
    assert client.read_response().status == 200
    client.send(b"GET / HTTP/1.1\r\nHost: a.example:80 \r\n\r\n")  # trailing space: fine
    assert client.read_response().status == 200
    client.send(b"GET / HTTP/1.1\r\nHost: a.example/evil\r\n\r\n")
    response = client.read_response()
    assert response.status == 400 and response.closes
    assert client.wait_closed()
    assert handler.calls == 2


def test_head_too_large_sent_one_byte_at_a_time(serve, connect) -> None:
    """The head limit holds when the head drips in byte by byte (431, RFC 6585 §5):
    the server answers without waiting for the head to end.

    The limit counts the bytes of a head's later reads (llhttp holds a partial
    header out of sight), so the first read, however many bytes a loaded
    machine lets pile up in it, is on top: the head sent is twice the limit."""
    handler = counting_hello()
    server = serve(handler, **LIMITS)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nCookie: " + b"c" * 2048, bytewise=True)
    response = client.read_response()
    assert response.status == 431
    assert response.closes
    assert handler.calls == 0
    assert_still_serving(server, connect)


def test_head_too_large_in_two_reads(serve, connect) -> None:
    """A head over the limit is refused also when it arrives as one large read
    and a small one (the pause lets the server read the first part alone)."""
    handler = counting_hello()
    server = serve(handler, **LIMITS)
    client = connect(server.address)
    head = b"GET / HTTP/1.1\r\nHost: t\r\nCookie: " + b"c" * 1400 + b"\r\n\r\n"
    client.send(head[:1000])
    assert client.silent_for(0.1)  # nothing to answer yet; the server has read the part
    client.send(head[1000:])
    assert client.read_response().status == 431
    assert handler.calls == 0


def test_http10_without_host_is_served(serve, connect) -> None:
    """HTTP/1.0 needs no Host (RFC 9112 §3.2 applies to 1.1): a normal 200."""
    server = serve(counting_hello())
    client = connect(server.address)
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"hello")


def test_bad_pipelined_request_after_a_good_one(serve, connect) -> None:
    """A good request followed by a bad one: the good one is answered (and kept
    alive), then the bad one gets its 400 with close."""
    handler = counting_hello()
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    good, bad = client.read_responses(2)
    assert (good.status, good.closes) == (200, False)
    assert (bad.status, bad.closes) == (400, True)
    assert client.wait_closed()
    assert handler.calls == 1


@pytest.mark.parametrize("name,value", [
    ("X-Evil", "a\r\nSet-Cookie: injected=1"),
    ("X-Evil", "a\nSet-Cookie: injected=1"),
    ("X-Evil", "a\rSet-Cookie: injected=1"),
    ("X-Evil", "a\x00Set-Cookie: injected=1"),
    ("Set-Cookie: injected=1\r\nX-Evil", "a"),
], ids=["crlf", "lf", "cr", "nul", "in-name"])
def test_response_header_injection_becomes_500(serve, connect, name, value) -> None:
    """A handler's header holding CR, LF or NUL (RFC 9110 §5.5) is refused: the
    client gets a 500 and no injected header reaches the wire."""
    async def injecting(_request: Request) -> Response:
        return Response(b"secret", headers=[("X-Fine", "1"), (name, value)])
    server = serve(injecting)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert response.status == 500
    assert b"injected" not in response.head
    assert response.header("set-cookie") is None
    assert response.header("x-fine") is None
    assert b"secret" not in response.body


def test_handler_exception_is_500_and_the_connection_goes_on(serve, connect) -> None:
    """A handler that raises gets a 500 (RFC 9110 §15.6.1) and the connection
    keeps serving: the next request on it is answered."""
    async def flaky(request: Request) -> bytes:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        return b"fine"
    server = serve(flaky)
    client = connect(server.address)
    client.send(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
    failed = client.read_response()
    assert (failed.status, failed.reason, failed.closes) == (500, "Internal Server Error", False)
    client.send(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().body == b"fine"


def test_handler_raising_after_waiting_is_500(serve, connect) -> None:
    """An exception after the handler's first await (so inside a Task) is a 500 too."""
    async def late_failure(request: Request) -> bytes:
        await request.body()
        raise ValueError("late")
    server = serve(late_failure)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n")
    client.send(b"data")
    assert client.read_response().status == 500


class _BodyFailingToClose:
    """A streamed body of one chunk whose ``aclose()`` fails: a fault past the handler."""

    def __init__(self) -> None:
        self._sent = False

    def __aiter__(self) -> _BodyFailingToClose:
        return self

    async def __anext__(self) -> bytes:
        if self._sent:
            raise StopAsyncIteration
        self._sent = True
        return b"streamed"

    async def aclose(self) -> None:
        """Fail, as a buggy iterator might."""
        raise RuntimeError("aclose failed")


@pytest.mark.parametrize("waits_first", [False, True], ids=["eager", "in a Task"])
def test_a_fault_after_the_handler_is_logged_and_the_connection_goes_on(
        serve, connect, caplog, waits_first) -> None:
    """An exception out of writing the response (here the body's aclose()) is
    logged once with its traceback; the request still ends, and the next one
    on the connection is answered, whether the handler ran in a Task or not."""
    async def streams(request: Request) -> Response:
        if waits_first:
            await asyncio.sleep(0.01)
        if request.path == "/stream":
            return Response(_BodyFailingToClose())
        return Response(b"next")
    server = serve(streams)
    client = connect(server.address)
    client.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().body == b"streamed"
    client.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().body == b"next"
    failures = [r for r in caplog.records if r.getMessage().startswith("request handling failed")]
    assert len(failures) == 1 and failures[0].exc_info is not None


def test_handler_returning_garbage_is_500(serve, connect) -> None:
    """A handler returning something that is not a response is a 500."""
    async def wrong(_request: Request) -> Response:
        return 42
    server = serve(wrong)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().status == 500


@pytest.mark.parametrize("status", [99, 600, 1000])
def test_invalid_status_code_is_500(serve, connect, status) -> None:
    """A status outside 100..599 (RFC 9110 §15) cannot go on the wire (a status
    code is three digits, RFC 9112 §4): the client gets a 500 instead."""
    async def odd(_request: Request) -> Response:
        return Response(b"odd", status)
    server = serve(odd)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().status == 500
