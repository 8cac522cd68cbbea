"""The benchmark's apps: a raw ASGI hello/echo, and the same in FastAPI.

    aioweb examples.asgi_hello:app            uvicorn examples.asgi_hello:app
    aioweb examples.asgi_hello:fastapi_app    granian --interface asgi examples.asgi_hello:app

A GET gets ``hello``; a POST gets its own body back. No framework in the raw
one, so the servers themselves are what is compared; FastAPI's adds what a
typical app pays per request. At the end, the Router variants whose costs
docs/asgi.md compares.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi import Request as FastApiRequest
from fastapi.responses import PlainTextResponse

from aioweb import Handler, Request
from aioweb.asgi import AsgiHandler
from aioweb.asgi.spec import Receive, Scope, Send
from aioweb.contract import ResponseLike
from aioweb.router import Router

_HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"5")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Raw ASGI: hello for a GET, the body back for a POST; lifespan acknowledged."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "http":
        return
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
        await send({"type": "http.response.body", "body": b"hello"})
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


fastapi_app = FastAPI()


@fastapi_app.get("/")
async def hello() -> PlainTextResponse:
    """hello, through FastAPI's routing and response classes."""
    return PlainTextResponse("hello")


@fastapi_app.post("/")
async def echo(request: FastApiRequest) -> PlainTextResponse:
    """The body back."""
    return PlainTextResponse(await request.body())


# --- the Router's eagerness, measured (docs/asgi.md, "Eagerness") ------------

class _InFreshTask(Handler):
    """The alternative to the Router's sleep(0) hop: await the handler in a new Task."""

    def __init__(self, inner: Handler) -> None:
        self.inner = inner

    async def handle(self, request: Request) -> ResponseLike:
        return await asyncio.get_running_loop().create_task(self.inner.handle(request))


class _LazyRouter(Router):
    """A Router that gives up eagerness: every request, native or not, in a Task."""

    runs_eagerly = False


async def _native_hello(_request: Request) -> bytes:
    return b"hello"


def _routed(router: Router) -> Router:
    router.add("/native", _native_hello)
    return router


# GET / reaches the ASGI app through a Router; GET /native a native route.
routed_hop = _routed(Router(fallback=AsgiHandler(app)))            # eager, sleep(0) hop
routed_two_tasks = _routed(Router(fallback=_InFreshTask(AsgiHandler(app))))  # eager, 2 Tasks
routed_lazy = _routed(_LazyRouter(fallback=AsgiHandler(app)))       # a Task for everything
