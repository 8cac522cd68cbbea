"""The ASGI 3 vocabulary: the types and constants every other module here speaks.

ASGI (https://asgi.readthedocs.io) is the interface between async Python
servers and frameworks. An application is a coroutine function called once
per connection-scope with three arguments:

* ``scope`` — a dict describing the request (method, path, headers, ...);
* ``receive()`` — awaits the next event *from* the client (body pieces, then
  ``http.disconnect``);
* ``send(message)`` — sends an event *to* the client (the response head, then
  body pieces).

A request's life in aioweb, seen from ASGI: the container parses the head and
calls :class:`aioweb.asgi.handler.AsgiHandler`, which builds the scope and
turns ``receive``/``send`` into calls on the container's
:class:`aioweb.contract.Request`. The spec ships no type definitions, so they
are spelled out here, loosely: messages are plain dicts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# "version" is the ASGI interface (3 = one callable with three arguments).
# "spec_version" 2.4 is the HTTP spec revision whose promise we keep: send()
# on a closed connection raises an OSError subclass (our ClientDisconnected)
# instead of silently doing nothing. Starlette reads it: from 2.4 on, its
# StreamingResponse stops when send() raises rather than running a second
# task that listens for http.disconnect, which is cheaper for every stream.
ASGI_VERSION: dict[str, str] = {"version": "3.0", "spec_version": "2.4"}

# The extensions every HTTP scope offers ("extensions" in the scope): one
# dict for every request, as ASGI_VERSION. Apps look keys up, never write.
EXTENSIONS: dict[str, dict[str, object]] = {
    "http.response.pathsend": {},  # a file sent by its path: see pathsend.py
}

# Lifespan events follow the lifespan spec's own version numbers.
LIFESPAN_VERSION: dict[str, str] = {"version": "3.0", "spec_version": "2.0"}
