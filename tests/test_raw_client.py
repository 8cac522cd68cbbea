"""The wire tests' own client is a strict judge: it reads what a test says
it reads, and refuses what no HTTP/1.1 server may send.

``RawClient`` (conftest.py) reads through ``scripts/wire.py``'s parser one
response at a time. Here a canned server sends fixed bytes, so each check
would fail if the client were lenient, or lost track of which response
answers a HEAD.
"""

from __future__ import annotations

import socket
import threading

from collections.abc import Callable
from typing import Any

import pytest

from scripts.wire import BadResponse

Connect = Callable[..., Any]  # the connect fixture: an address -> a RawClient


def serve_once(payload: bytes) -> tuple[tuple[str, int], threading.Thread]:
    """A one-connection server that sends ``payload`` and closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(payload)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[:2], thread


def client_for(connect: Connect, payload: bytes) -> Any:
    """A RawClient connected to a server that sends ``payload``."""
    address, _ = serve_once(payload)
    return connect(address)


def test_pipelined_head_response_is_read_without_a_body(connect: Connect) -> None:
    """GET, HEAD (announcing 5 bytes it does not send), GET, arriving in one
    read: each is read as its method says, and nothing is left over."""
    client = client_for(connect, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi"
                                 b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
                                 b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nyou")
    assert client.read_response("GET").body == b"hi"
    head = client.read_response("HEAD")
    assert (head.body, head.header("content-length")) == (b"", "5")
    assert client.read_response("GET").body == b"you"
    assert client.pending == b""


def test_interim_response_then_final_then_head(connect: Connect) -> None:
    """A 100 Continue is one response; the method asked for belongs to the
    final one after it, and the next read (a HEAD) is not confused by it."""
    client = client_for(connect, b"HTTP/1.1 100 Continue\r\n\r\n"
                                 b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                                 b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n")
    interim, final = client.read_final_response("POST")
    assert [r.status for r in interim] == [100] and final.body == b"ok"
    assert client.read_response("HEAD").body == b""


def test_chunked_body_with_trailers_and_close_delimited_body(connect: Connect) -> None:
    """Chunks joined, trailers kept apart; an HTTP/1.0-style body ends at the close."""
    client = client_for(connect, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                                 b"5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nx-sum: 42\r\n\r\n"
                                 b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
    chunked = client.read_response()
    assert (chunked.body, chunked.trailers) == (b"hello!", [("x-sum", "42")])
    assert client.read_response().body == b"until the end"


@pytest.mark.parametrize("payload", [
    b"HTTP/1.1 200 OK\r\nx-evil: a\nb\r\ncontent-length: 0\r\n\r\n",  # bare LF in a value
    b"HTTP/1.1 200 OK\r\nbad name: v\r\ncontent-length: 0\r\n\r\n",   # a name that is no token
    b"HTTP/1.1 20 OK\r\ncontent-length: 0\r\n\r\n",                    # a two-digit status
    b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx",  # framed twice
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
])
def test_what_no_server_may_send_fails_the_read(connect: Connect, payload: bytes) -> None:
    """RFC 9112: bad values, names, status lines and framing are refused."""
    client = client_for(connect, payload)
    with pytest.raises(BadResponse):
        client.read_response()


def test_a_response_cut_short_is_a_close_not_a_response(connect: Connect) -> None:
    """Fewer body bytes than Content-Length, then the close: ServerClosed."""
    client = client_for(connect, b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
    with pytest.raises(EOFError):  # the client's ServerClosed
        client.read_response()
