"""aioweb with the real peers it meets in production: nginx in front, wrk as load.

nginx is how most Python services face the internet: it speaks HTTP/1.1 to
its upstream on kept-alive connections (``keepalive``), sends request bodies
chunked when it streams them (``proxy_request_buffering off``), and passes a
chunked response on as it arrives (``proxy_buffering off``). wrk is the load
generator the benchmarks use: many connections, each request the moment the
last answer is read. Each test here would fail if aioweb got the part of
HTTP/1.1 that the peer relies on wrong. One more runs a Starlette app behind
nginx as a site would: under a prefix nginx strips, with the client's address
and scheme forwarded (``--root-path``, ``--proxy-headers``). They are skipped where nginx or wrk is
not installed (``make tools`` installs both).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from aioweb import Request, Response
from aioweb.asgi import AsgiHandler
from aioweb.asgi.proxy import TrustedProxies
from bench.servers import pick_free_port
from scripts.wire import wait_until

NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None)
WRK = shutil.which("wrk")

NGINX_CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream aioweb {{
        server 127.0.0.1:{upstream};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://aioweb;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
        # As a site that serves an app under /api/ and terminates TLS would:
        # the prefix stripped, the client's address and scheme in headers
        # (fixed here, so the test can tell them from nginx's own).
        location /api/ {{
            proxy_pass http://aioweb/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For 203.0.113.7;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""


async def upstream(request: Request) -> Response | bytes:
    """What nginx proxies to: echo, stream, fail, and who-sent-this."""
    if request.path == "/echo":
        body = await request.body()
        return Response(body, headers={"X-Method": request.method,
                                       "X-Framing": "chunked" if request.headers.get(
                                           "transfer-encoding") else "length",
                                       "X-Forwarded": request.headers.get("x-forwarded-for", "")})
    if request.path == "/stream":
        async def lines() -> AsyncIterator[bytes]:
            for i in range(200):
                yield b"line %d\n" % i
        return Response(lines(), content_type="text/plain")
    if request.path == "/fail":
        raise RuntimeError("a handler's bug, on purpose")
    if request.path == "/peer":
        assert request.client is not None
        return str(request.client[1]).encode()  # nginx's port: which upstream connection
    return Response(b"not here", 404)


@pytest.fixture(name="nginx")
def fixture_nginx(serve: Callable[..., Any], tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """nginx on a free port proxying to a fresh aioweb: (its base URL, the aioweb server)."""
    with running_nginx(serve(upstream), tmp_path) as base:
        yield base


@contextlib.contextmanager
def running_nginx(server: Any, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """nginx on a free port in front of ``server``, stopped afterwards."""
    if NGINX is None:
        pytest.skip("nginx is not installed (make tools installs it)")
    port = pick_free_port()
    config = tmp_path / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(prefix=tmp_path, upstream=server.address[1],
                                          port=port))
    process = subprocess.Popen(  # pylint: disable=consider-using-with  # stopped below
        [NGINX, "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "error.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return process.poll() is not None  # exited: stop waiting, fail below
        return True

    try:
        if not wait_until(listening, 10) or process.poll() is not None:
            log = (tmp_path / "error.log").read_text(errors="replace")
            pytest.fail(f"nginx did not start:\n{log}")
        yield f"http://127.0.0.1:{port}", server
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_nginx_passes_bodies_both_ways(nginx: tuple[str, Any]) -> None:
    """A body sent with Content-Length, and one nginx streams on chunked (a
    generator body is chunked by httpx; its pieces come 20 ms apart, so nginx,
    which does not buffer it, must forward it before it is complete), both
    reach the handler whole; the answer comes back through nginx."""
    base, _ = nginx
    with httpx.Client(base_url=base, timeout=10) as client:
        sized = client.post("/echo", content=b"x" * 100_000)
        assert (sized.status_code, len(sized.content)) == (200, 100_000)
        assert sized.headers["x-forwarded"] == "127.0.0.1"

        def pieces() -> Iterator[bytes]:
            for i in range(10):
                yield b"piece %03d;" % i
                time.sleep(0.02)
        chunked = client.post("/echo", content=pieces())
        assert chunked.status_code == 200
        assert chunked.headers["x-framing"] == "chunked"
        assert chunked.content == b"".join(b"piece %03d;" % i for i in range(10))


def test_nginx_passes_a_streamed_response_on(nginx: tuple[str, Any]) -> None:
    """aioweb's chunked response, de-chunked and re-framed by nginx, arrives whole."""
    base, _ = nginx
    with httpx.Client(base_url=base, timeout=10) as client:
        response = client.get("/stream")
    assert response.status_code == 200
    assert response.content == b"".join(b"line %d\n" % i for i in range(200))


def test_nginx_keeps_its_upstream_connections_alive(nginx: tuple[str, Any]) -> None:
    """60 requests through nginx reach aioweb over at most a few kept-alive
    connections (nginx's ``keepalive 4``): aioweb keeps HTTP/1.1 connections
    open and frames every answer exactly, or nginx could not reuse them."""
    base, server = nginx
    with httpx.Client(base_url=base, timeout=10) as client:
        ports = {client.get("/peer").text for _ in range(60)}
    assert 1 <= len(ports) <= 4, ports
    assert server.requests_served >= 60


def test_a_failing_handler_is_a_500_through_nginx_and_serving_goes_on(
        nginx: tuple[str, Any]) -> None:
    """The 500 reaches the client through nginx; the next request is served."""
    base, _ = nginx
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/fail").status_code == 500
        assert client.post("/echo", content=b"still here").content == b"still here"
        head = client.head("/echo")
        assert (head.status_code, head.content) == (200, b"")


async def where(request: StarletteRequest) -> JSONResponse:
    """What a Starlette app knows of the request it is answering."""
    assert request.client is not None
    return JSONResponse({"client": request.client.host, "scheme": request.url.scheme,
                         "path": request.url.path, "root_path": request.scope["root_path"]})


WHERE_APP = Starlette(routes=[Route("/where", where)])


@pytest.mark.parametrize("trusted", ["127.0.0.1", "10.0.0.1"])
def test_an_asgi_app_behind_nginx_sees_what_nginx_forwards(
        serve: Callable[..., Any], tmp_path: Path, trusted: str) -> None:
    """Behind nginx, under the /api/ prefix it strips: a Starlette app sees
    its full path and root_path, and, when nginx is a trusted proxy
    (``--forwarded-allow-ips``), the client address and scheme nginx
    forwards; from an untrusted peer those headers are ignored."""
    handler = AsgiHandler(WHERE_APP, root_path="/api", proxies=TrustedProxies(trusted))
    with running_nginx(serve(handler), tmp_path) as (base, _):
        with httpx.Client(base_url=base, timeout=10) as client:
            seen = client.get("/api/where").json()
    assert (seen["path"], seen["root_path"]) == ("/api/where", "/api")
    if trusted == "127.0.0.1":
        assert (seen["client"], seen["scheme"]) == ("203.0.113.7", "https")
    else:
        assert (seen["client"], seen["scheme"]) == ("127.0.0.1", "http")


def test_wrk_through_nginx_gets_every_answer(nginx: tuple[str, Any]) -> None:
    """wrk through nginx, 16 connections for 2 s, on the streamed (chunked)
    response: a framing slip under load would show as nginx's 502s."""
    if WRK is None:
        pytest.skip("wrk is not installed (make tools installs it)")
    base, server = nginx
    output = subprocess.run([WRK, "-t1", "-c16", "-d2s", f"{base}/stream"], check=True,
                            capture_output=True, text=True, timeout=30).stdout
    assert "Socket errors" not in output and "Non-2xx" not in output, output
    match = re.search(r"(\d+) requests in", output)
    assert match is not None and int(match[1]) > 50, output
    assert server.requests_served >= int(match[1])


def test_wrk_load_is_answered_in_full(serve: Callable[..., Any], poll: Callable[..., bool],
                                      tmp_path: Path) -> None:
    """wrk, 32 connections for 2 s, GETs and then POSTs with a body (a wrk
    Lua script): no socket error and no non-2xx answer, the server counted
    at least the responses wrk read, and every connection closed afterwards."""
    if WRK is None:
        pytest.skip("wrk is not installed (make tools installs it)")

    async def echo(request: Request) -> bytes:
        return await request.body()
    server = serve(echo)
    url = f"http://127.0.0.1:{server.address[1]}/"
    post = tmp_path / "post.lua"
    post.write_text('wrk.method = "POST"\nwrk.body = string.rep("b", 3000)\n'
                    'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    completed = 0
    for extra in ([], ["-s", str(post)]):
        output = subprocess.run([WRK, "-t1", "-c32", "-d2s", *extra, url], check=True,
                                capture_output=True, text=True, timeout=30).stdout
        assert "Socket errors" not in output and "Non-2xx" not in output, output
        match = re.search(r"(\d+) requests in", output)
        assert match is not None, output
        completed += int(match[1])
    assert completed > 100
    assert server.requests_served >= completed
    assert poll(lambda: server.connection_count == 0)
