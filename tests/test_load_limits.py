"""The limits on one process's load: ``Config.max_connections`` (503 past it),
``Config.max_requests`` (a graceful stop after that many), and what a graceful
stop owes a connection that has not sent its request yet."""

from __future__ import annotations

import socket
import time

from aioweb import Request
from aioweb.server.connection import SHUTDOWN_FIRST_BYTE_WAIT

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


async def hello(_request: Request) -> bytes:
    """Always ``hello``."""
    return b"hello"


def wait_for_count(server, count: int) -> None:
    """Until the container counts ``count`` open connections (bounded)."""
    deadline = time.monotonic() + 2
    while server.connection_count != count:
        assert time.monotonic() < deadline, f"{server.connection_count} open, not {count}"
        time.sleep(0.01)


def test_a_connection_past_max_connections_gets_503(serve, connect) -> None:
    """Two connections open, max_connections=2: a third is answered 503 with
    Connection: close, its handler never called; once one of the two closes, a
    new connection is served again."""
    calls = []

    async def counting(request: Request) -> bytes:
        calls.append(request.path)
        return b"hello"
    server = serve(counting, max_connections=2)
    first, second = connect(server.address), connect(server.address)
    for client in (first, second):
        client.send(GET)
        assert client.read_response().status == 200
    third = connect(server.address)
    third.send(b"GET /third HTTP/1.1\r\nHost: t\r\n\r\n")
    refused = third.read_response()
    assert refused.status == 503 and refused.closes
    assert b"too many connections" in refused.body
    assert third.wait_closed()
    third.close()  # else the server lingers on it, and it counts, for linger_timeout
    assert calls == ["/", "/"]
    first.close()
    wait_for_count(server, 1)
    fourth = connect(server.address)
    fourth.send(GET)
    assert fourth.read_response().status == 200
    second.send(GET)  # the connections within the limit were never disturbed
    assert second.read_response().status == 200


def test_max_requests_stops_the_container(serve, connect) -> None:
    """After max_requests responses the container stops by itself, gracefully:
    the keep-alive connection is closed, and nothing listens any more."""
    server = serve(hello, max_requests=3)
    client = connect(server.address)
    for _ in range(3):
        client.send(GET)
        assert client.read_response().status == 200
    assert client.wait_closed(timeout=2), "the container did not stop after max_requests"
    deadline = time.monotonic() + 2
    while True:
        try:
            socket.create_connection(server.address, timeout=1).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "still accepting after max_requests"
        time.sleep(0.05)


def test_stop_answers_a_request_that_was_on_its_way(serve, connect) -> None:
    """A connection accepted before stop() whose request arrives just after stop() began
    is answered (Connection: close), not reset: the client sent it to a server that
    was accepting."""
    server = serve(hello)
    fresh = connect(server.address)
    wait_for_count(server, 1)
    stopping = server.begin_stop(grace_period=5)
    time.sleep(0.1)
    fresh.send(GET)
    response = fresh.read_response()
    assert (response.status, response.body, response.closes) == (200, b"hello", True)
    assert fresh.wait_closed()
    assert stopping.result(timeout=3) == 0


def test_stop_closes_a_silent_connection_after_a_moment(serve, connect) -> None:
    """A connection that has sent nothing when stop() begins gets
    SHUTDOWN_FIRST_BYTE_WAIT (plus at most a timer tick) to send its request, then is
    closed: stop() does not wait out the grace period for it."""
    server = serve(hello)
    fresh = connect(server.address)
    wait_for_count(server, 1)
    started = time.monotonic()
    left_open = server.stop(grace_period=5)
    waited = time.monotonic() - started
    assert left_open == 0
    assert fresh.wait_closed(timeout=1)
    tick = server.config.timer_tick()
    assert SHUTDOWN_FIRST_BYTE_WAIT - 0.05 <= waited < SHUTDOWN_FIRST_BYTE_WAIT + tick + 0.5


def test_max_connections_zero_refuses_everyone(serve, connect) -> None:
    """max_connections=0 (maintenance): every connection gets 503, and nothing is left open."""
    server = serve(hello, max_connections=0)
    for _ in range(3):
        client = connect(server.address)
        client.send(GET)
        assert client.read_response().status == 503
        assert client.wait_closed()
