"""One request's ``receive()`` and ``send()``: ASGI messages in, Request calls out.

An :class:`Exchange` lives for one request. The ASGI app pulls the request
body through :meth:`Exchange.receive` and pushes its response through
:meth:`Exchange.send`; each call becomes a call on the container's
:class:`aioweb.contract.Request`:

* ``receive()`` gives ``http.request`` messages with the body as it arrives
  (``request.stream()``, so reading is what lets more of the body in), then
  ``http.disconnect`` once the response is done or the client has gone. That
  last wait is a future, never a poll.
* ``send()`` holds ``http.response.start`` until the first body message. A
  whole body in one message (the common case) becomes one
  ``request.send(Response(...))``: head and body in one write, framed with
  Content-Length. A body in several messages becomes
  ``request.start_response(...)`` and one ``writer.write`` per message, which
  waits while the client reads slower than the app writes. A file named by
  ``http.response.pathsend`` becomes one ``request.send`` of a streamed body
  (``pathsend.py``).

After the client has gone, ``send()`` raises :class:`ClientDisconnected`, an
``OSError`` as ASGI spec 2.4 asks; the app may let it propagate, and the
handler does not log it as the app's fault. What to do when the app fails is
the handler's business (``handler.py``); this module only keeps the state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from mypy_extensions import mypyc_attr

from aioweb.asgi.pathsend import FileChunks
from aioweb.asgi.spec import Message
from aioweb.contract import Header, Request, Response, ResponseWriter
from aioweb.errors import ClientDisconnected, HttpError

# Where the response is. A response is "started" for the client (its head is
# out) in STREAMING and DONE only: in HEAD_HELD, nothing has been written yet.
IDLE, HEAD_HELD, STREAMING, DONE = range(4)


@mypyc_attr(native_class=False)
class _CheckedResponse(Response):
    """A Response made from parts already in shape (a list of pairs; a bytes
    body, or a file's chunks for http.response.pathsend).

    Response's own constructor accepts many shapes (str bodies, mappings) and
    pays for the checks on every call; a whole-body ASGI response, the most
    common response there is, needs none of them. The app's byte pairs go to
    the container as they are: it checks and writes bytes and text alike.
    """

    __slots__ = ()
    content_length_binding = True  # ASGI: the app's Content-Length is checked, not re-framed

    def __init__(self, body: bytes | FileChunks, status: int,  # pylint: disable=super-init-not-called
                 headers: list[Header]) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Exchange:
    """The receive/send pair of one request, and what they have seen."""

    __slots__ = ("request", "state", "gone", "refusal", "writer", "_start", "_body_done",
                 "_chunks", "_waiters", "_watcher")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.state = IDLE
        # The app was told the client is gone (receive() said http.disconnect
        # for that reason, or send() raised ClientDisconnected): whatever it
        # raises from then on is its reaction, not its bug.
        self.gone = False
        # The body broke a limit (413): answered once the app lets go.
        self.refusal: HttpError | None = None
        self.writer: ResponseWriter | None = None
        self._start: Message | None = None
        self._body_done = False  # the last http.request message was given
        self._chunks: AsyncIterator[bytes] | None = None
        # receive() calls waiting for the end (see _wait_for_end); a list
        # only once one waits: most apps never ask.
        self._waiters: list[asyncio.Future[None]] | None = None
        self._watcher: asyncio.Task[None] | None = None

    @property
    def responded(self) -> bool:
        """Whether the response's head has gone out (too late for a 500)."""
        return self.state >= STREAMING

    # --- receive -----------------------------------------------------------

    async def receive(self) -> Message:
        """The next request event: body pieces, then http.disconnect."""
        if not self._body_done:
            request = self.request
            if not request.has_body:
                # Most requests (GETs): nothing to read, not even a call to
                # body() (~1,000 instructions, measured: asgi-echo).
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self._chunks is None and request.complete:
                # All of the body is here: one message.
                self._body_done = True
                return {"type": "http.request", "body": await request.body(), "more_body": False}
            return await self._next_body()
        if self.state != DONE and not self.gone and not self.request.is_disconnected:
            await self._wait_for_end()
        if self.state != DONE:
            self.gone = True
        return {"type": "http.disconnect"}

    async def _next_body(self) -> Message:
        request = self.request
        try:
            if self._chunks is None:
                self._chunks = request.stream()
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
        except ClientDisconnected:
            return self._told_gone()
        except HttpError as exc:  # over the body limit: the container's 413 follows
            self.refusal = exc
            return self._told_gone()
        more = not request.complete
        self._body_done = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    def _told_gone(self) -> Message:
        self.gone = self._body_done = True
        return {"type": "http.disconnect"}

    async def _wait_for_end(self) -> None:
        """Wait until the response is done or the client has gone."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_disconnect())
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(waiter)
        try:
            await waiter
        finally:
            # Cancelled: another receive() may still wait. The local list,
            # not self._waiters, which _wake() may have set to None meanwhile
            # (and then this waiter is in no list that matters any more);
            # compiled code would trust the attribute to be the list still
            # (docs/compiled.md, on narrowing).
            if waiter in waiters:
                waiters.remove(waiter)

    async def _watch_disconnect(self) -> None:
        await self.request.wait_disconnected()
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # --- send --------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """One response event: the head (held), then body pieces."""
        kind = message["type"]
        if kind == "http.response.body":
            # Only writing needs the client (the head is held until the first
            # body message, so checking here covers the head too).
            if self.gone or self.request.is_disconnected:
                self.gone = True
                raise ClientDisconnected("the client closed the connection")
            if self.state == HEAD_HELD:
                start = self._start
                assert start is not None
                if not message.get("more_body", False):
                    # The common case, inline (_first_body, _bytes_of and
                    # _headers_of written out here: three calls and an await
                    # fewer, ~1,000 instructions, measured): the whole body
                    # in one message, one write. A Content-Length that
                    # disagrees with the body, as in a HEAD answer or a bug,
                    # is the container's to honour and check: see
                    # Response.content_length_binding.
                    self.state = DONE
                    body = message.get("body", b"")
                    headers = start.get("headers", ())
                    await self.request.send(_CheckedResponse(
                        body if type(body) is bytes else bytes(body),  # pylint: disable=unidiomatic-typecheck
                        start["status"],
                        headers if type(headers) is list else list(headers)))  # pylint: disable=unidiomatic-typecheck
                    if self._waiters:
                        self._wake()
                else:
                    await self._first_body(message)
            elif self.state == STREAMING:
                await self._write_more(message)
            else:
                raise self._out_of_order(kind)
        elif kind == "http.response.start":
            if self.state != IDLE:
                raise RuntimeError("http.response.start sent twice")
            status = message["status"]
            if type(status) is not int:  # pylint: disable=unidiomatic-typecheck
                raise TypeError(f"ASGI response status must be an int, not {status!r}")
            self._start = message
            self.state = HEAD_HELD
        elif kind == "http.response.pathsend":  # the whole body, from a file (pathsend.py)
            if self.gone or self.request.is_disconnected:
                self.gone = True
                raise ClientDisconnected("the client closed the connection")
            if self.state != HEAD_HELD:
                raise self._out_of_order(kind)
            await self._send_file(message)
        else:
            raise RuntimeError(f"unexpected ASGI message type {kind!r}")

    def _out_of_order(self, kind: str) -> RuntimeError:
        return RuntimeError(f"{kind} sent " + (
            "before http.response.start" if self.state == IDLE else
            "after the body was begun" if self.state == STREAMING else
            "after the response was complete"))

    async def _first_body(self, message: Message) -> None:
        """The first piece of a body sent in several messages: the head goes out."""
        start = self._start
        assert start is not None
        body = _bytes_of(message)
        self.writer = self.request.start_response(start["status"], _headers_of(start))
        self.state = STREAMING
        if body:
            await self._write(body)

    async def _send_file(self, message: Message) -> None:
        start = self._start
        assert start is not None
        # Opened before anything is written: a path that cannot be read raises
        # into the app here, and the app's failure becomes its 500.
        chunks = await FileChunks.open(message.get("path"))
        self.state = DONE
        try:
            await self.request.send(_CheckedResponse(chunks, start["status"], _headers_of(start)))
        finally:
            # Closed whether the body went out whole, was cut, or was never
            # read (a HEAD, or a head the container refused); closing a file
            # does not wait, so nothing awaits here (see docs/compiled.md).
            chunks.close()
        if self._waiters:
            self._wake()

    async def _write_more(self, message: Message) -> None:
        body = _bytes_of(message)
        if body:
            await self._write(body)
        if not message.get("more_body", False):
            await self._close()
            self._wake()

    async def _write(self, data: bytes) -> None:
        writer = self.writer
        assert writer is not None
        try:
            await writer.write(data)
        except ClientDisconnected:
            self.gone = True
            raise
        if writer.finished:
            # The container cut the response (more bytes than its
            # Content-Length) and is closing the connection.
            self.state = DONE
            self.gone = True

    async def _close(self) -> None:
        writer = self.writer
        assert writer is not None
        if self.state == STREAMING:
            await writer.close()
        self.state = DONE

    # --- the end -------------------------------------------------------------

    def abort(self) -> None:
        """Give up on a response whose head is out: the container closes the connection."""
        if self.writer is not None and not self.writer.finished:
            self.writer.abort()
        self.state = DONE

    def close(self) -> bool:
        """The app has returned: wake any receive() still waiting, stop watching.

        True when a body stream is still open: then :meth:`stop_reading`
        must be awaited (one call here, not two, on the common path).
        """
        if self._waiters:
            self._wake()
        watcher = self._watcher
        if watcher is not None and not watcher.done():
            watcher.cancel()
        return self._chunks is not None

    async def stop_reading(self) -> None:
        """Close the body stream the app stopped reading half-way (or finished)."""
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def _bytes_of(message: Message) -> bytes:
    """The body of an http.response.body, as bytes (apps may send a bytearray)."""
    body = message.get("body", b"")
    return body if type(body) is bytes else bytes(body)  # pylint: disable=unidiomatic-typecheck


def _headers_of(start: Message) -> list[Header]:
    """The response headers of an http.response.start, as a list."""
    headers = start.get("headers", ())
    if type(headers) is not list:  # pylint: disable=unidiomatic-typecheck
        headers = list(headers)  # any iterable of pairs will do (ASGI spec)
    return headers
