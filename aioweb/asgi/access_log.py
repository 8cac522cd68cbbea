"""The access log: one line per response, for any handler, only when asked for.

Where it sits in a request's life: :class:`AccessLog` wraps the handler the
container calls, so with ``--no-access-log`` it is simply not there and costs
nothing per request. When on, it writes uvicorn's line::

    127.0.0.1:52114 - "GET /items/1?full=1 HTTP/1.1" 200

The status comes from whatever answers: the Response a handler returns, the
error it raises (an HttpError's status, 500 for anything else), or, for
handlers that answer themselves (ASGI apps, through ``request.send`` or
``request.start_response``), the status they send — logged as the response
starts, as uvicorn does, not when the app's background work ends.

A path is the client's text: ``%0A`` decodes to a newline, which would let a
client write fake lines into the log. Control characters, quotes and
backslashes are therefore escaped (``\\x0a``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping

from aioweb.contract import (Handler, HandlerFunction, Header, Request, Response,
                             ResponseLike, ResponseWriter)
from aioweb.errors import ClientDisconnected, HttpError
from aioweb.headers import Headers

access_log = logging.getLogger("aioweb.access")

_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')


def escape(text: str) -> str:
    """``text`` with control characters, quotes and backslashes as ``\\xNN``."""
    return _UNSAFE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def log_line(request: Request, status: int) -> None:
    """Write the access log line for one response."""
    client = request.client
    where = f"{client[0]}:{client[1]}" if client is not None else "-"
    target = request.path
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    access_log.info('%s - "%s %s HTTP/%s" %d', where, request.method, escape(target),
                    request.http_version, status)


class AccessLog(Handler):
    """Logs each response of the handler it wraps."""

    def __init__(self, handler: Handler | HandlerFunction) -> None:
        if isinstance(handler, Handler):
            self._call: HandlerFunction = handler.handle
            self.runs_eagerly = handler.runs_eagerly
        else:
            self._call = handler
        self.handler = handler

    async def handle(self, request: Request) -> ResponseLike:
        recorded = _RecordingRequest(request)
        try:
            result = await self._call(recorded)
        except HttpError as exc:
            recorded.note(exc.status)
            raise
        except ClientDisconnected:
            raise  # nothing was answered, nothing to log
        except Exception:
            recorded.note(500)  # the container answers 500 and logs the traceback
            raise
        if result is not None:
            recorded.note(result.status if isinstance(result, Response) else 200)
        elif not recorded.logged:
            recorded.note(500)  # the container answers 500 for a handler that did not
        return result


class _RecordingRequest(Request):  # pylint: disable=too-many-public-methods  # (the contract's)
    """The request as the wrapped handler sees it: the same, but it notes the status it answers."""

    __slots__ = ("_inner", "logged")

    def __init__(self, inner: Request) -> None:
        self._inner = inner
        self.logged = False

    async def send(self, response: Response) -> None:
        self.note(response.status)
        await self._inner.send(response)

    def start_response(self, status: int, headers: Iterable[Header],
                       content_length: int | None = None) -> ResponseWriter:
        writer = self._inner.start_response(status, headers, content_length)
        self.note(status)  # after: a refused header raises, and the handler's 500 is logged
        return writer

    def note(self, status: int) -> None:
        """Log the response's line, once."""
        if not self.logged:
            self.logged = True
            log_line(self._inner, status)

    # --- everything else is the wrapped request's ---------------------------

    @property
    def has_body(self) -> bool:
        return self._inner.has_body

    @property
    def complete(self) -> bool:
        """Whether the whole body has arrived (see ``aioweb.asgi.exchange``)."""
        return self._inner.complete

    @property
    def method(self) -> str:
        return self._inner.method

    @property
    def path(self) -> str:
        return self._inner.path

    @property
    def raw_path(self) -> bytes:
        return self._inner.raw_path

    @property
    def query_string(self) -> bytes:
        return self._inner.query_string

    @property
    def query(self) -> Mapping[str, list[str]]:
        return self._inner.query

    @property
    def http_version(self) -> str:
        return self._inner.http_version

    @property
    def headers(self) -> Headers:
        return self._inner.headers

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return self._inner.raw_headers

    @property
    def scheme(self) -> str:
        return self._inner.scheme

    @property
    def client(self) -> tuple[str, int] | None:
        return self._inner.client

    @property
    def server(self) -> tuple[str, int] | None:
        return self._inner.server

    @property
    def keep_alive(self) -> bool:
        return self._inner.keep_alive

    @property
    def is_disconnected(self) -> bool:
        return self._inner.is_disconnected

    async def body(self) -> bytes:
        return await self._inner.body()

    def stream(self) -> AsyncIterator[bytes]:
        return self._inner.stream()

    async def wait_disconnected(self) -> None:
        await self._inner.wait_disconnected()
