"""The control server: the speed ceiling that aioweb is measured against.

    python bench/control_server.py [--host 127.0.0.1] [--port 8888]

It is uvloop + httptools and nothing else: an ``asyncio.Protocol`` feeds the
bytes it receives to ``httptools.HttpRequestParser`` and, every time the parser
reports a complete request, writes one canned ``200 OK``.  No routing, no
header objects, no request body, no application call.  Whatever aioweb adds on
top of the same two libraries shows up as the gap between the two.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import cast

import httptools
import uvloop

# The same empty 200 that the echo servers give a GET.  Content-Length tells the
# client where the response ends, so the connection can stay open (keep-alive is
# the HTTP/1.1 default and needs no header).
KEEP_ALIVE_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
# Sent instead when the client asked to close (or spoke HTTP/1.0 without keep-alive).
CLOSING_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BAD_REQUEST_RESPONSE = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class CannedResponseProtocol(asyncio.Protocol):
    """One connection: parse requests, answer each with the canned response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # The parser calls back into this object (on_message_complete below).
        self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's class is not an asyncio.Transport subclass,
        # so an isinstance check would fail: cast is only a note to the type checker.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        # One chunk may hold several pipelined requests: feed_data then calls
        # on_message_complete once per request, in order, before it returns.
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:  # malformed bytes or an upgrade: stop here
            assert self.transport is not None
            self.transport.write(BAD_REQUEST_RESPONSE)
            self.transport.close()

    def on_message_complete(self) -> None:
        """httptools callback: a whole request (headers and body) has arrived."""
        assert self.transport is not None
        if self.transport.is_closing():  # requests pipelined after a "close" one
            return
        if self.parser.should_keep_alive():
            self.transport.write(KEEP_ALIVE_RESPONSE)
        else:
            self.transport.write(CLOSING_RESPONSE)
            self.transport.close()  # close() still flushes what was written


async def serve(host: str, port: int,
                protocol: Callable[[], asyncio.Protocol] = CannedResponseProtocol,
                name: str = "control server") -> None:
    """Listen on host:port and answer requests until the process is stopped.

    (``floor_server.py`` serves its own protocols through this too.)"""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol, host, port)
    print(f"{name} listening on http://{host}:{port}/", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the flags and serve on uvloop; Ctrl-C or SIGTERM ends the process."""
    parser = argparse.ArgumentParser(description="uvloop + httptools, one canned 200")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to bind (8888)")
    args = parser.parse_args()
    try:
        uvloop.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
