"""The ASGI adapter: an ASGI 3 application served as an aioweb :class:`Handler`.

Where it sits in a request's life: the container has parsed and checked the
request head and calls :meth:`AsgiHandler.handle`. That builds the ASGI
``scope`` from the :class:`aioweb.contract.Request`, then calls the app with
an :class:`aioweb.asgi.exchange.Exchange`'s ``receive`` and ``send``. The app
answers through them (``request.send``/``request.start_response`` underneath)
and may go on running afterwards (Starlette's background tasks do): the
client already has its response, and the connection serves its next request.

When the app fails, the client still gets a well-formed answer, and the
failure is logged once, with its traceback:

* it raises before its response started → 500;
* it raises after → the connection is closed, so the client sees the body cut
  short (chunked without its last chunk, or short of its Content-Length);
* it returns without answering → 500; without finishing → connection closed;
* a response header with CR, LF or NUL → 500 (the container refuses it
  before a byte is written);
* it raises because the client went away (our ``ClientDisconnected`` from
  ``send()``, or its own reaction to ``http.disconnect``) → not its fault:
  logged at debug level only, as ASGI spec 2.4 asks.

``runs_eagerly`` is False: ASGI frameworks run on anyio, which on Python 3.11
needs ``asyncio.current_task()`` from the app's first line, so each request
gets its own Task (see ``aioweb/server/eager.py``). An app known not to ask
for it before its first wait (a raw ASGI app that uses no anyio, asgiref or
``asyncio.timeout``) may be served with ``eager=True``: no Task unless it
waits, about a tenth of an ASGI request's instructions saved. Nothing can
detect the need safely (the app would already have run when it failed), so
it is the caller's decision, and off by default.
"""

from __future__ import annotations

import logging
from typing import Any

from mypy_extensions import mypyc_attr

from aioweb.asgi.exchange import DONE, Exchange
from aioweb.asgi.proxy import TrustedProxies
from aioweb.asgi.spec import ASGI_VERSION, EXTENSIONS, AsgiApp, Scope
from aioweb.contract import Handler, Request, Response, ResponseLike
from aioweb.errors import ClientDisconnected
from aioweb.router import mount_prefix

log = logging.getLogger("aioweb.asgi")

_INTERNAL_ERROR = b"Internal Server Error"
# "%" as a byte value, an int: ``37 in data`` is far cheaper than ``b"%" in
# data`` on CPython 3.11 (see aioweb/server/request.py).
_PERCENT = ord("%")


def _server_error() -> Response:
    return Response(_INTERNAL_ERROR, 500, [("content-type", "text/plain; charset=utf-8")])


def _caused_by_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, our ClientDisconnected."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ClientDisconnected):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@mypyc_attr(native_class=False)
class AsgiHandler(Handler):
    """Serves an ASGI 3 application (Starlette, FastAPI, Django, ...) as a Handler.

    ``root_path`` is the prefix a reverse proxy strips before forwarding (the
    CLI's ``--root-path``): the app sees it as ``root_path`` and at the start
    of ``path``, as uvicorn does. ``state`` is the dict the lifespan startup
    filled (see ``lifespan.py``); each request's scope gets a shallow copy.
    ``proxies``, when given, lets trusted proxies set the client address and
    scheme through X-Forwarded-For and X-Forwarded-Proto. ``eager=True`` runs
    the app without a Task of its own until it first waits (see the module
    docstring: never for Starlette, FastAPI or Django).
    """

    runs_eagerly = False

    def __init__(self, app: AsgiApp, root_path: str = "", state: dict[str, Any] | None = None,
                 *, proxies: TrustedProxies | None = None, eager: bool = False) -> None:
        self.app = app
        self.root_path = root_path.rstrip("/")
        self.state: dict[str, Any] = {} if state is None else state
        self.proxies = proxies
        self.runs_eagerly = eager

    def scope(self, request: Request) -> Scope:
        """The ASGI HTTP connection scope for ``request``."""
        # Each request property is a call: every one is read once, below.
        raw_path = request.raw_path
        # The contract's path is raw_path percent-decoded as UTF-8; without a
        # "%" that is a plain decode, far cheaper than the unquoting.
        path = raw_path.decode("utf-8", "replace") if _PERCENT not in raw_path else request.path
        # ASGI wants lower-cased byte names: the container's raw pairs are
        # bytes already, so only the name changes (no bytes -> str -> bytes).
        # A plain loop: on Python 3.11 a comprehension is a call of its own.
        headers = []
        for name, value in request.raw_headers:
            headers.append((name.lower(), value))
        client = request.client
        scheme = request.scheme
        if self.proxies is not None:
            client, scheme = self.proxies.apply(client, headers, scheme)
        root_path = self.root_path
        if root_path:
            # The full path, as the client asked for it behind the proxy; the
            # app strips root_path itself (Starlette's get_route_path does).
            path = root_path + path
            raw_path = root_path.encode() + raw_path
        return {
            "type": "http",
            "asgi": ASGI_VERSION,  # one dict for every request: apps read it, never write it
            "http_version": request.http_version,
            "method": request.method,
            "scheme": scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": request.query_string,
            "root_path": root_path + mount_prefix(request),
            "headers": headers,
            "client": client,
            "server": request.server,
            "state": self.state.copy(),
            "extensions": EXTENSIONS,
        }

    async def handle(self, request: Request) -> ResponseLike:
        exchange = Exchange(request)
        failure: Exception | None = None
        try:
            await self.app(self.scope(request), exchange.receive, exchange.send)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # Any failure of the app's own (cancellation is BaseException
            # and flows on): answered for below, and serving goes on.
            failure = exc
        finally:
            stream_open = exchange.close()  # receive() waiters woken, cancelled or not
        if stream_open:
            # After the try, not in its finally: nothing here awaits while an
            # exception is on its way out (docs/compiled.md says why). When
            # the app was cancelled, the loop's async generator hooks close
            # such a stream instead.
            await exchange.stop_reading()
        if failure is not None:
            return self._failed(request, exchange, failure)
        if exchange.state == DONE:
            return None  # the usual end: answered, and nothing left to do
        return self._returned(request, exchange)

    def _failed(self, request: Request, exchange: Exchange, exc: Exception) -> ResponseLike:
        if exchange.gone or _caused_by_disconnect(exc):
            log.debug("ASGI app ended with %r after the client went away", exc)
        else:
            log.error("ASGI app failed on %s %s", request.method, request.path, exc_info=exc)
        if exchange.responded:
            exchange.abort()  # the head is out: the only honest signal left is the close
            return None
        return self._unanswered(request, exchange)

    def _returned(self, request: Request, exchange: Exchange) -> ResponseLike:
        if exchange.responded:  # but not DONE
            if not exchange.gone:
                log.error("ASGI app returned before finishing its response to %s %s",
                          request.method, request.path)
            exchange.abort()
            return None
        if not (exchange.gone or request.is_disconnected):
            log.error("ASGI app returned without responding to %s %s",
                      request.method, request.path)
        return self._unanswered(request, exchange)

    @staticmethod
    def _unanswered(request: Request, exchange: Exchange) -> ResponseLike:
        """No head has gone out: the container's 413, silence for a gone client, or a 500."""
        if exchange.refusal is not None:
            raise exchange.refusal
        if exchange.gone or request.is_disconnected:
            raise ClientDisconnected("the client closed the connection")
        return _server_error()
