"""The peers' application: a raw ASGI 3 echo, with no framework in between.

    uvicorn bench.asgi_echo:app ...
    granian --interface asgi bench.asgi_echo:app ...

It does what aioweb's sample server does: status 200, the request's own body
as the response body (empty for a GET), and a content-length header.  Being
the same work with no framework, it lets the benchmark compare the servers
themselves: uvicorn and granian run exactly this, aioweb runs its own echo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# The ASGI 3 signature, spelled out (the spec ships no types of its own).
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer each HTTP request with its own body; accept lifespan events."""
    if scope["type"] == "lifespan":
        await run_lifespan(receive, send)
    elif scope["type"] == "http":
        body = await read_body(receive)
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode("ascii"))],
        })
        await send({"type": "http.response.body", "body": body})
    # Anything else (websocket) is not served: returning closes it.


async def read_body(receive: Receive) -> bytes:
    """Collect the request body, which may arrive as several http.request messages."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":  # the client left mid-body
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def run_lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown, so the servers log no lifespan warnings."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
