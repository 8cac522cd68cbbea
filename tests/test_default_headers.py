"""The lines the container adds to every response, on the wire: Server and
Date (RFC 9110 §10.2.4, §6.6.1), replaced by a handler's own, turned off, and
the defaults configured for every response (``Config.default_headers``).

RFC 9110 §5.3: a field that is not a list is sent once. Two Server lines, the
container's and the app's, are what uvicorn sends (its issue 1436), and what
clients such as aiohttp (3.14 on) refuse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from aioweb import Request, Response

FIXED_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


async def own_lines(request: Request) -> Response | bytes:
    """Paths: /server, /date, /both (whole bodies), /streamed (a streamed body with its
    own Server), /sent (through request.send), /started (start_response); else hello."""
    path = request.path
    if path == "/server":
        return Response(b"mine", headers=[("Server", "app/1.0")])
    if path == "/date":
        return Response(b"dated", headers=[("Date", FIXED_DATE)])
    if path == "/both":
        return Response(b"both", 404, headers=[("server", "app"), ("date", FIXED_DATE)])
    if path == "/streamed":
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"
        return Response(chunks(), headers=[("Server", "app/streamed")])
    if path == "/sent":
        await request.send(Response(b"sent", headers=[(b"server", b"app/sent")]))
        return None
    if path == "/started":
        body_writer = request.start_response(200, [("Server", "app/started")])
        await body_writer.write(b"started")
        await body_writer.close()
        return None
    return b"hello"


def _get(connect: Any, server: Any, path: str, method: str = "GET") -> Any:
    client = connect(server.address)
    client.send(b"%s %s HTTP/1.1\r\nHost: t\r\n\r\n" % (method.encode(), path.encode()))
    return client.read_response(method)


def test_a_handlers_own_server_or_date_replaces_the_containers(serve, connect) -> None:
    """Whichever way the handler answers (a whole body, a stream, send(),
    start_response()), its Server or Date goes out alone, once; the other line
    is still the container's."""
    server = serve(own_lines)
    for path, value in (("/server", "app/1.0"), ("/streamed", "app/streamed"),
                        ("/sent", "app/sent"), ("/started", "app/started")):
        response = _get(connect, server, path)
        assert response.header_values("server") == [value], path
        assert len(response.header_values("date")) == 1, path
    dated = _get(connect, server, "/date")
    assert dated.header_values("date") == [FIXED_DATE]
    assert dated.header_values("server") == ["aioweb"]
    both = _get(connect, server, "/both")
    assert both.status == 404 and both.body == b"both"
    assert both.header_values("server") == ["app"]
    assert both.header_values("date") == [FIXED_DATE]
    plain = _get(connect, server, "/")  # the next response has the container's lines again
    assert plain.header_values("server") == ["aioweb"] and plain.body == b"hello"
    head = _get(connect, server, "/server", "HEAD")
    assert head.header_values("server") == ["app/1.0"] and head.body == b""


def test_server_and_date_can_be_turned_off(serve, connect) -> None:
    """server_header="" and date_header=False: neither line, on answers and refusals."""
    server = serve(own_lines, server_header="", date_header=False)
    response = _get(connect, server, "/")
    assert response.body == b"hello"
    assert response.header("server") is None and response.header("date") is None
    client = connect(server.address)
    client.send(b"GET / HTTP/1.1\r\n\r\n")  # no Host: refused by the reader
    refused = client.read_response()
    assert refused.status == 400
    assert refused.header("server") is None and refused.header("date") is None
    assert _get(connect, server, "/server").header_values("server") == ["app/1.0"]


def test_default_headers_go_on_every_response(serve, connect) -> None:
    """Config.default_headers: on a handler's answers, on the reader's refusals
    and on the 503 past max_connections; a Server among them replaces aioweb's."""
    defaults = (("X-Frame-Options", "DENY"), ("Server", "edge"))
    server = serve(own_lines, default_headers=defaults, max_connections=1)
    client = connect(server.address)  # the one place: kept while the 503 below is made
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /server HTTP/1.1\r\nHost: t\r\n\r\n")
    response, own = client.read_responses(2)
    assert response.header_values("x-frame-options") == ["DENY"]
    assert response.header_values("server") == ["edge"]
    assert own.header_values("server") == ["app/1.0"]
    assert own.header_values("x-frame-options") == ["DENY"]
    busy = connect(server.address).read_response()
    assert busy.status == 503 and busy.header_values("x-frame-options") == ["DENY"]
    client.send(b"GET /\x01 HTTP/1.1\r\nHost: t\r\n\r\n")
    refused = client.read_response()
    assert refused.status == 400 and refused.header_values("x-frame-options") == ["DENY"]


def test_httpx_sees_one_server_header(serve) -> None:
    """A real client: one Server header, the handler's, in httpx's multi-dict."""
    server = serve(own_lines)
    host, port = server.address
    with httpx.Client(base_url=f"http://{host}:{port}") as client:
        response = client.get("/server")
    assert response.headers.get_list("server") == ["app/1.0"]
