"""The request reader without sockets: bytes in, events out (RFC 9112).

Every input is fed twice, whole and one byte at a time, and both feedings
must give the same events (consecutive body pieces merged): a server reads
whatever the kernel hands it, so the split of the bytes must never matter.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioweb import Config
from aioweb.http11.events import BodyData, EndOfRequest, Event, Rejection, RequestHead
from aioweb.http11 import reader as reader_module
from aioweb.http11.reader import RequestReader

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
CHUNKED_POST = (b"POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n")


def normalise(events: list[Event]) -> list[tuple[object, ...]]:
    """Events as comparable tuples; consecutive BodyData merged, rejections by status."""
    out: list[tuple[object, ...]] = []
    for event in events:
        if isinstance(event, RequestHead):
            out.append(("head", event.method, event.target, event.http_version,
                        tuple(event.raw_headers), event.keep_alive, event.expect_continue,
                        event.has_body))
        elif isinstance(event, BodyData):
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + event.data)
            else:
                out.append(("body", event.data))
        elif isinstance(event, EndOfRequest):
            out.append(("end",))
        else:
            assert isinstance(event, Rejection)
            out.append(("reject", event.status))
    return out


def feed(pieces: list[bytes], config: Config | None = None) -> list[tuple[object, ...]]:
    """Feed the pieces to a fresh reader, one receive() call each."""
    reader = RequestReader(config or Config())
    events: list[Event] = []
    for piece in pieces:
        events += reader.receive(piece)
    return normalise(events)


def read(data: bytes, config: Config | None = None) -> list[tuple[object, ...]]:
    """The events for ``data``, checked to be the same whole and byte by byte."""
    whole = feed([data], config)
    bytewise = feed([data[i:i + 1] for i in range(len(data))], config)
    assert whole == bytewise, "feeding one byte at a time changed the events"
    return whole


def heads(events: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Only the RequestHead tuples."""
    return [event for event in events if event[0] == "head"]


def rejection(events: list[tuple[object, ...]]) -> int | None:
    """The status of the rejection among the events, or None."""
    statuses = [event[1] for event in events if event[0] == "reject"]
    assert len(statuses) <= 1
    return statuses[0] if statuses else None


# --- well-formed requests ---------------------------------------------------

@pytest.mark.parametrize("version,connection,keep_alive", [
    (b"1.1", b"", True), (b"1.1", b"Connection: keep-alive\r\n", True),
    (b"1.1", b"Connection: close\r\n", False), (b"1.1", b"Connection: upgrade-ish\r\n", True),
    (b"1.0", b"", False), (b"1.0", b"Connection: keep-alive\r\n", True),
    (b"1.0", b"Connection: Keep-Alive, foo\r\n", True), (b"1.0", b"Connection: close\r\n", False),
])
def test_version_and_persistence_for_every_connection_header(
        version: bytes, connection: bytes, keep_alive: bool) -> None:
    """The version the reader reports is the one on the request line, whatever
    the Connection header says (the reader infers "1.1" without asking the
    parser only when no Connection header could have changed persistence)."""
    data = b"GET / HTTP/" + version + b"\r\nHost: h\r\n" + connection + b"\r\n"
    found = heads(read(data + data))  # the second one is read only if the first persists
    assert [(head[3], head[5]) for head in found] == \
        [(version.decode(), keep_alive)] * (2 if keep_alive else 1)


def test_simple_get() -> None:
    """A GET is one head (method, target, version, headers as sent) then the end."""
    assert read(GET) == [
        ("head", "GET", b"/", "1.1", ((b"Host", b"example.com"),), True, False, False),
        ("end",)]


def test_pipelined_gets_come_out_in_order() -> None:
    """Requests sent back to back (RFC 9112 §9.3.2) are read one after another, in order."""
    data = b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(5))
    events = read(data)
    assert [head[2] for head in heads(events)] == [b"/%d" % i for i in range(5)]
    assert [event[0] for event in events] == ["head", "end"] * 5


def test_content_length_body() -> None:
    """A Content-Length body (RFC 9112 §6.2) is delivered exactly, then the end."""
    data = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello worldGET"
    events = read(data)
    assert events[0][-1] is True  # has_body
    assert events[1:] == [("body", b"hello world"), ("end",)]


def test_empty_content_length_body_has_no_body() -> None:
    """Content-Length: 0 means no body: has_body is False."""
    events = read(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
    assert events[0][-1] is False
    assert events[1:] == [("end",)]


def test_chunked_body_with_extension_and_trailer() -> None:
    """Chunked coding (RFC 9112 §7.1): extensions ignored, data de-chunked, trailer consumed."""
    events = read(CHUNKED_POST)
    assert events[0][-1] is True
    assert events[1:] == [("body", b"hello world"), ("end",)]


def test_trailer_fields_do_not_leak_into_the_next_request() -> None:
    """Trailer fields (RFC 9112 §7.1.2) belong to their message, never to the next one.

    A pipelined request without a Host header must still be refused, and its
    headers must not contain the previous request's trailer fields.
    """
    data = CHUNKED_POST.replace(b"X-Checksum: 42", b"Host: evil.example") + \
        b"GET /next HTTP/1.1\r\nX-Mine: 1\r\n\r\n"
    events = read(data)
    next_heads = heads(events)[1:]
    if next_heads:
        assert next_heads[0][4] == ((b"X-Mine", b"1"),), "trailers leaked into the next head"
    assert rejection(events) == 400, "a request without Host was accepted (RFC 9112 §3.2)"


def test_absolute_form_target_is_kept_whole() -> None:
    """An absolute-form target (RFC 9112 §3.2.2) reaches the head as sent."""
    events = read(b"GET http://example.com/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert events[0][2] == b"http://example.com/a/b?x=1"


@pytest.mark.parametrize("request_bytes, headers", [
    (b"GET http://example.com:8080/a HTTP/1.1\r\nHost: other.example\r\n\r\n",
     ((b"Host", b"example.com:8080"),)),
    (b"GET http://[::1]:8080/ HTTP/1.1\r\nHost: other.example\r\n\r\n",
     ((b"Host", b"[::1]:8080"),)),
    (b"GET http://example.com/a HTTP/1.1\r\nX-A: 1\r\nhost: other.example\r\n\r\n",
     ((b"X-A", b"1"), (b"host", b"example.com"))),
])
def test_absolute_form_target_host_replaces_the_host_header(
        request_bytes: bytes, headers: tuple[tuple[bytes, bytes], ...]) -> None:
    """RFC 9112 §3.2.2: with an absolute-form target, the server MUST ignore the
    Host field sent and use the target's host (and port); names and order stay."""
    assert heads(read(request_bytes))[0][4] == headers


def test_absolute_form_target_gives_an_http10_request_its_host() -> None:
    """An HTTP/1.0 request may omit Host; with an absolute-form target it gets the target's."""
    head = heads(read(b"GET http://example.com/ HTTP/1.0\r\n\r\n"))[0]
    assert head[4] == ((b"Host", b"example.com"),)


def test_asterisk_and_origin_form_keep_the_host_sent() -> None:
    """Only an absolute-form target carries a host: "*" and "/path" leave Host alone."""
    for target in (b"*", b"/a"):
        head = heads(read(b"OPTIONS %s HTTP/1.1\r\nHost: sent.example\r\n\r\n" % target))[0]
        assert head[4] == ((b"Host", b"sent.example"),)


@pytest.mark.parametrize("target", [b"/a#b", b"/a?q=1#b", b"http://example.com/a#b"])
def test_a_fragment_in_the_target_is_refused(target: bytes) -> None:
    """A fragment is the client's own (RFC 9110 §4.2.5): no request-target form has one."""
    assert rejection(read(b"GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % target)) == 400


def test_keep_alive_flags() -> None:
    """RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 closes unless "keep-alive"."""
    def keep_alive(request: bytes) -> object:
        return read(request)[0][5]
    assert keep_alive(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") is True
    assert keep_alive(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n") is False
    assert keep_alive(b"GET / HTTP/1.0\r\n\r\n") is False
    assert keep_alive(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") is True


def test_http10_without_host_is_accepted() -> None:
    """Host is required in HTTP/1.1 only (RFC 9112 §3.2): a 1.0 request may omit it."""
    assert read(b"GET / HTTP/1.0\r\n\r\n") == [
        ("head", "GET", b"/", "1.0", (), False, False, False), ("end",)]


VALID_HOSTS = [b"example.com", b"127.0.0.1:8888", b"[::1]:8080", b"[v1.fe80::a+en1]", b"",
               b"my_host.local:", b"xn--bcher-kva.example", b"%41b.example", b"a!$&'()*+,;=b"]


@pytest.mark.parametrize("host", VALID_HOSTS, ids=[h.decode() or "empty" for h in VALID_HOSTS])
def test_valid_host_values_are_accepted(host: bytes) -> None:
    """Host = uri-host [":" port] (RFC 9110 §7.2): names, IPv4, IP literals in
    brackets, %XX escapes, sub-delims, an empty port, and the empty value a
    client sends for a target without authority (RFC 9112 §3.2)."""
    events = read(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert heads(events) and rejection(events) is None, events


def test_an_invalid_host_after_valid_ones_on_one_connection_is_refused() -> None:
    """The reader checks only a Host its connection has not sent before: a new
    value later on the same connection is checked again (RFC 9112 §3.2)."""
    data = (b"GET /1 HTTP/1.1\r\nHost: a.example\r\n\r\n"
            b"GET /2 HTTP/1.1\r\nHost: a.example\r\n\r\n"
            b"GET /3 HTTP/1.1\r\nHost: b.example\r\n\r\n"
            b"GET /4 HTTP/1.1\r\nHost: a example\r\n\r\n")
    events = read(data)
    assert [head[2] for head in heads(events)] == [b"/1", b"/2", b"/3"]
    assert rejection(events) == 400


def test_expect_continue_flag() -> None:
    """Expect: 100-continue (RFC 9110 §10.1.1) is flagged for 1.1, never for 1.0."""
    head11 = read(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 2\r\n\r\n")[0]
    head10 = read(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")[0]
    assert head11[6] is True
    assert head10[6] is False


def test_no_events_after_a_closing_request() -> None:
    """After a request with Connection: close, later bytes are not read as requests."""
    data = (b"GET /1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
    assert [head[2] for head in heads(read(data))] == [b"/1"]


def test_field_value_whitespace_is_not_part_of_the_value() -> None:
    """RFC 9112 §5 / RFC 9110 §5.5: leading and trailing OWS is excluded from a field value."""
    events = read(b"GET / HTTP/1.1\r\nHost: h\r\nX-Spaced:   value   \r\n\r\n")
    assert events[0][4][1] == (b"X-Spaced", b"value")


def test_content_length_with_surrounding_whitespace_is_valid() -> None:
    """``Content-Length: 3 `` is a valid field line (OWS is not part of the value): not 400."""
    events = read(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 \r\n\r\nabc")
    assert rejection(events) is None
    assert events[1:] == [("body", b"abc"), ("end",)]


# --- refused input: each answered with its status, then nothing more is read --

LIMITS = Config(max_url_size=100, max_head_size=1024, max_header_count=10, max_body_size=100)

REJECTIONS = {
    # RFC 9112 §3: a request-line that does not match the grammar is a 400.
    "garbage request line": (b"NOT A REQUEST\r\n\r\n", 400),
    "malformed version": (b"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400),
    "space after version": (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400),
    "bare LF line endings": (b"GET / HTTP/1.1\nHost: h\n\n", 400),
    # RFC 9110 §15.6.6: a major version the server does not speak is a 505.
    "HTTP/2.0 request line": (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    "HTTP/3.0 request line": (b"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
    "HTTP/0.9 version": (b"GET / HTTP/0.9\r\n\r\n", 505),
    # RFC 9112 §3, server limits.
    "target too long": (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    "head too large": (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"x" * 2000 + b"\r\n\r\n", 431),
    "too many headers": (b"GET / HTTP/1.1\r\nHost: h\r\n"
                         + b"".join(b"X-%d: v\r\n" % i for i in range(11)) + b"\r\n", 431),
    # RFC 9112 §6.1: codings the server does not decode are a 501.
    "transfer-encoding gzip": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
                               501),
    # RFC 9112 §6.3: chunked not the final coding leaves the length unknown: 400.
    "chunked not last": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                         400),
    # RFC 9112 §6.1, §6.3: ambiguous framing is a 400 (request smuggling).
    "content-length then transfer-encoding": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400),
    "transfer-encoding then content-length": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        400),
    "two different content-lengths": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    "non-numeric content-length": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
    "transfer-encoding in HTTP/1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "chunked twice": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    "bad chunk size": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nhello\r\n0\r\n\r\n", 400),
    # RFC 9112 §3.2: exactly one Host in HTTP/1.1.
    "missing host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    # RFC 9112 §3.2: a Host with an invalid field value (RFC 9110 §7.2: uri-host [":" port]).
    "host with a space": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "host with a path": (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    "host with userinfo": (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    "host with a bad port": (b"GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
    "host with an unclosed IPv6 literal": (b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    "host with a bad escape": (b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
    "host in HTTP/1.0 invalid too": (b"GET / HTTP/1.0\r\nHost: a<b\r\n\r\n", 400),
    # RFC 9112 §5.2: obs-fold is refused by an origin server.
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    # RFC 9112 §5.1: no whitespace between a field name and the colon.
    "space before colon": (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    # RFC 9110 §5.5: NUL never appears in a field value.
    "NUL in a field value": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    # Body limits.
    "content-length over the body limit": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413),
    "chunked body over the body limit": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"40\r\n" + b"a" * 64 + b"\r\n40\r\n" + b"b" * 64 + b"\r\n0\r\n\r\n", 413),
    # RFC 9110 §10.1.1: an expectation the server cannot meet is a 417.
    "unknown expectation": (b"GET / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n", 417),
    # An origin server does not tunnel (RFC 9110 §9.3.6).
    "CONNECT": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
}


@pytest.mark.parametrize("data,status", REJECTIONS.values(), ids=REJECTIONS.keys())
def test_rejections_while_another_exception_is_handled(data: bytes, status: int) -> None:
    """The reader's refusals do not depend on the interpreter's exception state.

    httptools hands a callback's exception back as the ``__context__`` of
    its own error, and a raise made inside an ``except`` block overwrites
    that context. A reader fed there (by a caller's error path, or after a
    compiled coroutine left an exception set as handled, see docs/compiled.md)
    still gives the same status, not an HttpParserCallbackError.
    """
    events: list[tuple[object, ...]] = []
    try:
        raise LookupError("an unrelated error, being handled")
    except LookupError:
        events = feed([data], LIMITS)
    assert rejection(events) == status, events


@pytest.mark.parametrize("data,status", REJECTIONS.values(), ids=REJECTIONS.keys())
def test_rejections(data: bytes, status: int) -> None:
    """Refused input yields one Rejection with the right status, last, and the
    refused request never completes (no end event). Whole or byte by byte, the
    status is the same (how much of a too-large body came first may differ)."""
    events = feed([data], LIMITS)
    bytewise = feed([data[i:i + 1] for i in range(len(data))], LIMITS)
    assert rejection(bytewise) == rejection(events)
    assert heads(bytewise) == heads(events)
    assert rejection(events) == status, events
    assert events[-1][0] == "reject"
    assert ("end",) not in events


def test_request_line_without_a_version_is_refused() -> None:
    """``GET /`` with no version: malformed as an HTTP/1.x request-line (400, RFC
    9112 §3) or HTTP/0.9's simple request (505, RFC 9110 §15.6.6); either way it
    never becomes a request, since no 1.x response could answer it."""
    events = read(b"GET /\r\n\r\n")
    assert rejection(events) in (400, 505)
    assert heads(events) == []


def test_head_limit_holds_however_the_head_is_split() -> None:
    """The head size limit (431) holds whatever the read sizes: a head of 1.4 KiB
    against a 1 KiB limit is refused whether it comes in one read, byte by byte,
    or as one large read followed by a small one."""
    head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"x" * 1400 + b"\r\n\r\n"
    for split in (100, 700, 1000, 1300):
        assert rejection(feed([head[:split], head[split:]], LIMITS)) == 431, split


def test_names_made_up_by_clients_cannot_grow_the_names_remembered() -> None:
    """The reader remembers the header names it has seen (what each is to the
    framing rules); names made up by clients keep it within its bound, a long
    name is not kept at all, and the framing headers are still known, in any
    spelling, once it has been emptied."""
    limit = reader_module._NAME_KINDS_MAX  # pylint: disable=protected-access
    kinds = reader_module._NAME_KINDS  # pylint: disable=protected-access
    for number in range(3 * limit):
        events = RequestReader(Config()).receive(
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Made-Up-%d: 1\r\n\r\n" % number)
        assert isinstance(events[0], RequestHead)
        assert len(kinds) <= limit
    long_name = b"X-" + b"n" * 200
    RequestReader(Config()).receive(b"GET / HTTP/1.1\r\nHost: h\r\n%s: 1\r\n\r\n" % long_name)
    assert long_name not in kinds
    events = RequestReader(Config()).receive(
        b"POST / HTTP/1.1\r\nhOsT: h\r\ncOnTeNt-LeNgTh: 3\r\n\r\nabc")
    assert [type(event) for event in events] == [RequestHead, BodyData, EndOfRequest]
    assert RequestReader(Config()).receive(
        b"GET / HTTP/1.1\r\nHOST: a\r\nhost: b\r\n\r\n")[-1] == Rejection(
            400, "missing or repeated Host header", "GET")


def test_too_many_headers_in_a_short_read_are_refused_with_that_read() -> None:
    """A read shorter than max_head_size is not counted header by header; one
    that brings more than max_header_count headers is refused all the same,
    at the end of that read if the head goes on, at its end if it ends there,
    and nothing of it is held."""
    config = Config(max_head_size=1024, max_header_count=10)
    going_on = RequestReader(config)
    events = going_on.receive(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"a:b\r\n" * 20)
    assert events == [Rejection(431, "too many headers", "GET")]
    assert not going_on._headers  # pylint: disable=protected-access
    ending = RequestReader(config)
    events = ending.receive(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"a:b\r\n" * 20 + b"\r\n")
    assert events == [Rejection(431, "too many headers", "GET")]
    exactly = RequestReader(config).receive(
        b"GET / HTTP/1.1\r\nHost: h\r\n" + b"a:b\r\n" * 9 + b"\r\n")
    assert isinstance(exactly[0], RequestHead) and len(exactly[0].raw_headers) == 10


def test_head_limit_counts_the_headers_of_earlier_reads() -> None:
    """Header sizes are counted only in a read that could pass the limit, so a
    head that goes on into another read has its earlier headers counted then:
    ten 105-byte header lines, seven in a first read and three in a second, pass a
    1 KiB limit together although each read stays under it."""
    config = Config(max_head_size=1024, max_header_count=100)
    lines = [b"X-%d: %s\r\n" % (i, b"v" * 98) for i in range(10)]
    first = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"".join(lines[:7])
    second = b"".join(lines[7:]) + b"\r\n"
    assert len(first) < 1024 and len(second) < 1024
    assert rejection(feed([first, second], config)) == 431
    assert rejection(feed([first, b"".join(lines[7:8]) + b"\r\n"], config)) is None


def test_limits_are_inclusive() -> None:
    """A target of exactly max_url_size and exactly max_header_count headers are
    accepted; one more of either is refused (see the rejections above)."""
    target = b"/" + b"a" * 99
    events = read(b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n"
                  + b"".join(b"X-%d: v\r\n" % i for i in range(9)) + b"\r\n", LIMITS)
    assert rejection(events) is None
    assert events[0][2] == target
    assert len(events[0][4]) == 10


def test_trailer_section_is_bounded() -> None:
    """Trailer fields count against the head limit like header fields: a trailer
    section over max_head_size is refused with 431 (RFC 9112 §7.1.2 allows a
    recipient to bound it; unbounded, it would be an unbounded buffer)."""
    data = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"1\r\na\r\n0\r\n" + b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 200) for i in range(8))
            + b"\r\n")
    assert rejection(read(data, LIMITS)) == 431


def test_nothing_is_read_after_a_rejection() -> None:
    """After a Rejection the reader ignores further input: the connection is closing."""
    reader = RequestReader(Config())
    assert isinstance(reader.receive(b"GET / HTTP/1.1\r\n\r\n")[-1], Rejection)
    assert reader.finished
    assert not reader.receive(GET)


HEAD = b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"


@pytest.mark.parametrize(("reads", "method"), [
    ([HEAD + b"this is not a request\r\n\r\n"], ""),
    ([HEAD, b"this is not a request\r\n\r\n"], ""),
    ([HEAD, b"GE"], ""),                     # refused by a timeout (408) mid-method
    ([HEAD, b"GET /x HTT"], "GET"),
    ([GET, b"HEAD /x"], "HEAD"),
    ([b"HEAD /x HTTP/9.9\r\n\r\n"], "HEAD"),  # 505: the method was read whole
])
def test_a_refusal_carries_the_method_only_once_it_was_read_whole(reads: list[bytes],
                                                                  method: str) -> None:
    """A refusal tells the connection the refused request's method (a HEAD's
    answer has no body). llhttp's method is the previous request's until the
    next one's method is read whole: a line that is not a request at all,
    after a HEAD, must not be answered as a HEAD."""
    reader = RequestReader(Config())
    events = [event for data in reads for event in reader.receive(data)]
    refusal = events[-1] if isinstance(events[-1], Rejection) else reader.refuse(408, "timeout")
    assert isinstance(refusal, Rejection)
    assert refusal.method == method


def test_in_head_tracks_a_partial_head() -> None:
    """``in_head`` is true exactly while a head has begun but not ended (for the head timeout)."""
    reader = RequestReader(Config())
    assert not reader.in_head
    reader.receive(GET[:10])
    assert reader.in_head
    reader.receive(GET[10:])
    assert not reader.in_head


# --- any split of the bytes gives the same events ---------------------------

CORPUS = [
    GET,
    GET * 3,
    CHUNKED_POST + GET,
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" + GET,
    b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + GET,
    b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
    GET + b"GET / HTTP/1.1\r\n\r\n",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.sampled_from(CORPUS), cuts=st.lists(st.integers(min_value=0, max_value=400),
                                                   max_size=6))
def test_any_split_gives_the_same_events(data: bytes, cuts: list[int]) -> None:
    """Cutting the input at arbitrary points never changes the events."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    assert feed(pieces) == feed([data])
