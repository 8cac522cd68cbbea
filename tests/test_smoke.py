"""A first end-to-end check: the sample server answers a GET and echoes a POST."""

from __future__ import annotations

import asyncio

import pytest

from aioweb import Config, HttpToolsContainer
from sample_server import echo


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    data = await reader.read()  # the requests say Connection: close
    writer.close()
    await writer.wait_closed()
    return data


@pytest.mark.parametrize("body", [b"", b"hello"])
def test_echo_on_the_wire(body: bytes) -> None:
    """The sample server answers with the request's own body (RFC 9112 framing)."""
    async def scenario() -> bytes:
        container = HttpToolsContainer(echo, Config(port=0))
        await container.start()
        try:
            return await _exchange(container.address[1], (
                b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)))
        finally:
            await container.stop()
    response = asyncio.run(scenario())
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncontent-length: %d\r\n" % len(body) in response
    assert response.endswith(b"\r\n\r\n" + body)
