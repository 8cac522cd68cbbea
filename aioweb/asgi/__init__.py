"""Serving ASGI applications with aioweb, unmodified.

Reading order (each module depends only on those before it):

1. ``spec``       — the ASGI vocabulary: Scope, Message, Receive, Send.
2. ``proxy``      — which X-Forwarded-* headers to believe.
3. ``exchange``   — one request's receive() and send(), on the Request contract.
4. ``handler``    — :class:`AsgiHandler`: the scope, the app call, the app's faults.
5. ``lifespan``   — startup and shutdown events, and the state they fill.
6. ``access_log`` — one log line per response, for any handler.
7. ``loader``     — ``module:app`` to an object, and ASGI or native?

``aioweb/cli.py`` puts them together into the ``aioweb`` command.
"""

from aioweb.asgi.handler import AsgiHandler
from aioweb.asgi.lifespan import Lifespan, LifespanFailed
from aioweb.asgi.proxy import TrustedProxies

__all__ = ["AsgiHandler", "Lifespan", "LifespanFailed", "TrustedProxies"]
