"""A small HTTP/1.1 server that answers well or breaks on purpose, to test
client.go and client.py.

    python3 tests/clients/broken_server.py MODE [--port 0]

It prints "listening on http://127.0.0.1:PORT/" once it is ready, then
serves until killed. It reads each request (head and Content-Length body,
pipelined or not) and then, by MODE:

    ok          200 with a Content-Length body
    chunked     200 with a chunked body and a trailer
    close-each  200 with "Connection: close", then closes (not an error)
    reset       no answer: the connection is reset (RST)
    hangup      no answer: the connection is closed (FIN)
    malformed   a status line that is not HTTP ("HTTP/1.1 2OO OK")
    badlength   a body shorter than its Content-Length, then a close
    badchunk    a chunked body whose chunk size is not hex
    stall       no answer, ever; the connection stays open
    pause       like ok, but every answer due between 0.3 s and 0.6 s after the
                first request is held back until 0.6 s: one 300 ms stall
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"2\r\nok\r\n3;ext=1\r\n!!!\r\n0\r\nX-Trailer: yes\r\n\r\n")
CLOSE_EACH = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
MALFORMED = b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"
BADLENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
BADCHUNK = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nok\r\n0\r\n\r\n"

MODES = ("ok", "chunked", "close-each", "reset", "hangup", "malformed", "badlength",
         "badchunk", "stall", "pause")
PAUSE_FROM, PAUSE_UNTIL = 0.3, 0.6  # seconds after the first request


class Clock:
    """When the server got its first request (for the pause mode)."""

    first: float | None = None


def request_length(buf: bytes) -> int:
    """The length of the first whole request in buf, or 0 if it is not all there."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return 0
    body = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            body = int(value.strip())
    total = end + 4 + body
    return total if len(buf) >= total else 0


class Handler(asyncio.Protocol):
    """One connection, answered by the server's mode."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None and not self.transport.is_closing():
            length = request_length(self.buf)
            if not length:
                return
            request, self.buf = self.buf[:length], self.buf[length:]
            self.answer(request)

    def answer(self, request: bytes) -> None:
        """Answer one request as the mode says."""
        transport = self.transport
        assert transport is not None
        mode = self.mode
        if mode == "stall":
            return
        if mode == "pause":
            loop = asyncio.get_running_loop()
            now = loop.time()
            if Clock.first is None:
                Clock.first = now
            if Clock.first + PAUSE_FROM <= now < Clock.first + PAUSE_UNTIL:
                loop.call_at(Clock.first + PAUSE_UNTIL, self.write, OK)
            else:
                self.write(OK)
            return
        if mode == "reset":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            return
        if mode == "hangup":
            transport.close()
            return
        canned = {"ok": OK, "chunked": CHUNKED, "close-each": CLOSE_EACH,
                  "malformed": MALFORMED, "badlength": BADLENGTH, "badchunk": BADCHUNK}
        transport.write(canned[mode])
        wants_close = b"\r\nconnection: close" in request.lower()
        if mode in ("close-each", "badlength") or wants_close:
            transport.close()


    def write(self, data: bytes) -> None:
        """Write, unless the connection has gone."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(mode: str, host: str, port: int) -> None:
    """Listen and print the address; serve until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(mode), host, port, backlog=512)
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}/", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the mode and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.mode, args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
