"""A connection's life and the server's: disconnects, timeouts, graceful shutdown,
and the sample server as a real process.
"""

from __future__ import annotations

import asyncio
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from aioweb import ClientDisconnected, Request, Response

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
# Short timeouts, so that each timeout test takes a fraction of a second.
SHORT = {"first_byte_timeout": 0.3, "head_timeout": 0.3, "keep_alive_timeout": 0.3}


async def hello(_request: Request) -> bytes:
    """Always ``hello``."""
    return b"hello"


# --- the client goes away --------------------------------------------------

@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_gone_mid_body_is_seen_by_the_handler(serve, connect, make_event, poll,
                                                     how) -> None:
    """A handler waiting in ``request.body()`` when the client closes (FIN) or
    resets mid-body gets ClientDisconnected, ``is_disconnected`` is true, and the
    connection is gone from the container."""
    reading, finished = make_event(), make_event()
    seen: dict[str, object] = {}

    async def upload(request: Request) -> bytes:
        reading.set()
        try:
            return await request.body()
        except ClientDisconnected:
            seen["is_disconnected"] = request.is_disconnected
            raise
        finally:
            finished.set()
    server = serve(upload)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
    assert reading.wait()
    if how == "reset":
        client.reset()
    else:
        client.close()
    assert finished.wait(1.5), "the handler was left waiting for a body that cannot come"
    assert seen == {"is_disconnected": True}
    assert poll(lambda: server.connection_count == 0, timeout=3)


def test_half_closed_client_still_gets_its_answers(serve, connect) -> None:
    """A client that sends its requests and then half-closes (EOF on its side)
    gets every answer before the server closes (RFC 9112 §9.6)."""
    async def waits(request: Request) -> bytes:
        await asyncio.sleep(0.01)
        return request.path.encode()
    server = serve(waits)
    client = connect(server.address)
    client.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(3)))
    client.shutdown_write()
    assert [r.body for r in client.read_responses(3)] == [b"/0", b"/1", b"/2"]
    assert client.wait_closed()


def test_client_gone_before_the_response_drops_it_quietly(serve, connect, make_event,
                                                          poll) -> None:
    """A handler whose client left is not cancelled; what it returns is dropped
    (and not counted as served), and the connection count drops to zero."""
    entered, leave = make_event(), make_event()
    disconnected = []

    async def slow(request: Request) -> bytes:
        entered.set()
        await leave.wait_async()
        while not request.is_disconnected:  # the close may still be on its way
            await asyncio.sleep(0.01)
        disconnected.append(True)
        return b"too late"
    server = serve(slow)
    client = connect(server.address)
    client.send(GET)
    assert entered.wait()
    client.reset()
    leave.set()
    assert poll(lambda: disconnected == [True], timeout=3)
    assert poll(lambda: server.connection_count == 0, timeout=3)
    assert server.requests_served == 0


# --- timeouts ----------------------------------------------------------------

def test_silent_connection_is_closed_after_first_byte_timeout(serve, connect) -> None:
    """A connection that never sends is closed after first_byte_timeout, not before."""
    server = serve(hello, **SHORT)
    started = time.monotonic()
    client = connect(server.address)
    assert client.wait_closed(timeout=3)
    assert 0.25 <= time.monotonic() - started < 2.0
    assert client.pending == b""


def test_dripped_head_gets_408_after_head_timeout(serve, connect, make_event) -> None:
    """A head dripped one byte every 0.05 s is answered 408 (RFC 9110 §15.5.9) once
    head_timeout has passed since its first byte: later bytes do not reset it.
    Whatever comes after the 408 is not read as a request."""
    called = make_event()

    async def handler(_request: Request) -> bytes:
        called.set()
        return b"should not run"
    server = serve(handler, **SHORT)
    client = connect(server.address)
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 200
    started = time.monotonic()
    for i in range(len(head)):
        client.send(head[i:i + 1])
        if select.select([client.sock], [], [], 0.05)[0]:
            break
    else:
        pytest.fail(f"no answer while the head dripped for {time.monotonic() - started:.1f} s")
    elapsed = time.monotonic() - started
    response = client.read_response()
    assert response.status == 408
    assert response.closes
    assert 0.25 <= elapsed < 1.5, elapsed
    client.send(head[i + 1:] + b"\r\n\r\n" + GET)  # the rest of the head, and another request
    assert client.wait_closed(timeout=3)
    assert client.pending == b"", "a response followed the 408"
    assert not called.is_set(), "the handler ran for a request after the 408"


def test_idle_keep_alive_connection_is_closed_after_keep_alive_timeout(serve, connect) -> None:
    """After a response, an idle persistent connection is closed after keep_alive_timeout."""
    server = serve(hello, **SHORT)
    client = connect(server.address)
    client.send(GET)
    assert client.read_response().status == 200
    idle_since = time.monotonic()
    assert client.wait_closed(timeout=3)
    assert 0.25 <= time.monotonic() - idle_since < 2.0


def test_slow_handler_outlives_every_timeout(serve, connect) -> None:
    """No timeout interrupts a handler at work: one that takes 1 s, with every
    timeout at 0.3 s, still gets its response out."""
    async def slow(_request: Request) -> bytes:
        await asyncio.sleep(1.0)
        return b"worth the wait"
    server = serve(slow, **SHORT, linger_timeout=0.3)
    client = connect(server.address)
    client.send(GET)
    response = client.read_response()
    assert (response.status, response.body) == (200, b"worth the wait")


# --- graceful shutdown -------------------------------------------------------

def test_stop_lets_an_in_flight_request_finish(serve, connect, make_event) -> None:
    """stop() while a handler is at work: the listener closes at once, the response
    still arrives whole with ``connection: close``, then the connection closes."""
    entered = make_event()

    async def working(_request: Request) -> bytes:
        entered.set()
        await asyncio.sleep(0.3)
        return b"finished"
    server = serve(working)
    client = connect(server.address)
    client.send(GET)
    assert entered.wait()
    stopping = server.begin_stop(grace_period=5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=1).close()
    response = client.read_response()
    assert (response.status, response.body) == (200, b"finished")
    assert response.closes
    assert client.wait_closed()
    assert stopping.result(timeout=3) == 0  # connections open when stop() returned


def test_request_arriving_during_shutdown_is_not_served(serve, connect, make_event) -> None:
    """Once stop() has begun, the response in flight says ``connection: close``
    and a request the client pipelines after that is not served: shutdown
    finishes what is in flight and accepts nothing new (RFC 9112 §9.6)."""
    entered = make_event()
    seen = []

    async def working(request: Request) -> bytes:
        seen.append(request.path)
        entered.set()
        await asyncio.sleep(0.3)
        return request.path.encode()
    server = serve(working)
    client = connect(server.address)
    client.send(b"GET /in-flight HTTP/1.1\r\nHost: t\r\n\r\n")
    assert entered.wait()
    stopping = server.begin_stop(grace_period=5)
    client.send(b"GET /late HTTP/1.1\r\nHost: t\r\n\r\n")
    response = client.read_response()
    assert response.body == b"/in-flight"
    assert response.closes, "the last response before shutdown did not say close"
    assert client.wait_closed()
    assert client.pending == b""
    assert stopping.result(timeout=3) == 0
    assert seen == ["/in-flight"]


def test_stop_lets_an_in_flight_upload_finish(serve, connect, make_event) -> None:
    """An in-flight request whose body is still arriving is in flight too: stop()
    keeps reading its body, so it completes well within the grace period."""
    reading = make_event()

    async def upload(request: Request) -> bytes:
        reading.set()
        return await request.body()
    server = serve(upload)
    client = connect(server.address)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\nfirst")
    assert reading.wait()
    started = time.monotonic()
    stopping = server.begin_stop(grace_period=1)
    client.send(b"-ok")
    try:
        response = client.read_response()
    except EOFError as exc:
        pytest.fail(f"the upload in flight was cut off by the shutdown: {exc!r}")
    assert (response.status, response.body, response.closes) == (200, b"first-ok", True)
    assert stopping.result(timeout=3) == 0
    assert time.monotonic() - started < 0.8


def test_stop_closes_idle_connections_at_once(serve, connect) -> None:
    """Idle keep-alive connections are closed as soon as stop() begins, and stop()
    returns without waiting for the grace period."""
    server = serve(hello)
    idle = [connect(server.address) for _ in range(3)]
    for client in idle:
        client.send(GET)
        assert client.read_response().status == 200
    started = time.monotonic()
    assert server.stop(grace_period=5) == 0
    assert time.monotonic() - started < 1.0
    for client in idle:
        assert client.wait_closed(timeout=1)


def test_concurrent_stops_both_complete(serve, connect, make_event) -> None:
    """Two stop() calls at once (a signal handler and an application, say) both
    return normally once the shutdown is done."""
    entered = make_event()

    async def working(_request: Request) -> bytes:
        entered.set()
        await asyncio.sleep(0.2)
        return b"done"
    server = serve(working)
    client = connect(server.address)
    client.send(GET)
    assert entered.wait()
    first = server.begin_stop(grace_period=5)
    second = server.begin_stop(grace_period=5)
    assert client.read_response().body == b"done"
    assert first.result(timeout=3) == 0
    assert second.result(timeout=3) == 0


def test_stop_aborts_what_outlives_the_grace_period(serve, connect, make_event) -> None:
    """A handler that never finishes is cancelled when the grace period ends; its
    connection is aborted and stop() returns soon after."""
    entered, cancelled = make_event(), make_event()

    async def forever(_request: Request) -> bytes:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b"never"
    server = serve(forever)
    client = connect(server.address)
    client.send(GET)
    assert entered.wait()
    started = time.monotonic()
    left_open = server.stop(grace_period=0.2)
    assert 0.15 <= time.monotonic() - started < 1.0
    assert left_open == 0
    assert cancelled.wait(1)
    assert client.wait_closed(timeout=1)
    assert client.pending == b""


# --- the sample server as a program ------------------------------------------

def read_line(stream, timeout: float) -> str:
    """One line from a child's pipe, or "" after ``timeout`` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return str(stream.readline())


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sample_server_process(loop_kind, project_root, stop_signal) -> None:
    """``python sample_server.py --port 0`` serves; SIGINT or SIGTERM stops it
    gracefully (an idle keep-alive client does not hold it up): exit code 0, and
    it reports how many requests it served."""
    command = [sys.executable, "sample_server.py", "--port", "0"]
    if loop_kind == "uvloop":
        command.append("--uvloop")
    with subprocess.Popen(command, cwd=project_root, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        try:
            line = read_line(process.stdout, 10)
            found = re.search(r"http://([\d.]+):(\d+)/", line)
            assert found, f"no address announced: {line!r}"
            with httpx.Client(base_url=f"http://{found[1]}:{found[2]}", timeout=5) as http:
                assert http.get("/").status_code == 200
                assert http.post("/", content=b"ping").content == b"ping"
                assert http.post("/", content=b"pong" * 1000).content == b"pong" * 1000
                process.send_signal(stop_signal)  # with the keep-alive connection open
                out, err = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "served 3 requests" in out, out


def test_response_object_repr() -> None:
    """A Response's repr tells status, body kind and headers (for logs and debugging)."""
    assert repr(Response(b"hi", 201)) == "Response(201, 2 bytes, headers=[])"
