"""Pipelining as a property: any mix of requests, cut into reads anywhere.

A connection starts a request's handler from three places: as its head is
read (no body, nothing ahead of it), from the queue at the end of a read, and
from the queue when the handler ahead of it ends in a Task or writing
resumes. Bytes past ``max_pipeline_depth`` are held back and parsed as the
queue empties; reading also pauses for a full body buffer and for a client
that does not read. Whatever the mix (GET, HEAD, POST by length or chunked,
HTTP/1.1 or 1.0, Expect: 100-continue, streamed answers, closing requests,
lines that are not requests) and wherever the reads end, the client must get
one response per request, in order, each for its own request and body, and
none after a response that ends the connection; a client that resets at any
point must leave no Task running.

The reads are cut here, in-process, with a transport of the test's own:
over TCP the kernel decides where reads end (it coalesces small sends), and
that is exactly what this test must choose. The transport behaves as a
socket's does where it matters: no read, not even the end of the stream,
is delivered while reading is paused; writing past a high-water mark calls
``pause_writing``, and the client reading calls ``resume_writing``. The
first run of this test found a stall that the wire tests then confirmed
(docs/limits.md, finding 4).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioweb import Config, Request, Response
from aioweb.asgi import AsgiHandler
from aioweb.server.connection import HttpToolsConnection
from aioweb.server.container import ServerState
from scripts.wire import ResponseParser

# Bodies made of these, so that some hold an empty line ("\r\n\r\n"), which
# is where held-back bytes are cut.
BODY_BYTES = st.binary(max_size=24) | st.sampled_from([b"\r\n\r\n", b"x\r\n\r\ny", b""])


@dataclass(frozen=True)
class Sent:
    """One request of the pipeline, and what its response must carry."""

    path: str
    body: bytes
    chunked: bool
    closes: bool
    bad: bool = False  # not a request at all: answered 400, and the connection closes
    # "", or "head" (a HEAD instead of a GET), "1.0" (HTTP/1.0, which closes by
    # default), "1.0-keep" (HTTP/1.0 with Connection: keep-alive), "expect" (a
    # body sent with Expect: 100-continue)
    dialect: str = ""

    @property
    def method(self) -> str:
        """HEAD, GET without a body, POST with one (GET for one not a request)."""
        if self.bad:
            return "GET"
        if not self.body and not self.chunked:
            return "HEAD" if self.dialect == "head" else "GET"
        return "POST"

    @property
    def ends(self) -> bool:
        """Whether the connection ends after this request's answer."""
        return (self.closes or self.bad or self.dialect == "1.0"
                or (self.dialect.startswith("1.0") and "s" in self.path))  # close-delimited

    @property
    def answer(self) -> tuple[int, bytes]:
        """The status and body the client must read for it."""
        if self.bad:
            return 400, b""
        return 200, b"" if self.method == "HEAD" else self.path.encode() + b":" + self.body

    def encode(self) -> bytes:
        """The request's bytes."""
        if self.bad:
            return b"NOT A REQUEST\r\n\r\n"
        version = b"1.0" if self.dialect.startswith("1.0") else b"1.1"
        fields = b"Host: t\r\n"
        if self.closes:
            fields += b"Connection: close\r\n"
        elif self.dialect == "1.0-keep":
            fields += b"Connection: keep-alive\r\n"
        if self.dialect == "expect" and self.method == "POST":
            fields += b"Expect: 100-continue\r\n"
        start = b"%s %s HTTP/%s\r\n" % (self.method.encode(), self.path.encode(), version)
        if self.method != "POST":
            return start + fields + b"\r\n"
        if self.chunked and version == b"1.1":  # HTTP/1.0 has no chunked coding
            framed = (b"%x\r\n%s\r\n" % (len(self.body), self.body) if self.body else b"")
            return start + fields + b"Transfer-Encoding: chunked\r\n\r\n%s0\r\n\r\n" % framed
        return start + fields + b"Content-Length: %d\r\n\r\n%s" % (len(self.body), self.body)


def answers_read(sent: list[Sent], transport: _PausingTransport,
                 reset: bool = False) -> list[tuple[int, bytes, bool]]:
    """The final responses the client reads: status, body, whether it closes.
    After a reset, a response may be cut short: it is not counted."""
    parser = ResponseParser()
    for request in sent:
        parser.expect(request.method)
    responses = parser.feed(bytes(transport.written))
    if transport.closed and not reset:
        responses += parser.feed_eof()  # ends a close-delimited body; CutOff if cut short
    return [(r.status, r.body if r.status == 200 else b"", r.closes) for r in responses
            if r.status >= 200]  # not 100 Continue


def answers_due(sent: list[Sent]) -> list[tuple[int, bytes, bool]]:
    """What the client must read: every answer up to the first that ends the connection."""
    answered = sent[:next((i + 1 for i, request in enumerate(sent) if request.ends), len(sent))]
    return [(*request.answer, request.ends) for request in answered]


def _assert_answered_in_full(sent: list[Sent], transport: _PausingTransport, eof: bool) -> None:
    """Every answer due was read, in order; no Task is left, the loop saw no error."""
    read, due = answers_read(sent, transport), answers_due(sent)
    if eof and read and due:  # the answer to what was in flight when the client ended may close
        due[-1] = (*due[-1][:2], read[-1][2])
    assert read == due
    assert transport.left_running == 0
    assert not transport.loop_errors, transport.loop_errors


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[list[Sent], list[int]]:
    """Up to 12 requests (some waiting, some answered with a streamed body,
    some with bodies, some closing, rarely one that is not a request) and
    where to cut."""
    count = draw(st.integers(1, 12))
    sent = []
    for index in range(count):
        waits, streams = draw(st.booleans()), draw(st.booleans())
        path = f"/{index}{'w' if waits else ''}{'s' if streams else ''}"
        sent.append(Sent(path, draw(BODY_BYTES), draw(st.booleans()),
                         draw(st.integers(0, 9)) == 0, draw(st.integers(0, 14)) == 0,
                         draw(st.sampled_from(["", "", "", "head", "1.0", "1.0-keep",
                                               "expect"]))))
    total = sum(len(request.encode()) for request in sent)
    cuts = draw(st.lists(st.integers(1, max(1, total - 1)), max_size=8, unique=True))
    return sent, sorted(cuts)


class _PausingTransport:
    """Records the bytes written; knows whether reading is paused, and closed.

    With ``write_high``, it also pushes back as a socket's transport does: once
    more than that many bytes are written and not yet taken by the client, it
    calls the protocol's ``pause_writing`` (inside ``write``), and
    ``resume_writing`` when the client takes them (``client_reads``).
    """

    def __init__(self, write_high: int | None) -> None:
        self.written = bytearray()
        self.paused = False
        self.closed = False
        self.write_high = write_high
        self.untaken = 0
        self.writing_paused = False
        self.protocol: HttpToolsConnection | None = None
        self.loop_errors: list[dict[str, object]] = []  # what the loop's exception handler got
        self.left_running = 0  # Tasks still pending once the connection is over

    def write(self, data: bytes) -> None:
        """Keep the bytes; a write after close would be a bug of the connection."""
        assert not self.closed, "written after close"
        self.written += data
        self.untaken += len(data)
        if self.write_high is not None and self.untaken > self.write_high \
                and not self.writing_paused and self.protocol is not None:
            self.writing_paused = True
            self.protocol.pause_writing()

    def client_reads(self) -> None:
        """The client takes what was written: a paused writer may go on."""
        self.untaken = 0
        if self.writing_paused and self.protocol is not None:
            self.writing_paused = False
            self.protocol.resume_writing()

    def pause_reading(self) -> None:
        """Stop delivering reads."""
        self.paused = True

    def resume_reading(self) -> None:
        """Deliver reads again."""
        self.paused = False

    def close(self) -> None:
        """The connection is done."""
        self.closed = True

    def is_closing(self) -> bool:
        """Whether close() was called."""
        return self.closed

    def can_write_eof(self) -> bool:
        """Half-close as a TCP socket can."""
        return True

    def write_eof(self) -> None:
        """Lingering close: counts as closed for this test."""
        self.closed = True

    def get_extra_info(self, _name: str, default: object = None) -> object:
        """No socket behind it."""
        return default

    def set_write_buffer_limits(self, high: int | None = None) -> None:
        """No buffer."""


async def _echo(request: Request) -> bytes | Response:
    if "w" in request.path:
        await asyncio.sleep(0)  # waits: it goes on in a Task
    answer = request.path.encode() + b":" + await request.body()
    if "s" in request.path:  # streamed, chunked, a few bytes a chunk
        return Response(_pieces(answer))
    return answer


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 3):
        yield data[start:start + 3]
        await asyncio.sleep(0)


async def _asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same answers as ``_echo``, from a raw ASGI app (the body read in messages)."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    if "w" in scope["path"]:
        await asyncio.sleep(0)
    answer = scope["path"].encode() + b":" + body
    if "s" in scope["path"]:  # several body messages: chunked
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for start in range(0, len(answer), 3):
            await send({"type": "http.response.body", "body": answer[start:start + 3],
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


async def _serve(sent: list[Sent], cuts: list[int], config: Config, eof: bool,  # pylint: disable=too-many-arguments
                 write_high: int | None, reset_after: int | None = None,
                 handler: Any = _echo) -> _PausingTransport:
    """Feed the reads as a socket would; with ``reset_after``, the client
    resets the connection after that many reads instead. Afterwards, the
    transport knows what was left running and what the loop reported."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: transport.loop_errors.append(context))
    connection = HttpToolsConnection(ServerState(config, handler, loop))
    transport = _PausingTransport(write_high)
    transport.protocol = connection
    connection.connection_made(transport)  # type: ignore[arg-type]
    data = b"".join(request.encode() for request in sent)
    reads = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)])]
    for index, piece in enumerate([*reads, b""]):  # b"": the end of the stream, if sent
        if index == reset_after:
            transport.closed = True  # nothing may be written from here on
            connection.connection_lost(ConnectionResetError("reset by the client"))
            break
        for turn in range(1000):  # a paused socket delivers nothing, not even its end
            if not transport.paused or transport.closed:
                break
            if turn % 3 == 2:  # a client that reads its responses, but not at once
                transport.client_reads()
            await asyncio.sleep(0)
        if transport.closed:
            break
        assert not transport.paused, "reading stayed paused"
        if piece:
            connection.data_received(piece)
        elif eof and not connection.eof_received():
            transport.close()  # what a transport does when eof_received() says so
        await asyncio.sleep(0)
    for _ in range(1000):  # let the handlers that wait finish, the client read the rest
        transport.client_reads()
        await asyncio.sleep(0)
    if reset_after is None:
        connection.connection_lost(None)
    await asyncio.sleep(0)
    transport.left_running = len(asyncio.all_tasks()) - 1  # all but this one
    return transport


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(pipeline=pipelines(), depth=st.sampled_from([1, 2, 16]), eager=st.booleans(),
       buffer=st.sampled_from([1, 8, 64 * 1024]), eof=st.booleans(),
       write_high=st.sampled_from([None, 1, 100]))
def test_any_pipeline_cut_anywhere_is_answered_in_order(  # pylint: disable=too-many-arguments
        pipeline: tuple[list[Sent], list[int]], depth: int, eager: bool, buffer: int,
        eof: bool, write_high: int | None) -> None:
    """One response per request up to the first that closes (or is not a
    request: a 400), in order, each carrying its own path and body; nothing
    after it. Handlers started eagerly or each in a Task (``eager_handlers``);
    a body buffer so small that reading pauses for nearly every body piece;
    the client's end of sending (EOF) right after its last byte, or not; a
    client that reads its responses late enough for writing to pause."""
    sent, cuts = pipeline
    config = Config(max_pipeline_depth=depth, eager_handlers=eager, body_buffer_size=buffer)
    _assert_answered_in_full(sent, asyncio.run(_serve(sent, cuts, config, eof, write_high)), eof)


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(pipeline=pipelines(), eager=st.booleans(), write_high=st.sampled_from([None, 1]),
       reset_after=st.integers(0, 9), asgi=st.booleans())
def test_a_reset_anywhere_leaves_nothing_running(  # pylint: disable=too-many-arguments
        pipeline: tuple[list[Sent], list[int]], eager: bool, write_high: int | None,
        reset_after: int, asgi: bool) -> None:
    """The client resets the connection after any number of reads: what was
    answered before is a prefix of the answers, nothing is written after, no
    Task is left running and the loop reports no error; native handlers, or
    the ASGI app below."""
    sent, cuts = pipeline
    config = Config(max_pipeline_depth=2, eager_handlers=eager, body_buffer_size=8)
    handler = AsgiHandler(_asgi_echo, eager=eager) if asgi else _echo
    transport = asyncio.run(_serve(sent, cuts, config, False, write_high, reset_after,
                                   handler))
    read = [answer[:2] for answer in answers_read(sent, transport, reset=True)]
    assert read == [answer[:2] for answer in answers_due(sent)][:len(read)]
    assert transport.left_running == 0
    assert not transport.loop_errors, transport.loop_errors


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(pipeline=pipelines(), depth=st.sampled_from([1, 16]), eager=st.booleans(),
       write_high=st.sampled_from([None, 1]), eof=st.booleans())
def test_any_pipeline_through_an_asgi_app(  # pylint: disable=too-many-arguments
        pipeline: tuple[list[Sent], list[int]], depth: int, eager: bool,
        write_high: int | None, eof: bool) -> None:
    """The first property through the ASGI adapter: the app in a Task (or
    eager), its body read through receive(), its answer sent whole or in
    several messages."""
    sent, cuts = pipeline
    config = Config(max_pipeline_depth=depth, body_buffer_size=8)
    transport = asyncio.run(_serve(sent, cuts, config, eof, write_high,
                                   handler=AsgiHandler(_asgi_echo, eager=eager)))
    _assert_answered_in_full(sent, transport, eof)
