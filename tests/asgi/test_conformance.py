"""The ASGI HTTP spec, clause by clause, with raw ASGI apps over real sockets.

Scope: every key and how it is derived. receive(): the body as it comes, then
http.disconnect (never a spin). send(): the head held until the first body,
one write for a whole body, streaming with back-pressure, the app's own
Content-Length honoured and checked, OSError after the client left.
Each test runs on uvloop and on asyncio's own loop, and once more on uvloop
with the app started eagerly (``AsgiHandler(app, eager=True)``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from aioweb.asgi.spec import Message, Receive, Scope, Send

from .conftest import Served, wait_until

AppFactory = Callable[..., Served]


@pytest.fixture(name="serve", params=["uvloop", "asyncio", "uvloop-eager"])
def serve_fixture(request: pytest.FixtureRequest, serve_asgi: AppFactory) -> AppFactory:
    """serve_asgi on each event loop; and eagerly (``AsgiHandler(app, eager=True)``, no
    Task until the app waits), which these raw apps allow."""
    loop, _, eager = request.param.partition("-")
    return functools.partial(serve_asgi, loop=loop, eager=bool(eager))


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    return b"".join(m.get("body", b"") for m in messages), messages


async def respond(send: Send, body: bytes = b"ok", status: int = 200,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole response in one body message."""
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


def recording_app(seen: list[Scope]) -> Callable[[Scope, Receive, Send], Any]:
    """An app that notes each scope and answers "ok"."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope)
        await read_body(receive)
        await respond(send)
    return app


# --- scope ------------------------------------------------------------------

def test_scope_has_every_key_derived_from_the_request(serve: AppFactory) -> None:
    """Every scope key of the HTTP spec, from a request with an encoded path, a query and repeated
    headers.
    """
    seen: list[Scope] = []
    served = serve(recording_app(seen))
    response = httpx.get(served.url + "/a%20b/c%2Fd?x=1&y=%20",
                         headers=[("X-Custom", "A"), ("x-custom", "B"), ("Accept", "*/*")])
    assert response.status_code == 200
    scope = seen[0]
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/a b/c/d"
    assert scope["raw_path"] == b"/a%20b/c%2Fd"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert all(name == name.lower() and isinstance(name, bytes) for name, _ in scope["headers"])
    assert [v for n, v in scope["headers"] if n == b"x-custom"] == [b"A", b"B"]
    names = [name for name, _ in scope["headers"]]
    assert names.index(b"x-custom") < names.index(b"accept")  # order kept
    assert scope["client"][0] == "127.0.0.1" and isinstance(scope["client"][1], int)
    assert scope["server"] == (served.host, served.port)
    assert scope["state"] == {}


def test_scope_for_http10_and_absolute_form(serve: AppFactory, raw_exchange: Any) -> None:
    """HTTP/1.0 shows in http_version; an absolute-form target gives the origin-form path."""
    seen: list[Scope] = []
    served = serve(recording_app(seen))
    raw_exchange(served, b"GET /ten HTTP/1.0\r\n\r\n")
    raw_exchange(served, b"GET http://example.com/p%41/q?z=1 HTTP/1.1\r\nHost: proxy.example\r\n"
                         b"Connection: close\r\n\r\n")
    assert seen[0]["http_version"] == "1.0" and seen[0]["path"] == "/ten"
    assert seen[1]["path"] == "/pA/q"  # origin-form, percent-decoded
    assert seen[1]["raw_path"] == b"/p%41/q" and seen[1]["query_string"] == b"z=1"
    # RFC 9112 §3.2.2: the target's host, not the Host header sent.
    assert (b"host", b"example.com") in seen[1]["headers"]
    assert (b"host", b"proxy.example") not in seen[1]["headers"]


def test_root_path_is_prefixed_to_path(serve: AppFactory) -> None:
    """--root-path: the app sees it as root_path and at the start of path and raw_path, as on
    uvicorn.
    """
    seen: list[Scope] = []
    served = serve(recording_app(seen), root_path="/api/")
    httpx.get(served.url + "/items/1")
    assert seen[0]["root_path"] == "/api"
    assert seen[0]["path"] == "/api/items/1" and seen[0]["raw_path"] == b"/api/items/1"


def test_state_is_a_shallow_copy_of_the_lifespan_state(serve: AppFactory) -> None:
    """Each request gets its own copy of the lifespan state; the values themselves are shared."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"].update(count=0, shared=[])
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        state = scope["state"]
        state["count"] += 1  # a copy: the next request starts from 0 again
        state["shared"].append(1)  # shallow: the list is the lifespan's own
        await respond(send, f"{state['count']} {len(state['shared'])}".encode())

    served = serve(app)
    assert httpx.get(served.url).text == "1 1"
    assert httpx.get(served.url).text == "1 2"


@pytest.mark.parametrize(("trusted", "expected_client", "expected_scheme"), [
    # From the right, the first address not trusted is the client.
    ("127.0.0.1", ("10.1.2.3", 0), "https"),
    ("127.0.0.0/8, 10.1.2.3", ("203.0.113.7", 0), "https"),
    ("*", ("198.51.100.1", 0), "https"),  # all trusted: the leftmost
    ("10.0.0.0/8", None, "http"),  # the peer is not trusted: headers ignored
])
def test_proxy_headers_only_from_trusted_peers(serve: AppFactory, trusted: str,
                                               expected_client: tuple[str, int] | None,
                                               expected_scheme: str) -> None:
    """X-Forwarded-For/-Proto change client and scheme only when the peer is trusted."""
    seen: list[Scope] = []
    served = serve(recording_app(seen), proxies=trusted)
    httpx.get(served.url, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3",
                                   "X-Forwarded-Proto": "https"})
    if expected_client is None:
        assert seen[0]["client"][0] == "127.0.0.1"
    else:
        assert seen[0]["client"] == expected_client
    assert seen[0]["scheme"] == expected_scheme


# --- receive ------------------------------------------------------------------

def test_body_arrives_in_pieces_with_more_body(serve: AppFactory) -> None:
    """A body sent slowly arrives in several http.request messages; only the last says more_body
    False.
    """
    got: list[list[Message]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, messages = await read_body(receive)
        got.append(messages)
        await respond(send, body)

    def slow_upload() -> Iterator[bytes]:
        for piece in (b"one,", b"two,", b"three"):
            yield piece
            time.sleep(0.05)

    served = serve(app)
    response = httpx.post(served.url, content=slow_upload())
    assert response.content == b"one,two,three"
    messages = got[0]
    assert len(messages) >= 2
    assert all(m["type"] == "http.request" for m in messages)
    assert [m["more_body"] for m in messages] == [True] * (len(messages) - 1) + [False]


def test_whole_body_is_one_message(serve: AppFactory) -> None:
    """A body that is all there (or none) is one message with more_body False."""
    got: list[list[Message]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, messages = await read_body(receive)
        got.append(messages)
        await respond(send, body)

    served = serve(app)
    assert httpx.post(served.url, content=b"x" * 1000).content == b"x" * 1000
    assert httpx.get(served.url).content == b""
    assert httpx.post(served.url, content=b"").content == b""  # Content-Length: 0
    assert [len(messages) for messages in got] == [1, 1, 1]
    assert got[1][0] == got[2][0] == {"type": "http.request", "body": b"", "more_body": False}


def test_receive_after_the_response_gives_disconnect(serve: AppFactory) -> None:
    """receive() after the response is complete returns http.disconnect at once."""
    after: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive)
        await respond(send)
        after.append(await asyncio.wait_for(receive(), 2))

    served = serve(app)
    assert httpx.get(served.url).text == "ok"
    assert httpx.get(served.url).text == "ok"
    assert wait_until(lambda: len(after) == 2)
    assert after == [{"type": "http.disconnect"}] * 2


@pytest.mark.parametrize("leave", ["fin", "reset"])
def test_receive_waits_for_the_client_to_leave_without_spinning(serve: AppFactory,
                                                                leave: str) -> None:
    """receive() after the body waits for the client to leave: one call, one http.disconnect."""
    calls: list[str] = []
    done = threading.Event()

    async def app(scope: Scope, receive: Receive, _send: Send) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            calls.append(message["type"])
            if message["type"] == "http.disconnect":
                break
        done.set()

    served = serve(app)
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.2)  # the app now waits in receive()
        if leave == "reset":  # abruptly; else a plain close, a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01" + b"\x00" * 7)
    assert done.wait(2)
    assert calls == ["http.request", "http.disconnect"]


def test_body_over_the_limit_is_answered_413(serve: AppFactory) -> None:
    """A body over the limit: the app is told http.disconnect, the client gets 413."""
    told: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        _, messages = await read_body(receive)
        told.append(messages[-1])
        told.append(await asyncio.wait_for(receive(), 1))  # again: at once, the same
        if messages[-1]["type"] == "http.disconnect":
            raise OSError("the app gives up, as frameworks do")
        await respond(send)

    def upload() -> Iterator[bytes]:
        yield b"x" * 600
        time.sleep(0.05)
        yield b"x" * 600

    served = serve(app, max_body_size=1000)
    response = httpx.post(served.url, content=upload())
    assert response.status_code == 413
    assert told == [{"type": "http.disconnect"}] * 2


def test_expect_100_continue(serve: AppFactory) -> None:
    """The app's first receive() is what makes the container answer 100 Continue."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            body, _ = await read_body(receive)
            await respond(send, body)

    served = serve(app)
    with socket.create_connection((served.host, served.port), timeout=2) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"ping")
        assert sock.recv(1024).endswith(b"\r\n\r\nping")


# --- send -----------------------------------------------------------------------

def test_whole_body_goes_out_with_content_length(serve: AppFactory) -> None:
    """One body message: one response with Content-Length; repeated headers are kept."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await respond(send, b"hello", 201, [(b"x-one", b"1"), (b"set-cookie", b"a=1"),
                                               (b"set-cookie", b"b=2")])

    response = httpx.get(serve(app).url)
    assert response.status_code == 201 and response.content == b"hello"
    assert response.headers["content-length"] == "5"
    assert "transfer-encoding" not in response.headers
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.headers["x-one"] == "1"


def test_streamed_body_is_chunked(serve: AppFactory) -> None:
    """Several body messages without a Content-Length: chunked; empty pieces are skipped."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in (b"a", b"", b"bc", b"d"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    response = httpx.get(serve(app).url)
    assert response.content == b"abcd"
    assert response.headers["transfer-encoding"] == "chunked"


def test_start_is_held_until_the_first_body_message(serve: AppFactory) -> None:
    """Nothing is written at http.response.start; head and body go out together."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"late"})

    served = serve(app)
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(0.15)
        with pytest.raises(TimeoutError):
            sock.recv(1024)  # nothing yet: the head waits for the body
        sock.settimeout(2)
        data = sock.recv(1024)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"late")
    assert b"content-length: 4\r\n" in data


def streaming_app(length: int | None, pieces: list[bytes],
                  more_after_last: bool = False) -> Callable[[Scope, Receive, Send], Any]:
    """An app that sends its own Content-Length (or none) and these body pieces."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [] if length is None else [(b"content-length", str(length).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, piece in enumerate(pieces):
            more = more_after_last or index < len(pieces) - 1
            await send({"type": "http.response.body", "body": piece, "more_body": more})
    return app


def test_the_apps_content_length_is_honoured(serve: AppFactory) -> None:
    """A streamed body with the app's Content-Length is framed by it, not chunked."""
    response = httpx.get(serve(streaming_app(10, [b"01234", b"56789"])).url)
    assert response.headers["content-length"] == "10" and response.content == b"0123456789"
    assert "transfer-encoding" not in response.headers


def test_too_few_bytes_for_the_content_length_close_the_connection(
        serve: AppFactory, raw_exchange: Any) -> None:
    """Fewer bytes than the app's Content-Length: the connection closes after them."""
    served = serve(streaming_app(10, [b"01234"]))
    data, closed = raw_exchange(served, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed
    assert b"content-length: 10\r\n" in data and data.endswith(b"\r\n\r\n01234")


def test_too_many_bytes_for_the_content_length_are_not_sent(
        serve: AppFactory, raw_exchange: Any) -> None:
    """More bytes than the app's Content-Length: they are not sent, the connection closes."""
    served = serve(streaming_app(3, [b"0123456789"]))
    data, closed = raw_exchange(served, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed
    assert b"content-length: 3\r\n" in data and b"0123456789" not in data


@pytest.mark.parametrize("body", [b"hello", b""])
def test_head_keeps_the_apps_content_length(serve: AppFactory, raw_exchange: Any,
                                            body: bytes) -> None:
    """HEAD: the app's Content-Length stands, whether it sends the body or not; no body goes out.

    """
    served = serve(streaming_app(5, [body]))
    data, _ = raw_exchange(served, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert b"content-length: 5\r\n" in data and data.endswith(b"\r\n\r\n")


def test_send_after_the_client_left_raises_oserror_and_is_not_logged(
        serve: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    """send() once the client is gone raises an OSError (spec 2.4); the app's exit by it is not
    logged as an error.
    """
    raised: list[BaseException] = []
    done = threading.Event()

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for _ in range(1000):
                await send({"type": "http.response.body", "body": b"x" * 65536,
                            "more_body": True})
                await asyncio.sleep(0.005)
        except OSError as exc:
            raised.append(exc)
            raise
        finally:
            done.set()

    served = serve(app)
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(1024)
    assert done.wait(3)
    assert len(raised) == 1 and isinstance(raised[0], OSError)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def _exception_left_handled(loop: asyncio.AbstractEventLoop) -> BaseException | None:
    """What ``sys.exc_info()`` says in a plain callback on the server's loop:
    nothing, unless some coroutine left an exception set as handled there."""
    seen: concurrent.futures.Future[BaseException | None] = concurrent.futures.Future()
    loop.call_soon_threadsafe(lambda: seen.set_result(sys.exc_info()[1]))
    return seen.result(3)


def test_an_app_failing_after_the_client_left_leaves_no_exception_behind(
        serve: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    """The app reads part of a body, the client goes, receive() says
    http.disconnect and the app raises: nothing is logged as an error, and
    the server's thread is left with no exception set as the one being
    handled. One left there would become the ``__context__`` of every later
    raise on that thread (docs/compiled.md, habit five: the compiled copy
    runs this test too)."""
    messages: list[Message] = []
    done = threading.Event()

    async def app(scope: Scope, receive: Receive, _send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            while (message := await receive())["type"] == "http.request":
                messages.append(message)
            raise RuntimeError("no body to work on")
        finally:
            done.set()

    served = serve(app)
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        assert wait_until(lambda: len(messages) == 1)
    assert done.wait(3)
    assert messages == [{"type": "http.request", "body": b"x" * 10, "more_body": True}]
    assert not wait_until(lambda: _exception_left_handled(served.loop) is not None, 0.5)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_send_after_the_response_is_complete_is_an_error(serve: AppFactory) -> None:
    """A body message after the response is complete raises RuntimeError into the app."""
    raised: list[BaseException] = []

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await respond(send)
        try:
            await send({"type": "http.response.body", "body": b"more"})
        except RuntimeError as exc:
            raised.append(exc)

    served = serve(app)
    assert httpx.get(served.url).text == "ok"
    assert httpx.get(served.url).text == "ok"
    assert wait_until(lambda: len(raised) == 2)


# --- the app's faults -----------------------------------------------------------

def error_records(caplog: pytest.LogCaptureFixture) -> list[Any]:
    """The ERROR records logged by the adapter."""
    return [r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("aioweb")]


def test_exception_before_start_is_a_500_logged_once(serve: AppFactory,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """An exception before the response started: 500, logged once with its traceback."""
    async def app(scope: Scope, _receive: Receive, _send: Send) -> None:
        if scope["type"] == "http":
            raise ValueError("boom")

    served = serve(app)
    response = httpx.get(served.url)
    assert response.status_code == 500 and response.text == "Internal Server Error"
    assert httpx.get(served.url).status_code == 500
    records = error_records(caplog)
    assert len(records) == 2 and all(r.exc_info and r.exc_info[0] is ValueError for r in records)


def test_exception_after_start_closes_the_connection(serve: AppFactory, raw_exchange: Any,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """An exception after the head went out: the connection closes without the last chunk; logged
    once.
    """
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise ValueError("boom")

    data, closed = raw_exchange(serve(app), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed
    assert b"transfer-encoding: chunked" in data and b"partial" in data
    assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the client knows it is cut
    assert len(error_records(caplog)) == 1 and error_records(caplog)[0].exc_info


def test_returning_without_a_response_is_a_500(serve: AppFactory,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """An app that returns without a body message: 500, logged once."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})

    assert httpx.get(serve(app).url).status_code == 500
    assert len(error_records(caplog)) == 1


def test_returning_before_the_end_of_the_body_closes_the_connection(
        serve: AppFactory, raw_exchange: Any, caplog: pytest.LogCaptureFixture) -> None:
    """An app that returns with more_body still True: the connection closes; logged once."""
    data, closed = raw_exchange(serve(streaming_app(None, [b"abc"], more_after_last=True)),
                                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed and b"abc" in data and not data.endswith(b"0\r\n\r\n")
    assert len(error_records(caplog)) == 1


# The app's byte pairs reach the container unconverted: each of these must
# still be caught there.
INVALID_HEADERS = {
    "crlf-in-value": (b"x-evil", b"a\r\nset-cookie: stolen=1"),
    "lf-in-value": (b"x-evil", b"a\nset-cookie: stolen=1"),
    "nul-in-value": (b"x-evil", b"a\x00set-cookie: stolen=1"),
    "crlf-in-name": (b"x-evil\r\nset-cookie", b"stolen=1"),
    "space-in-name": (b"x-evil set-cookie", b"stolen=1"),
    "int-value": (b"x-evil", 1),
    "bad-content-length": (b"content-length", b"4\r\nset-cookie: stolen=1"),
}


@pytest.mark.parametrize("more_body", [False, True])
@pytest.mark.parametrize("kind", INVALID_HEADERS)
def test_an_invalid_response_header_is_a_500_never_sent(
        serve: AppFactory, caplog: pytest.LogCaptureFixture, more_body: bool, kind: str) -> None:
    """A header with CR, LF or NUL, a name that is no token, a value that is not
    bytes: 500, the header never reaches the client; logged once."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), INVALID_HEADERS[kind]]})
        await send({"type": "http.response.body", "body": b"body", "more_body": more_body})
        if more_body:
            await send({"type": "http.response.body", "body": b""})

    response = httpx.get(serve(app).url)
    assert response.status_code == 500
    assert "x-evil" not in response.headers and "set-cookie" not in response.headers
    assert len(error_records(caplog)) == 1


def test_exception_after_the_response_is_logged_and_the_client_served(
        serve: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    """An exception after a complete response (background work) is logged; the client has its
    answer.
    """
    failed = threading.Event()

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await respond(send, b"done")
        failed.set()
        raise ValueError("background work failed")

    assert httpx.get(serve(app).url).text == "done"
    assert failed.wait(2)
    assert wait_until(lambda: len(error_records(caplog)) == 1)


def test_unknown_message_types_raise_into_the_app(serve: AppFactory) -> None:
    """Out-of-order or unknown messages, and a non-int status, raise into the app."""
    raised: list[BaseException] = []

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        for message in ({"type": "http.response.body", "body": b"early"},
                        {"type": "websocket.accept"},
                        {"type": "http.response.start", "status": "200"}):
            try:
                await send(message)
            except (RuntimeError, TypeError) as exc:
                raised.append(exc)
        await respond(send)

    assert httpx.get(serve(app).url).text == "ok"
    assert [type(e) for e in raised] == [RuntimeError, RuntimeError, TypeError]


async def _chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"y" * size
        await asyncio.sleep(0)


def test_a_large_streamed_response_waits_for_a_slow_reader(serve: AppFactory) -> None:
    """send() waits while the client does not read: the app cannot run ahead of the socket."""
    sent: list[int] = []
    total_size = 512 * 65536  # 32 MiB: far more than the kernel's socket buffers hold

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        async for chunk in _chunks(512, 65536):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent.append(len(chunk))
        await send({"type": "http.response.body", "body": b""})

    served = serve(app)
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.3)
        assert sum(sent) < total_size  # back-pressure: the app is held back
        total = 0
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
    assert sum(sent) == total_size and total > total_size


def test_keep_alive_connections_serve_request_after_request(serve: AppFactory) -> None:
    """One keep-alive connection serves hundreds of requests, 500s included."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/fail":
            raise ValueError("a 500 does not end the connection")
        await respond(send, scope["path"].encode())

    with httpx.Client(base_url=serve(app).url) as client:
        for index in range(300):
            path = "/fail" if index % 50 == 0 else f"/{index}"
            response = client.get(path)
            assert response.status_code == (500 if path == "/fail" else 200)
