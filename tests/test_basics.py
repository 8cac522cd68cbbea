"""The container on the wire: basic exchanges, persistence, pipelining, the API surface.

Every test here runs on asyncio's loop and on uvloop's (the ``loop_kind``
parameter of the ``serve`` fixture), through raw sockets.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
import time

import aioweb
from aioweb import Config, Container, Handler, HttpToolsContainer, Request, Response

IMF_FIXDATE = re.compile(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT")


async def hello(_request: Request) -> bytes:
    """Always ``hello``."""
    return b"hello"


async def echo_path(request: Request) -> Response:
    """The request's path as the body."""
    return Response(request.path.encode())


def test_get_is_answered_with_length_date_and_server(serve, connect) -> None:
    """A GET gets a 200 with Content-Length (RFC 9112 §6.2), Date (RFC 9110 §6.6.1)
    and Server headers, and its body."""
    server = serve(hello)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    response = client.read_response()
    assert (response.version, response.status, response.reason) == ("HTTP/1.1", 200, "OK")
    assert response.header("content-length") == "5"
    date = response.header("date") or ""
    assert IMF_FIXDATE.fullmatch(date)
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5
    assert response.header("server") == "aioweb"
    assert response.body == b"hello"


def test_sample_server_echoes_a_post(serve, connect, sample_server) -> None:
    """The sample server's handler answers a POST with its own body, a GET with nothing."""
    server = serve(sample_server.echo)
    client = connect(server.address)
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 13\r\n\r\nhello, world!"
                b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    post, get = client.read_responses(2)
    assert (post.status, post.body, post.header("content-length")) == (200, b"hello, world!", "13")
    assert (get.status, get.body, get.header("content-length")) == (200, b"", "0")


# --- persistence (RFC 9112 §9.3) --------------------------------------------

def test_http11_keeps_the_connection_by_default(serve, connect) -> None:
    """HTTP/1.1 persists by default: two requests, one after the other, on one socket."""
    server = serve(echo_path)
    client = connect(server.address)
    for path in (b"/first", b"/second"):
        client.send(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
        response = client.read_response()
        assert (response.status, response.body) == (200, path)
        assert not response.closes
    assert server.connection_count == 1


def test_http10_closes_by_default(serve, connect) -> None:
    """HTTP/1.0 without keep-alive: the server closes after the response (RFC 9112
    §9.3). The response is HTTP/1.1 (RFC 9110 §2.5: the highest minor version
    the server speaks), so it must say ``connection: close``: a reader of an
    HTTP/1.1 response would otherwise expect the connection to persist."""
    server = serve(hello)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    response = client.read_response()
    assert (response.version, response.status, response.body) == ("HTTP/1.1", 200, b"hello")
    assert response.header("connection") == "close"
    assert client.wait_closed()


def test_http10_keep_alive_keeps_the_connection(serve, connect) -> None:
    """HTTP/1.0 with ``Connection: keep-alive`` persists, and the response says so."""
    server = serve(echo_path)
    client = connect(server.address)
    for path in (b"/a", b"/b"):
        client.send(b"GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % path)
        response = client.read_response()
        assert (response.status, response.body) == (200, path)
        assert response.header("connection") == "keep-alive"


def test_connection_close_closes(serve, connect) -> None:
    """``Connection: close`` (RFC 9112 §9.6): the response says close, then the server closes."""
    server = serve(hello)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    response = client.read_response()
    assert response.status == 200
    assert response.header("connection") == "close"
    assert client.wait_closed()


def test_handler_connection_close_closes(serve, connect) -> None:
    """A handler that answers ``Connection: close`` gets the connection closed
    after it; a request pipelined behind it (in the same read) reaches no handler."""
    seen = []

    async def closing(request: Request) -> Response:
        seen.append(request.path)
        return Response(b"bye", headers={"Connection": "close"})
    server = serve(closing)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /never HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert (response.body, response.header_values("connection")) == (b"bye", ["close"])
    assert client.wait_closed()
    assert client.pending == b""
    assert seen == ["/"]


def test_nothing_is_answered_after_a_handler_closes(serve, connect, caplog) -> None:
    """Bad bytes pipelined behind a request whose handler closes the connection
    get no 400 after its response: the connection answers nothing more (the
    trace shows no refusal; the transport would drop its bytes anyway)."""
    async def closing(_request: Request) -> Response:
        return Response(b"bye", headers={"Connection": "close"})
    caplog.set_level(logging.DEBUG, logger="aioweb.trace")
    server = serve(closing, debug=True)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nNOT A REQUEST\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"bye")
    assert client.wait_closed()
    assert client.pending == b""
    steps = [record.getMessage() for record in caplog.records if record.name == "aioweb.trace"]
    assert any("response written; closing" in step for step in steps), steps
    assert not any("refused" in step for step in steps), steps


# --- pipelining (RFC 9112 §9.3.2) -------------------------------------------

def test_pipelined_requests_are_answered_in_order(serve, connect) -> None:
    """Ten requests sent in one write get ten responses, in request order."""
    server = serve(echo_path)
    client = connect(server.address)
    client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(10)))
    assert [r.body for r in client.read_responses(10)] == [b"/%d" % i for i in range(10)]


def test_pipelined_slow_handlers_still_answer_in_order(serve, connect) -> None:
    """Order holds even when later requests would finish first: delays decrease
    along the pipeline, yet the responses come in request order."""
    async def sleepy(request: Request) -> bytes:
        await asyncio.sleep(int(request.path[1:]) * 0.01)
        return request.path.encode()
    server = serve(sleepy)
    client = connect(server.address)
    client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % delay
                         for delay in range(10, 0, -1)))
    assert [r.body for r in client.read_responses(10)] == [
        b"/%d" % delay for delay in range(10, 0, -1)]


def test_a_pipelined_handler_never_starts_on_the_previous_ones_task(serve, connect) -> None:
    """After a handler that waited (so ran in a Task) ends, the request behind it
    starts its eager first step with no Task current, as when its bytes arrive:
    never on the finishing Task, whose identity belongs to another request (an
    app keying state on its Task, as anyio's cancel scopes do, would mix them)."""
    tasks: dict[str, object] = {}

    async def handler(request: Request) -> bytes:
        if request.path == "/waits":
            await asyncio.sleep(0.01)
            tasks["waits"] = asyncio.current_task()  # after the await: in its own Task
            return b"waited"
        tasks["next"] = asyncio.current_task()  # before any await: the eager first step
        return b"next"
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET /waits HTTP/1.1\r\nHost: t\r\n\r\n"
                b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
    assert [r.body for r in client.read_responses(2)] == [b"waited", b"next"]
    assert tasks["waits"] is not None and tasks["next"] is None


def test_deep_pipeline_is_answered_in_full(serve, connect) -> None:
    """300 pipelined requests to a handler that waits (so they queue past
    max_pipeline_depth and reading pauses and resumes): all answered, in order."""
    async def waits(request: Request) -> bytes:
        await asyncio.sleep(0)
        return request.path.encode()
    server = serve(waits, max_pipeline_depth=4)
    client = connect(server.address)
    client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(300)))
    assert [r.body for r in client.read_responses(300)] == [b"/%d" % i for i in range(300)]


def test_deep_pipeline_to_handlers_that_never_wait_is_answered_in_full(serve, connect) -> None:
    """The same with handlers that finish at once, each started as its head is
    read: the bytes held back past max_pipeline_depth are still read, every one."""
    server = serve(echo_path, max_pipeline_depth=4)
    client = connect(server.address)
    client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(300)))
    assert [r.body for r in client.read_responses(300)] == [b"/%d" % i for i in range(300)]


def test_held_back_pipelined_bodies_with_empty_lines_are_intact(serve, connect) -> None:
    """Past max_pipeline_depth, unread bytes are held and cut after request
    heads (empty lines); bodies that hold empty lines themselves, and a
    closing request at the end, still come through whole and in order."""
    async def echo_body(request: Request) -> bytes:
        await asyncio.sleep(0)  # wait, so that the pipeline fills up
        return await request.body()
    server = serve(echo_body, max_pipeline_depth=2)
    client = connect(server.address)
    bodies = [b"\r\n\r\n%d\r\n\r\n\r\n\r\n" % i for i in range(40)]
    requests = [b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b)
                for b in bodies]
    requests[-1] = requests[-1].replace(b"Host: t\r\n", b"Host: t\r\nConnection: close\r\n")
    client.send(b"".join(requests))
    responses = client.read_responses(40)
    assert [r.body for r in responses] == bodies
    assert responses[-1].closes and client.wait_closed()


def test_nothing_after_a_pipelined_close_is_answered(serve, connect) -> None:
    """After a ``Connection: close`` request, later pipelined requests get no
    response and reach no handler (RFC 9112 §9.6)."""
    seen = []

    async def record(request: Request) -> bytes:
        seen.append(request.path)
        return request.path.encode()
    server = serve(record)
    client = connect(server.address)
    client.send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                b"GET /2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n")
    first, second = client.read_responses(2)
    assert (first.body, second.body) == (b"/1", b"/2")
    assert second.closes
    assert client.wait_closed()
    assert client.pending == b""
    assert seen == ["/1", "/2"]


# --- the container's API ----------------------------------------------------

def test_start_on_port_zero_binds_a_port_and_counts_requests(serve, connect) -> None:
    """start() with port 0 returns with a real bound address; requests_served counts."""
    server = serve(hello)
    host, port = server.address
    assert host == "127.0.0.1" and port > 0
    assert server.requests_served == 0
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
    client.read_responses(3)
    assert server.requests_served == 3


class EchoPathHandler(Handler):
    """A Handler subclass: the path, and whether a Task runs it."""

    def __init__(self, eager: bool) -> None:
        self.runs_eagerly = eager

    async def handle(self, request: Request) -> Response:
        await asyncio.sleep(0)
        return Response(f"{request.path} task={asyncio.current_task() is not None}")


def test_handler_subclass_works_like_a_function(serve, connect) -> None:
    """A Handler subclass is served like a plain async function."""
    server = serve(EchoPathHandler(eager=True))
    client = connect(server.address)
    client.send(b"GET /sub HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"/sub task=True")


def test_non_eager_handler_has_a_task_from_its_first_line(serve, connect) -> None:
    """``runs_eagerly = False`` (and ``Config(eager_handlers=False)``) run the
    handler inside a Task from its first line, so asyncio.timeout() works there."""
    async def timed(_request: Request) -> bytes:
        async with asyncio.timeout(5):
            return b"in a task" if asyncio.current_task() is not None else b"no task"

    class Timed(Handler):
        """``timed`` as a handler that opts out of eager start."""

        runs_eagerly = False

        async def handle(self, request: Request) -> bytes:
            return await timed(request)

    for server in (serve(Timed()), serve(timed, eager_handlers=False)):
        client = connect(server.address)
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.read_response().body == b"in a task"


def test_public_names_import() -> None:
    """``from aioweb import Container, Handler, Request, Response`` works, and the
    httptools container and request implement the ABCs."""
    assert issubclass(HttpToolsContainer, Container)
    assert issubclass(aioweb.HttpToolsRequest, Request)
    assert isinstance(HttpToolsContainer(hello, Config(port=0)), Container)
    assert {"Container", "Handler", "Request", "Response"} <= set(aioweb.__all__)


def test_request_attributes(serve, connect) -> None:
    """The Request a handler sees: method, decoded path, raw path, query, version,
    headers (case-insensitive, duplicates kept), peer and local addresses."""
    async def describe(request: Request) -> Response:
        return Response(json.dumps({
            "method": request.method, "path": request.path,
            "raw_path": request.raw_path.decode(), "query_string": request.query_string.decode(),
            "query": request.query, "version": request.http_version,
            "x": request.headers.get("x-multi"), "all": request.headers.getall("X-MULTI"),
            "client": list(request.client or ()), "server": list(request.server or ()),
            "keep_alive": request.keep_alive,
            "raw_headers": [[name.decode(), value.decode()] for name, value in request.raw_headers],
        }), content_type="application/json")
    server = serve(describe)
    client = connect(server.address)
    client.send(b"GET /a%20b/c?x=1&x=2&y= HTTP/1.1\r\nHost: t\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n"
                b"GET http://t.example:81/abs/path?q=v HTTP/1.1\r\nHost: t\r\n\r\n")
    first, absolute = (json.loads(r.body) for r in client.read_responses(2))
    assert first["method"] == "GET"
    assert (first["path"], first["raw_path"]) == ("/a b/c", "/a%20b/c")
    assert first["query_string"] == "x=1&x=2&y="
    assert first["query"] == {"x": ["1", "2"], "y": [""]}
    assert (first["version"], first["keep_alive"]) == ("1.1", True)
    assert (first["x"], first["all"]) == ("1", ["1", "2"])
    # The byte pairs as sent: names in their own case, order and duplicates kept.
    assert first["raw_headers"] == [["Host", "t"], ["X-Multi", "1"], ["x-multi", "2"]]
    assert first["client"] == list(client.sock.getsockname())
    assert first["server"] == list(server.address)
    # RFC 9112 §3.2.2: absolute-form, the path and query are taken from the URI.
    assert (absolute["path"], absolute["query_string"]) == ("/abs/path", "q=v")
    # ... and the host from the URI, not the Host header sent (RFC 9112 §3.2.2).
    assert absolute["raw_headers"] == [["Host", "t.example:81"]]


def test_has_body_says_whether_a_body_was_announced(serve, connect) -> None:
    """Request.has_body: a Content-Length above 0 or chunked framing; without
    it, body() is b"" and nothing is waited for."""
    async def describe(request: Request) -> bytes:
        body = await request.body()
        return b"%s %d" % (b"yes" if request.has_body else b"no", len(body))
    server = serve(describe)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
                b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert [r.body for r in client.read_responses(4)] == [b"no 0", b"no 0", b"yes 3", b"yes 0"]


def test_response_headers_may_be_bytes(serve, connect) -> None:
    """Header pairs given as bytes (or text and bytes mixed) go out as given;
    the handler's Content-Length is checked against the body like a text one."""
    async def handler(_request: Request) -> Response:
        return Response(b"hi", headers=[(b"x-raw", b"\xe9t\xe9"), ("X-Text", b"mixed"),
                                        (b"content-length", b"2")])
    server = serve(handler)
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert (response.status, response.body) == (200, b"hi")
    assert response.header("x-raw") == "\xe9t\xe9"
    assert response.header("x-text") == "mixed"
    assert response.header("content-length") == "2"
