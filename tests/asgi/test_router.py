"""The Router: native routes by method and path, mounts, and an ASGI fallback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route

from aioweb import Handler, HttpError, Request, Response
from aioweb.asgi import AsgiHandler
from aioweb.asgi.loader import asgi_handlers_in
from aioweb.router import Router, mount_prefix, request_params

from .conftest import Served

ServeNative = Callable[..., Served]


def starlette_fallback() -> Starlette:
    """An ASGI app that says which path, root_path and method reached it."""
    async def where(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"app": "starlette", "method": request.method,
                             "path": request.scope["path"],
                             "root_path": request.scope["root_path"],
                             "route_path": request.url.path,
                             "body": (await request.body()).decode()})
    return Starlette(routes=[Route("/{rest:path}", where,
                                   methods=["GET", "POST", "PUT", "DELETE"])])


async def native_item(request: Request) -> Response:
    """A native route reading its path parameter."""
    return Response(f"native item {request_params(request)['item_id']}")


def test_same_path_split_by_method(serve_native: ServeNative) -> None:
    """GET on a path goes native, POST on the same path to the ASGI fallback; HEAD follows GET."""
    router = Router(fallback=AsgiHandler(starlette_fallback()))
    router.add("/items/{item_id}", native_item)  # GET (and HEAD) only
    served = serve_native(router)
    assert httpx.get(served.url + "/items/7").text == "native item 7"
    head = httpx.head(served.url + "/items/7")
    assert head.status_code == 200 and head.headers["content-length"] == "13"
    posted = httpx.post(served.url + "/items/7", content=b"data").json()
    assert posted == {"app": "starlette", "method": "POST", "path": "/items/7",
                      "root_path": "", "route_path": "/items/7", "body": "data"}
    assert httpx.get(served.url + "/other").json()["path"] == "/other"


def test_static_params_and_catch_all_routes(serve_native: ServeNative) -> None:
    """Static, parameter and catch-all routes; 404 and 405 without a fallback."""
    router = Router()

    @router.route("/users/{user}/posts/{post}")
    async def post(request: Request) -> Response:
        params = request_params(request)
        return Response(f"{params['user']}:{params['post']}")

    @router.route("/files/{rest:path}", methods=["GET", "PUT"])
    async def files(request: Request) -> Response:
        return Response(f"{request.method} {request_params(request)['rest']}")

    @router.route("/users/me")
    async def me(request: Request) -> Response:
        assert request_params(request) == {}
        return Response("me")

    served = serve_native(router)
    assert httpx.get(served.url + "/users/ada/posts/12").text == "ada:12"
    assert httpx.get(served.url + "/users/me").text == "me"
    assert httpx.put(served.url + "/files/a/b%20c.txt").text == "PUT a/b c.txt"
    assert httpx.get(served.url + "/users/ada/posts/12/extra").status_code == 404
    refused = httpx.post(served.url + "/users/me")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    assert httpx.get(served.url + "/nowhere").status_code == 404


def test_mounted_routers_keep_the_full_path_for_the_fallback(serve_native: ServeNative) -> None:
    """Nested mounts: native routes match below the prefix; the ASGI fallback sees the full path
    with the prefix as root_path.
    """
    inner = Router(fallback=AsgiHandler(starlette_fallback()))
    inner.add("/items/{item_id}", native_item)

    @inner.route("/where")
    async def where(request: Request) -> Response:
        return Response(f"{mount_prefix(request)} {request.path}")

    middle = Router()
    middle.mount("/v1", inner)
    outer = Router()
    outer.mount("/api", middle)
    served = serve_native(outer)
    assert httpx.get(served.url + "/api/v1/items/3").text == "native item 3"
    assert httpx.get(served.url + "/api/v1/where").text == "/api/v1 /api/v1/where"
    fallback = httpx.get(served.url + "/api/v1/other/thing").json()
    assert fallback["path"] == "/api/v1/other/thing"
    assert fallback["root_path"] == "/api/v1"
    assert fallback["route_path"] == "/api/v1/other/thing"
    # The mount point itself: Starlette sees an empty route path and redirects.
    redirect = httpx.get(served.url + "/api/v1")
    assert redirect.status_code == 307 and redirect.headers["location"].endswith("/api/v1/")
    assert httpx.get(served.url + "/api/v1x").status_code == 404  # not a segment boundary
    assert httpx.get(served.url + "/elsewhere").status_code == 404


def test_asgi_root_path_and_mount_prefix_combine(serve_native: ServeNative) -> None:
    """An AsgiHandler's own root_path comes before the mount prefix."""
    router = Router()
    router.mount("/app", AsgiHandler(starlette_fallback(), root_path="/proxy"))
    data = httpx.get(serve_native(router).url + "/app/x").json()
    assert data["root_path"] == "/proxy/app" and data["path"] == "/proxy/app/x"


class _NeedsTask(Handler):
    """A native handler that needs a Task from its first line, as anyio does on 3.11."""

    runs_eagerly = False

    async def handle(self, request: Request) -> Response:
        assert asyncio.current_task() is not None
        return Response("had a task")


class _Eager(Handler):
    """Notes whether it ran without a Task, i.e. eagerly."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []

    async def handle(self, request: Request) -> Response:
        self.tasks.append(asyncio.current_task())
        return Response("eager")


def test_native_routes_stay_eager_and_task_needing_ones_get_a_task(
        serve_native: ServeNative) -> None:
    """Native routes run eagerly (no Task); handlers with runs_eagerly False get a Task."""
    eager = _Eager()
    router = Router(fallback=_NeedsTask())
    router.add("/eager", eager)
    router.add("/needs/{x}", _NeedsTask())
    served = serve_native(router)
    assert httpx.get(served.url + "/eager").text == "eager"
    assert eager.tasks == [None]  # no Task: the container's eager path
    assert httpx.get(served.url + "/needs/1").text == "had a task"
    assert httpx.get(served.url + "/fallback").text == "had a task"


def test_routing_errors_are_found_early() -> None:
    """A route added twice, a path without '/', a mount ending in '/': ValueError at once."""
    router = Router()
    router.add("/a", native_item)
    with pytest.raises(ValueError):
        router.add("/a", native_item)
    with pytest.raises(ValueError):
        router.add("no-slash", native_item)
    with pytest.raises(ValueError):
        router.mount("/trailing/", native_item)


def test_handlers_lists_what_the_cli_must_start() -> None:
    """The CLI finds the ASGI apps inside nested routers, to run their lifespans."""
    app = AsgiHandler(starlette_fallback())
    inner = Router(fallback=app)
    outer = Router()
    outer.mount("/x", inner)
    outer.add("/y", native_item)
    assert list(asgi_handlers_in(outer)) == [app]


async def _raising(request: Request) -> Response:
    raise HttpError(418)


def test_native_errors_keep_their_status(serve_native: ServeNative) -> None:
    """An HttpError from a native route keeps its status through the router."""
    router = Router()
    router.add("/tea", _raising)
    assert httpx.get(serve_native(router).url + "/tea").status_code == 418
