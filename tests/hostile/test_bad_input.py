"""Bad input, table-driven: each case gets its exact status, and nothing else happens.

Every case is sent twice — whole, and as 1-3 byte writes with TCP_NODELAY
(``support.tiny_pieces``) — on asyncio's loop and on uvloop's. Each must:

* be answered with the status in the table (or, where the table allows it,
  a clean close), in a valid response that says ``Connection: close``,
  followed by the server closing the connection;
* never reach the handler: refused in the head → the handler is never
  called; refused in the body → the handler never gets a body;
* leave the server serving: a fresh connection gets a 200 right after.

The statuses follow RFC 9110/9112: 400 for malformed framing (the request
smuggling shapes: CL+TE, duplicate CL, obfuscated TE, bad chunks), 414/431/
413 for the limits in ``aioweb/config.py``, 501 for a transfer coding the
server does not implement (RFC 9112 §6.1), 505 for a version it does not
speak, 405 for CONNECT on an origin server, 417 for an unknown expectation.
"""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

from scripts.wire import ResponseParser, connect, get, receive

from .support import SHORT_TIMEOUTS, CountingHandler, send_tiny

POST_CHUNKED = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input: the bytes, the answer, and where the server can tell it is bad."""

    name: str
    data: bytes
    status: int | tuple[int, ...]  # the one right answer, or the few equally right ones
    in_body: bool = False     # the head is fine: the handler may start, but gets no body
    may_close: bool = False   # a close without any response is also right


def _post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST /up HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body


def _tls_client_hello() -> bytes:
    """Random-ish bytes shaped like a TLS 1.0 record carrying a ClientHello."""
    rng = random.Random(1603)
    body = bytes([0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + rng.randbytes(506)
    return bytes([0x16, 0x03, 0x01, 0x02, 0x00]) + body


CASES = [
    # --- framing: the request smuggling shapes (RFC 9112 §6.1, §6.3) -------
    Case("cl-and-te", _post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                            b"0\r\n\r\n"), 400),
    Case("te-and-cl", _post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                            b"0\r\n\r\n"), 400),
    Case("duplicate-cl-same", _post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
         400),
    Case("duplicate-cl-differing", _post(b"Content-Length: 5\r\nContent-Length: 6\r\n",
                                         b"hello!"), 400),
    Case("cl-list", _post(b"Content-Length: 5, 5\r\n", b"hello"), 400),
    Case("cl-plus-sign", _post(b"Content-Length: +5\r\n", b"hello"), 400),
    Case("cl-overflow", _post(b"Content-Length: 99999999999999999999999\r\n"), 400),
    Case("te-space-before-colon", _post(b"Transfer-Encoding : chunked\r\n", b"0\r\n\r\n"), 400),
    Case("te-chunked-chunked", _post(b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n"),
         400),
    Case("te-xchunked", _post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 501),
    Case("te-chunked-vtab", _post(b"Transfer-Encoding: chunked\x0b\r\n", b"0\r\n\r\n"), 400),
    Case("te-two-headers", _post(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                                 b"0\r\n\r\n"), 400),
    Case("te-chunked-not-last", _post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"),
         400),
    Case("te-gzip-then-chunked", _post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
         501),
    Case("te-in-http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # --- chunked bodies (refused after a good head) --------------------------
    Case("chunk-size-0_0", POST_CHUNKED + b"0_0\r\n\r\n", 400, in_body=True),
    Case("chunk-size-0x1", POST_CHUNKED + b"0x1\r\nA\r\n0\r\n\r\n", 400, in_body=True),
    Case("chunk-size-negative", POST_CHUNKED + b"-1\r\nA\r\n0\r\n\r\n", 400, in_body=True),
    Case("chunk-size-huge", POST_CHUNKED + b"ffffffffffffffffff\r\nA\r\n0\r\n\r\n", 400,
         in_body=True),
    # h11's CVE-2025-43859: any two bytes after the chunk data were taken as CRLF.
    Case("chunk-data-then-XX", POST_CHUNKED + b"5\r\nhelloXX0\r\n\r\n", 400, in_body=True),
    Case("chunk-data-then-lf", POST_CHUNKED + b"5\r\nhello\n0\r\n\r\n", 400, in_body=True),
    Case("chunk-size-bare-lf", POST_CHUNKED + b"5\nhello\r\n0\r\n\r\n", 400, in_body=True),
    Case("chunked-body-over-limit", POST_CHUNKED + b"100001\r\n" + b"a" * 0x100001
         + b"\r\n0\r\n\r\n", 413, in_body=True),
    Case("trailers-over-limit", POST_CHUNKED + b"1\r\nA\r\n0\r\n"
         + b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 1000) for i in range(70)) + b"\r\n", 431,
         in_body=True),
    # --- header syntax (RFC 9110 §5, RFC 9112 §5) -------------------------------
    Case("bare-cr-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
    Case("bare-lf-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\nb: c\r\n\r\n", 400),
    Case("bare-lf-line-ends", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    Case("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
    Case("nul-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
    Case("nul-in-name", b"GET / HTTP/1.1\r\nHost: x\r\nX\x00Y: a\r\n\r\n", 400),
    Case("empty-name", b"GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", 400),
    Case("space-in-name", b"GET / HTTP/1.1\r\nHost: x\r\nX Y: a\r\n\r\n", 400),
    Case("missing-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    Case("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    Case("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    Case("host-with-userinfo", b"GET / HTTP/1.1\r\nHost: evil@a\r\n\r\n", 400),
    Case("host-with-path", b"GET / HTTP/1.1\r\nHost: a/../b\r\n\r\n", 400),
    Case("host-bad-port", b"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400),
    Case("expect-unknown", _post(b"Expect: 200-ok\r\nContent-Length: 1\r\n", b"a"), 417),
    # --- the request line ---------------------------------------------------------
    Case("url-over-limit", b"GET /" + b"u" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    Case("url-over-65535", b"GET /" + b"u" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    Case("raw-crlf-in-target", b"GET /a\r\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n", 505),
    # Absolute-form targets llhttp lets through but no URL parser can read: the
    # container must refuse them, not hand the handler a request whose
    # ``path`` raises.
    Case("absolute-form-userinfo-no-host", b"GET http://a@/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    Case("absolute-form-quote-in-host", b"GET http://a'b/c HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    Case("absolute-form-port-overflow", b"GET http://a:99999999/ HTTP/1.1\r\nHost: a\r\n\r\n",
         400),
    Case("absolute-form-unclosed-ipv6", b"GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    Case("absolute-form-no-authority", b"GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    # A fragment is the client's (RFC 9110 §4.2.5), never part of a request target.
    Case("fragment-in-target", b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("fragment-after-query", b"GET /a?q=1#b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("absolute-form-fragment", b"GET http://x/a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("control-char-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("space-in-target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("unknown-method", b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("lowercase-method", b"get / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    Case("http-3.0", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    Case("http-2.0-request-line", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    Case("http-1.2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    Case("http-0.9", b"GET /\r\n\r\n", 505),
    # A request for method PRI in HTTP/2.0: 505 (the version) and 400 (the
    # method, as nginx says) are both right; either way, HTTP/1.1 only.
    Case("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", (400, 505)),
    Case("tls-client-hello", _tls_client_hello(), 400, may_close=True),
    Case("connect", b"CONNECT host:443 HTTP/1.1\r\nHost: host:443\r\n\r\n", 405),
    # --- the limits -------------------------------------------------------------
    Case("head-over-limit-one-header",
         b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 70000 + b"\r\n\r\n", 431),
    Case("head-over-limit-many-headers", b"GET / HTTP/1.1\r\nHost: x\r\n"
         + b"".join(b"X-%d: %s\r\n" % (i, b"h" * 1000) for i in range(70)) + b"\r\n", 431),
    Case("header-count-over-limit", b"GET / HTTP/1.1\r\nHost: x\r\n"
         + b"".join(b"X-%d: h\r\n" % i for i in range(101)) + b"\r\n", 431),
    Case("body-over-limit", _post(b"Content-Length: 1048577\r\n"), 413),
]


@pytest.mark.parametrize("split", [False, True], ids=["whole", "tiny-writes"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_and_the_server_goes_on(case: Case, split: bool, start_server,
                                                     counting_handler: CountingHandler) -> None:
    """The case's exact status (or a clean close where allowed), then a close; the
    handler never sees the request (or never its body); the next connection gets a 200."""
    server = start_server(counting_handler)
    with connect(server.address) as sock:
        if split:
            send_tiny(sock, case.data, random.Random(case.name))
        else:
            try:
                sock.sendall(case.data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered and closed before the rest went: read the answer
        parser = ResponseParser()
        outcome = receive(sock, parser, timeout=5.0)
        if outcome.final and outcome.final[0].closes and not outcome.closed:
            rest = receive(sock, parser, until_close=True, timeout=2.0)
            outcome.responses += rest.responses
            outcome.closed, outcome.error = rest.closed, rest.error
    assert outcome.error is None, outcome.error
    if not (case.may_close and not outcome.responses and outcome.closed):
        statuses = [response.status for response in outcome.responses]
        allowed = case.status if isinstance(case.status, tuple) else (case.status,)
        assert len(statuses) == 1 and statuses[0] in allowed, \
            f"expected one of {allowed}, got {statuses}"
        assert outcome.responses[0].closes, "an error response must say Connection: close"
    assert outcome.closed, f"the server did not close the connection: {outcome}"
    if case.in_body:
        assert counting_handler.bodies == 0, "the handler got a body the server refused"
    else:
        assert counting_handler.calls == 0, f"the handler saw {counting_handler.seen}"
    answer = get(server.address, "/next")
    assert (answer.status, answer.body) == (200, b"ok")


def test_trailer_fields_never_reach_the_next_request(start_server,
                                                     counting_handler: CountingHandler) -> None:
    """Trailer fields after a chunked body belong to that body, not to the next request.

    A trailer ``Host: evil`` must neither appear in the next pipelined
    request's headers nor stand in for its missing Host (400, RFC 9112 §3.2).
    """
    server = start_server(counting_handler)
    with connect(server.address) as sock:
        sock.sendall(POST_CHUNKED + b"1\r\nA\r\n0\r\nHost: evil\r\nX-Admin: yes\r\n\r\n"
                     b"GET /next HTTP/1.1\r\n\r\n")
        outcome = receive(sock, ResponseParser(), until_close=True)
    assert outcome.error is None, outcome.error
    assert [r.status for r in outcome.responses] == [200, 400]
    assert counting_handler.calls == 1
    assert all("evil" not in value for _, _, headers in counting_handler.seen
               for _, value in headers)


HEAD_REFUSALS = {
    "400-no-host": [b"HEAD / HTTP/1.1\r\n\r\n"],
    "417": [b"HEAD / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"],
    "505-http09-form": [b"HEAD /a\r\nHost: x\r\n\r\n"],
    "413": [b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"],
    # A bad header line after a good request line, in one write and in two:
    # the answer may not depend on how TCP cut the bytes.
    "400-bad-header-line": [b"HEAD / HTTP/1.1\r\nHost: x\r\n2147483648\r\n"],
    "400-bad-header-line-split": [b"HEAD / HTTP/1.1\r\nHost: x\r\n2", b"147483648\r\n"],
    # The head never ends: 408 after head_timeout.
    "408": [b"HEAD / HTTP/1.1\r\nHost: x\r\n"],
}


@pytest.mark.parametrize("pieces", HEAD_REFUSALS.values(), ids=HEAD_REFUSALS.keys())
def test_a_refused_head_request_gets_no_body(pieces: list[bytes], start_server,
                                             counting_handler: CountingHandler) -> None:
    """RFC 9110 §9.3.2: a response to HEAD has no content, errors included. Each
    of these requests has a whole ``HEAD ... HTTP/1.x`` request line, so the
    server knows it is answering a HEAD: nothing may follow the blank line."""
    server = start_server(counting_handler, **SHORT_TIMEOUTS)
    with connect(server.address) as sock:
        for piece in pieces:
            sock.sendall(piece)
            time.sleep(0.05)
        parser = ResponseParser()
        parser.expect("HEAD")
        outcome = receive(sock, parser, until_close=True)
    assert outcome.error is None, f"bytes after the head of a HEAD response: {outcome.error}"
    assert len(outcome.final) == 1 and outcome.final[0].status >= 400
    assert outcome.final[0].body == b""
    assert counting_handler.calls == 0


def test_a_line_that_is_no_request_after_a_head_is_answered_with_a_body(
        start_server, counting_handler: CountingHandler) -> None:
    """A HEAD, then a line that is not a request: the HEAD's answer has no
    body, the 400 has its own, whole (the parser's method is still the HEAD's
    when the line fails; found by tests/test_pipeline_property.py)."""
    server = start_server(counting_handler, **SHORT_TIMEOUTS)
    with connect(server.address) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nthis is not a request\r\n\r\n")
        parser = ResponseParser()
        parser.expect("HEAD")
        parser.expect("")
        outcome = receive(sock, parser, until_close=True)
    assert outcome.error is None, outcome.error
    assert [r.status for r in outcome.final] == [200, 400]
    assert outcome.final[0].body == b"" and outcome.final[1].body.startswith(b"400 Bad Request")
