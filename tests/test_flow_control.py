"""Flow control: a client can make the server hold only a bounded amount.

In each direction the server must stop when the other side does not keep up:
it stops reading an upload its handler does not consume, stops reading
requests whose responses the client does not read, and stops pulling a
streamed body from its handler while the client does not read it. TCP carries
the pressure back: the client's sends block. Kernel socket buffers absorb a
few megabytes on loopback, so "bounded" is checked against totals far larger.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import AsyncIterator

from aioweb import Request, Response

MIB = 1024 * 1024


def wait_until_steady(read, settle: float = 0.3, timeout: float = 10.0) -> int:
    """Poll a growing counter until it stops changing for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(settle)
        now = read()
        if now == last:
            return int(now)
        last = now
    raise AssertionError(f"still growing after {timeout} s: {last}")


def test_unread_upload_stops_the_server_reading(serve, connect, make_event) -> None:
    """A handler that never reads its body: once body_buffer_size is buffered the
    server stops reading, so a 50 MIB upload blocks the client long before the end."""
    entered, release = make_event(), make_event()

    async def ignores_body(_request: Request) -> bytes:
        entered.set()
        await release.wait_async()
        return b"did not read it"
    server = serve(ignores_body, body_buffer_size=16 * 1024, max_body_size=1024 * MIB)
    client = connect(server.address)
    total = 50 * MIB
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % total)
    assert entered.wait()
    accepted = client.send_until_blocked(b"u" * 65536, total)
    release.set()
    assert accepted < total // 2, f"{accepted / MIB:.1f} MIB accepted without being read"


def test_slow_reader_gets_the_whole_upload(serve, connect) -> None:
    """Pausing and resuming loses nothing: a handler reading a 4 MIB upload piece
    by piece, through a 16 KiB buffer, sees every byte in order."""
    async def checksum(request: Request) -> bytes:
        digest = hashlib.sha256()
        async for piece in request.stream():
            digest.update(piece)
        return digest.hexdigest().encode()
    server = serve(checksum, body_buffer_size=16 * 1024, max_body_size=64 * MIB)
    client = connect(server.address)
    upload = random.Random(7).randbytes(4 * MIB)
    client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(upload) + upload)
    assert client.read_response().body == hashlib.sha256(upload).hexdigest().encode()


def test_pipelining_client_that_never_reads_is_throttled(serve, connect) -> None:
    """A client that pipelines requests and never reads the responses: the
    server's write buffer fills, it stops reading requests, and the client's
    sends block instead of the server queueing unbounded work."""
    async def sizeable(_request: Request) -> bytes:
        return b"r" * 16384
    server = serve(sizeable)
    client = connect(server.address, receive_buffer=64 * 1024)
    requests = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 2000
    limit = 256 * MIB  # millions of requests: no kernel buffers hold that
    accepted = client.send_until_blocked(requests, limit)
    assert accepted < limit // 4, f"{accepted / MIB:.1f} MIB of requests accepted"
    served = server.requests_served
    assert served * 16384 < 64 * MIB, f"{served} responses produced for a client not reading"


def test_streamed_response_waits_for_a_client_that_does_not_read(serve, connect) -> None:
    """A streamed response to a client that does not read: the handler's iterator
    is not drained (it waits at the write buffer's high-water mark); once the
    client reads, every chunk arrives, in order."""
    chunk_size, chunk_count = 64 * 1024, 512  # 32 MIB in all
    produced = [0]

    async def body() -> AsyncIterator[bytes]:
        for index in range(chunk_count):
            produced[0] += 1
            yield index.to_bytes(4, "big") * (chunk_size // 4)

    async def streaming(_request: Request) -> Response:
        return Response(body())
    server = serve(streaming)
    client = connect(server.address, receive_buffer=64 * 1024)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    steady = wait_until_steady(lambda: produced[0])
    assert steady < chunk_count // 2, f"{steady} of {chunk_count} chunks produced unread"
    response = client.read_response()
    assert len(response.body) == chunk_size * chunk_count
    for index in range(chunk_count):
        assert response.body[index * chunk_size:index * chunk_size + 4] == index.to_bytes(4, "big")
    assert produced[0] == chunk_count
