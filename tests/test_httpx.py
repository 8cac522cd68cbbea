"""A real client against the container: httpx, on both loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from aioweb import Request, Response

TEXT = "The quick brown fox jumps over the lazy dog. " * 100


async def app(request: Request) -> Response:
    """A small application: echo, text, stream, and a sized resource for HEAD."""
    if request.path == "/echo":
        body = await request.body()
        return Response(body, headers={"X-Length": str(len(body)),
                                       "X-Method": request.method})
    if request.path == "/text":
        return Response(TEXT)
    if request.path == "/stream":
        async def numbers() -> AsyncIterator[bytes]:
            for i in range(100):
                yield b"%d\n" % i
        return Response(numbers(), content_type="application/octet-stream")
    if request.path == "/resource":
        return Response(b"r" * 1234, content_type="application/octet-stream")
    return Response(b"not here", 404)


@pytest.fixture(name="app_server")
def fixture_app_server(serve):
    """A fresh server running ``app``."""
    return serve(app)


@pytest.fixture(name="http")
def fixture_http(app_server) -> Iterator[httpx.Client]:
    """An httpx client for ``app_server``."""
    host, port = app_server.address
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=5) as client:
        yield client


def test_get(http) -> None:
    """httpx GETs a text response (gzip-coded on the wire, decoded by httpx)."""
    response = http.get("/text")
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == TEXT
    assert response.headers["server"] == "aioweb"
    assert http.get("/missing").status_code == 404


def test_post_with_body(http) -> None:
    """httpx POSTs a body, sized and then chunked (a generator), and gets it back."""
    response = http.post("/echo", content=b"x" * 100_000)
    assert (response.status_code, response.content) == (200, b"x" * 100_000)
    assert response.headers["x-length"] == "100000"

    def pieces() -> Iterator[bytes]:
        yield b"chunked "
        yield b"upload"
    streamed = http.post("/echo", content=pieces())
    assert streamed.content == b"chunked upload"


def test_streamed_response(http) -> None:
    """httpx reads a chunked response as a stream, line by line."""
    with http.stream("GET", "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        lines = list(response.iter_lines())
    assert lines == [str(i) for i in range(100)]


def test_head(http) -> None:
    """HEAD through httpx: the GET's Content-Length, no body, connection reusable."""
    head = http.head("/resource")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "1234", b"")
    assert http.get("/resource").content == b"r" * 1234


def test_many_requests_on_one_connection(http, app_server) -> None:
    """httpx's keep-alive pool reuses one connection for sequential requests."""
    for i in range(20):
        assert http.post("/echo", content=b"%d" % i).content == b"%d" % i
    assert app_server.connection_count == 1
    assert app_server.requests_served == 20
