"""The examples run, and the hot-route move is invisible to clients."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from aioweb.asgi import AsgiHandler
from examples import asgi_hello, fastapi_hot_route

from .conftest import Served


def _comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items()
                     if k not in ("date", "server"))
    return response.status_code, headers, response.content


def test_the_native_hot_route_answers_like_fastapi(serve_native: Callable[..., Served]) -> None:
    """Before (all FastAPI) and after (the Router): the same bytes for every request."""
    before = serve_native(AsgiHandler(fastapi_hot_route.app), gzip=False).url
    after = serve_native(fastapi_hot_route.router, gzip=False).url
    for method, path in (("GET", "/prices/AAPL"), ("GET", "/prices/NOPE"), ("GET", "/health"),
                         ("POST", "/prices/TSLA?price=250.5"), ("GET", "/prices/TSLA"),
                         ("GET", "/openapi.json")):
        assert _comparable(httpx.request(method, before + path)) == \
            _comparable(httpx.request(method, after + path)), (method, path)
    # The one difference: FastAPI refuses HEAD on a GET route (405); the
    # Router answers it with the GET's headers, as RFC 9110 §9.3.2 asks.
    assert httpx.head(before + "/prices/MSFT").status_code == 405
    head = httpx.head(after + "/prices/MSFT")
    assert head.status_code == 200 and head.headers["content-length"] == str(
        len(httpx.get(after + "/prices/MSFT").content))
    order = httpx.post(after + "/orders", json={"symbol": "AAPL", "quantity": 2})
    assert order.json() == {"symbol": "AAPL", "total": 379.0}


def test_the_benchmark_apps(serve_asgi: Callable[..., Served]) -> None:
    """The raw and FastAPI hello apps say hello and echo."""
    for app in (asgi_hello.app, asgi_hello.fastapi_app):
        url = serve_asgi(app).url
        assert httpx.get(url).text == "hello"
        assert httpx.post(url, content=b"echo me").content == b"echo me"
