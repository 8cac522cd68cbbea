"""Injection: a response cannot be split, and a log line cannot be forged.

Response splitting: whatever a handler puts in a header (CR, LF, NUL, a
non-Latin-1 character, a bad name), the client gets a 500 and the injected
header never reaches the wire. Log injection: whatever a client puts in a
request target (percent-encoded CRLF, control characters, raw CRLF where the
parser lets a byte through), no log line of the server holds a raw CR or LF.
"""

from __future__ import annotations

import logging
import re

import pytest

from aioweb import Request, Response
from scripts.wire import ResponseParser, connect, get, receive, sample_server

INJECTED = "\r\nX-Injected: 1"


def _bad_response(kind: str) -> Response:
    headers = {
        "crlf-in-value": [("X-Test", "a" + INJECTED)],
        "lf-in-value": [("X-Test", "a\nX-Injected: 1")],
        "cr-in-value": [("X-Test", "a\rX-Injected: 1")],
        "nul-in-value": [("X-Test", "a\x00X-Injected: 1")],
        "crlf-in-name": [("X-Test" + INJECTED, "a")],
        "colon-in-name": [("X-Injected: 1\r\nX-Test", "a")],
        "non-latin-1-value": [("X-Test", "a\u2028X-Injected: 1")],
        "crlf-in-set-cookie": [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2" + INJECTED)],
        "crlf-in-content-length": [("Content-Length", "2" + INJECTED)],
        # Bytes pairs (as an ASGI app gives them) pass through unconverted:
        # they are checked all the same.
        "bytes-crlf-in-value": [(b"X-Test", b"a" + INJECTED.encode())],
        "bytes-nul-in-value": [(b"X-Test", b"a\x00X-Injected: 1")],
        "bytes-crlf-in-name": [(b"X-Test" + INJECTED.encode(), b"a")],
        "text-name-bytes-value": [("X-Test", b"a\nX-Injected: 1")],
    }.get(kind)
    if headers is not None:
        return Response(b"ok", headers=headers)
    assert kind == "crlf-in-content-type"
    return Response(b"ok", content_type="text/plain" + INJECTED)


SPLIT_KINDS = ["crlf-in-value", "lf-in-value", "cr-in-value", "nul-in-value", "crlf-in-name",
               "colon-in-name", "non-latin-1-value", "crlf-in-set-cookie",
               "crlf-in-content-length", "crlf-in-content-type", "bytes-crlf-in-value",
               "bytes-nul-in-value", "bytes-crlf-in-name", "text-name-bytes-value"]


async def splitting_handler(request: Request) -> Response | None:
    """Answers ``/<kind>`` with a response whose header tries that injection.

    ``/start-<kind>`` does it through ``start_response`` and
    ``/send-<kind>`` through ``send``, the two ways of answering mid-handler.
    """
    kind = request.path.lstrip("/")
    if kind.startswith("start-"):
        writer = request.start_response(200, _bad_response(kind[6:]).headers)
        await writer.write(b"ok")
        await writer.close()
        return None
    if kind.startswith("send-"):
        await request.send(_bad_response(kind[5:]))
        return None
    return _bad_response(kind)


@pytest.mark.parametrize("how", ["return", "start", "send"])
@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_a_handler_cannot_split_its_response(kind: str, how: str, start_server) -> None:
    """A header holding CR/LF/NUL (or not Latin-1, or a bad name) becomes a 500, and
    ``X-Injected`` never appears on the wire; the same connection goes on serving."""
    server = start_server(splitting_handler)
    path = {"return": f"/{kind}", "start": f"/start-{kind}", "send": f"/send-{kind}"}[how]
    with connect(server.address) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        parser = ResponseParser()
        outcome = receive(sock, parser, timeout=5.0)
        raw = b"".join(response.head for response in outcome.responses)
        assert outcome.error is None, outcome.error
        assert [r.status for r in outcome.final] == [500]
        assert b"x-injected" not in raw.lower()
        assert b"x-injected" not in outcome.final[0].body.lower()
        if not outcome.final[0].closes:  # kept alive: it must still be usable
            sock.sendall(b"GET /crlf-in-value HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            again = receive(sock, parser, timeout=5.0)
            assert [r.status for r in again.final] == [500]
    assert get(server.address, "/crlf-in-value").status == 500


# --- log injection ----------------------------------------------------------------

HOSTILE_TARGETS = [
    b"/a%0d%0aX-Injected:%201",                  # percent-encoded CRLF in the path
    b"/a?q=%0d%0aX-Injected:%201",               # ... in the query
    b"/%1b[31mred%1b[0m%00%08%7f",               # ANSI escapes, NUL, backspace, DEL
    b"/a%E2%80%A8X-Injected:%201",               # U+2028 LINE SEPARATOR, encoded
    b"/a\xc2\x85X-Injected: 1",                  # raw U+0085 NEXT LINE (refused by llhttp)
]
RAW_REQUESTS = [
    b"GET /a\r\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n",  # raw CRLF: a 0.9 line, 505
    b"GET /a\rX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n",    # bare CR in the line
    b"GET /a\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n",    # bare LF in the line
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\nX-Injected: 1\r\n\r\n",  # a header of its own
]


async def failing_echo(request: Request) -> bytes:
    """Echoes the body; ``/fail...`` raises with the decoded path in its message."""
    if request.path.startswith("/fail"):
        raise ValueError(f"cannot handle {request.path}")
    return await request.body()


def _requests() -> list[bytes]:
    requests = []
    for target in HOSTILE_TARGETS:
        for prefix in (b"", b"/fail"):
            requests.append(b"GET " + prefix + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    return requests + RAW_REQUESTS


def test_no_log_line_holds_a_raw_newline(start_server, caplog: pytest.LogCaptureFixture) -> None:
    """With trace logging on (the sample server's --debug), no request target —
    encoded or raw, answered, failed by the handler or refused — puts a raw CR or
    LF (or another C0 control character) into a log message."""
    caplog.set_level(logging.DEBUG, logger="aioweb")
    server = start_server(failing_echo, debug=True)
    for request in _requests():
        with connect(server.address) as sock:
            sock.sendall(request)
            outcome = receive(sock, ResponseParser(), timeout=5.0)
            assert outcome.error is None and outcome.final, (request, outcome)
    assert any("X-Injected" in record.getMessage() for record in caplog.records), \
        "the hostile targets were not logged at all: the test proves nothing"
    assert any(record.levelno >= logging.ERROR for record in caplog.records)
    for record in caplog.records:
        message = record.getMessage()
        assert re.search(r"[\x00-\x08\x0a-\x1f\x7f]", message) is None, repr(message)


def test_sample_server_debug_log_lines_cannot_be_forged() -> None:
    """End to end: ``sample_server.py --debug`` writes one line per step; a line that
    starts with ``X-Injected`` would be a forged one. None appears."""
    server = sample_server("asyncio")
    server.argv.append("--debug")
    with server:
        for request in _requests():
            with connect(server.address) as sock:
                sock.sendall(request)
                receive(sock, ResponseParser(), timeout=5.0)
        server.stop()
        log = server.log()
    lines = log.splitlines()
    assert any("X-Injected" in line for line in lines), "nothing was logged"
    forged = [line for line in lines if line.lstrip().startswith("X-Injected")]
    assert not forged, forged
