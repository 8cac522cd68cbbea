"""The response side without sockets: status lines, framing, header checks, gzip."""

from __future__ import annotations

import gzip
import re
from typing import Any

import pytest

from aioweb import Response
from aioweb.errors import ResponseHeaderError
from aioweb.http11 import compression, writer


@pytest.mark.parametrize("status,line", [
    (200, b"HTTP/1.1 200 OK\r\n"),
    (404, b"HTTP/1.1 404 Not Found\r\n"),
    (418, b"HTTP/1.1 418 I'm a Teapot\r\n"),
    (413, b"HTTP/1.1 413 Request Entity Too Large\r\n"),
    (431, b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
    (500, b"HTTP/1.1 500 Internal Server Error\r\n"),
    # RFC 9112 §4: the reason phrase may be empty, but the SP before it is not optional.
    (599, b"HTTP/1.1 599 \r\n"),
])
def test_status_line_has_the_reason_phrase(status: int, line: bytes) -> None:
    """The status line (RFC 9112 §4) carries Python's HTTPStatus phrase for the code."""
    assert writer.status_line(status) == line


@pytest.mark.parametrize("method,status,allowed", [
    ("GET", 200, True), ("POST", 404, True), ("GET", 500, True),
    ("HEAD", 200, False), ("GET", 100, False), ("GET", 101, False),
    ("GET", 204, False), ("GET", 304, False), ("HEAD", 404, False),
])
def test_body_allowed(method: str, status: int, allowed: bool) -> None:
    """RFC 9110 §6.4.1: responses to HEAD, and 1xx, 204 and 304 responses, have no content."""
    assert writer.body_allowed(method, status) is allowed


def test_encode_headers_takes_framing_and_connection_out() -> None:
    """Framing is the container's (RFC 9112 §6): Content-Length, Transfer-Encoding and
    Connection are taken out of a handler's headers and reported, the rest kept in order."""
    lines, length, close, replaced = writer.encode_headers([
        ("X-One", "1"), ("Content-Length", "12"), ("Transfer-Encoding", "chunked"),
        ("Connection", "close"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    assert lines == b"X-One: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
    assert length == 12
    assert close is True
    assert replaced == 0


def test_encode_headers_takes_bytes_as_they_are() -> None:
    """Bytes pairs (an ASGI app's) are written unconverted; text and bytes may mix."""
    assert writer.encode_headers([(b"x-a", b"1"), ("X-B", b"\xe9"), (b"x-c", "\xe9"),
                                  (b"content-length", b"7"), (b"connection", b"close")]) == (
        b"x-a: 1\r\nX-B: \xe9\r\nx-c: \xe9\r\n", 7, True, 0)


def test_encode_headers_without_framing_headers() -> None:
    """No Content-Length set means None; no Connection: close means keep."""
    assert writer.encode_headers([("Content-Type", "text/plain")]) == (
        b"Content-Type: text/plain\r\n", None, False, 0)


@pytest.mark.parametrize("name,value", [
    ("X-Evil", "a\r\nSet-Cookie: pwned=1"),
    ("X-Evil", "a\nb"),
    ("X-Evil", "a\rb"),
    ("X-Evil", "a\x00b"),
    ("X-Evil\r\nSet-Cookie", "pwned=1"),
    ("Bad Name", "v"),
    ("Bad:Name", "v"),
    ("", "v"),
    ("X-Snowman", "\u2603"),
    ("Content-Length", "12abc"),
    (b"X-Evil", b"a\r\nSet-Cookie: pwned=1"),
    (b"X-Evil", b"a\x00b"),
    (b"X-Evil\r\nSet-Cookie", b"pwned=1"),
    (b"Bad Name", b"v"),
    (b"Content-Length", b"12abc"),
    ("X-Evil", 12),
    (b"X-Evil", None),
    (12, b"v"),
    (bytearray(b"X-Evil"), b"v"),
])
def test_encode_headers_refuses_what_would_split_the_response(name: Any, value: Any) -> None:
    """RFC 9110 §5.1, §5.5: names are tokens, values have no CR, LF or NUL, all
    ISO-8859-1; anything else is refused before a byte is written."""
    with pytest.raises(ResponseHeaderError):
        writer.encode_headers([("X-Fine", "ok"), (name, value)])


@pytest.mark.parametrize("header", [12, (b"x-one",), (b"x-a", b"1", b"2"), None],
                         ids=["int", "one", "three", "none"])
def test_encode_headers_refuses_what_is_not_a_pair(header: Any) -> None:
    """Each header is a (name, value) pair; anything else is refused as a
    header error (a 500 to the client), not a TypeError from deep inside."""
    with pytest.raises(ResponseHeaderError, match="not a .name, value. pair"):
        writer.encode_headers([("X-Fine", "ok"), header])


def test_encode_headers_takes_pairs_as_lists() -> None:
    """ASGI apps may give each header as a two-item list (the spec's
    ``Iterable[[bytes, bytes]]``): it is a pair like a tuple."""
    assert writer.encode_headers([[b"x-a", b"1"]]) == (b"x-a: 1\r\n", None, False, 0)


def test_encode_chunk() -> None:
    """RFC 9112 §7.1: a chunk is its size in hex, CRLF, the data, CRLF."""
    assert writer.encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert writer.encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert writer.LAST_CHUNK == b"0\r\n\r\n"


def test_encode_head_connection_header() -> None:
    """RFC 9112 §9.3: 1.1 needs no header to persist; 1.0 must say keep-alive; a close says so."""
    common = b"server: t\r\n"
    assert writer.encode_head("1.1", 200, common, b"", b"content-length: 0\r\n", True) == (
        b"HTTP/1.1 200 OK\r\nserver: t\r\ncontent-length: 0\r\n\r\n")
    assert b"connection: keep-alive\r\n" in writer.encode_head("1.0", 200, common, b"", b"", True)
    assert b"connection: close\r\n" in writer.encode_head("1.1", 200, common, b"", b"", False)


def test_common_headers_have_an_imf_fixdate() -> None:
    """RFC 9110 §6.6.1, §5.6.7: the Date header is an IMF-fixdate in GMT, next to Server."""
    block = writer.CommonHeaders("aioweb").at(784111777.0)
    assert block == b"server: aioweb\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    assert re.fullmatch(rb"server: x\r\ndate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n",
                        writer.CommonHeaders("x").at(1.7e9))


def test_a_handlers_server_or_date_is_reported_every_time() -> None:
    """A Server or Date line of the handler's is sent as given and reported as
    replacing the container's (RFC 9110 §5.3: one line each), the second time
    too: such lines are never kept in the cache that skips the check."""
    for _ in range(2):
        assert writer.encode_headers([("Server", "mine"), ("X-A", "1")]) == (
            b"Server: mine\r\nX-A: 1\r\n", None, False, writer.OWN_SERVER)
        assert writer.encode_headers([(b"date", b"Sun, 06 Nov 1994 08:49:37 GMT"),
                                      (b"server", b"x")])[3] == (
            writer.OWN_SERVER | writer.OWN_DATE)
    assert ("Server", "mine") not in writer._sent_lines  # pylint: disable=protected-access


def test_common_blocks_leave_out_what_a_handler_replaced() -> None:
    """blocks[replaced] is the block without the container's lines the handler
    gave itself; the defaults configured go into every block, after Server and Date."""
    common = writer.CommonHeaders("aioweb", defaults=[("X-Frame-Options", "DENY")])
    common.at(784111777.0)
    date = b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    assert common.blocks == (b"server: aioweb\r\n" + date + b"X-Frame-Options: DENY\r\n",
                             date + b"X-Frame-Options: DENY\r\n",
                             b"server: aioweb\r\nX-Frame-Options: DENY\r\n",
                             b"X-Frame-Options: DENY\r\n")
    assert common.block == common.blocks[0]


def test_common_headers_off_or_replaced_by_defaults() -> None:
    """No Server for "", no Date when off; a Server among the defaults takes the
    place of the container's; framing headers and split-making ones are refused."""
    assert writer.CommonHeaders("", date=False).at(1.7e9) == b""
    assert writer.CommonHeaders("aioweb", date=False, defaults=[("Server", "edge")]).at(
        1.7e9) == b"Server: edge\r\n"
    for bad in (("Content-Length", "3"), ("Connection", "close"), ("X-A", "1\r\nX-B: 2")):
        with pytest.raises(ResponseHeaderError):
            writer.CommonHeaders("aioweb", defaults=[bad])


def test_response_str_body_is_utf8_text() -> None:
    """A str body is UTF-8 with a text/plain type unless the handler names one."""
    response = Response("héllo")
    assert response.body == "héllo".encode()
    assert ("Content-Type", "text/plain; charset=utf-8") in response.headers
    assert Response("{}", content_type="application/json").headers == [
        ("Content-Type", "application/json")]


# --- gzip -----------------------------------------------------------------

@pytest.mark.parametrize("value,accepted", [
    (b"gzip", True), (b"gzip, deflate, br", True), (b"deflate, gzip;q=0.5", True),
    (b"*", True), (b"GZIP", True), (b"gzip; q=1.0", True),
    (b"gzip;q=0", False), (b"identity", False), (b"br", False), (b"", False),
    # RFC 9110 §12.5.3: "*" matches only codings not listed; gzip listed wins either way.
    (b"*;q=0, gzip", True), (b"gzip;q=0, *", False),
])
def test_accepts_gzip(value: bytes, accepted: bool) -> None:
    """Accept-Encoding (RFC 9110 §12.5.3) allows gzip when it (or ``*``) has q > 0."""
    assert compression.accepts_gzip([(b"Host", b"h"), (b"Accept-Encoding", value)]) is accepted


def test_no_accept_encoding_means_no_gzip() -> None:
    """Without Accept-Encoding, no coding is assumed acceptable for the server to choose."""
    assert compression.accepts_gzip([(b"Host", b"h")]) is False


@pytest.mark.parametrize("headers,result", [
    ([("Content-Type", "text/plain; charset=utf-8")], True),
    ([("content-type", "application/json")], True),
    ([("Content-Type", "application/vnd.api+json")], True),
    ([("Content-Type", "image/svg+xml")], True),
    ([("Content-Type", "image/png")], False),
    ([], False),
    ([("Content-Type", "text/html"), ("Content-Encoding", "br")], False),
    ([("Content-Type", "text/event-stream")], False),
    ([(b"content-type", b"text/plain")], True),
])
def test_compressible(headers: list[tuple[str, str]], result: bool) -> None:
    """Only text-like types not already encoded are worth compressing."""
    assert (compression.gzip_headers(200, headers) is not None) is result


def test_gzip_stream_round_trips() -> None:
    """A streamed gzip body decompresses to the chunks joined; each chunk is flushed."""
    stream = compression.GzipStream(6)
    parts = [stream.compress(b"hello " * 100), stream.compress(b"world " * 100)]
    assert all(parts), "a flushed chunk is never empty"
    assert gzip.decompress(b"".join(parts) + stream.finish()) == b"hello " * 100 + b"world " * 100


def test_header_names_checked_once_are_remembered_within_a_bound() -> None:
    """Checked names are cached (a server sends the same few again and again),
    but a handler that makes up a new name per response cannot grow the cache
    without end; names past the bound are still checked, every time."""
    for i in range(3000):
        assert writer.encode_headers([(f"X-Made-Up-{i}", "v")])[0] == b"X-Made-Up-%d: v\r\n" % i
    assert len(writer._checked_names) <= writer._CHECKED_NAMES_MAX  # pylint: disable=protected-access
    with pytest.raises(ResponseHeaderError):
        writer.encode_headers([("X-Bad Name-3001", "v")])


def test_sent_header_lines_are_remembered_within_a_bound() -> None:
    """A (name, value) pair that went out is found again without checking
    (apps send the same content-type on every response), but only pairs that
    passed the checks are kept, a line too long is never kept, and a handler
    that makes up a value per response cannot grow the cache without end."""
    sent_lines = writer._sent_lines  # pylint: disable=protected-access
    pair = (b"content-type", b"text/plain; charset=utf-8")
    assert writer.encode_headers([pair])[0] == b"content-type: text/plain; charset=utf-8\r\n"
    assert sent_lines[pair] == b"content-type: text/plain; charset=utf-8\r\n"
    # Refused pairs are never kept, so they are refused every time.
    for _ in range(2):
        with pytest.raises(ResponseHeaderError):
            writer.encode_headers([(b"x-evil", b"a\r\nset-cookie: pwned=1")])
    assert (b"x-evil", b"a\r\nset-cookie: pwned=1") not in sent_lines
    # Framing and Connection headers are read each time, never kept as lines.
    assert writer.encode_headers([(b"content-length", b"5"), (b"connection", b"close")]) == (
        b"", 5, True, 0)
    assert (b"content-length", b"5") not in sent_lines
    long_pair = (b"x-long", b"v" * 1000)
    assert writer.encode_headers([long_pair])[0] == b"x-long: " + b"v" * 1000 + b"\r\n"
    assert long_pair not in sent_lines
    for i in range(3000):
        assert writer.encode_headers([("Set-Cookie", f"id={i}")])[0] == b"Set-Cookie: id=%d\r\n" % i
        assert len(sent_lines) <= writer._SENT_LINES_MAX  # pylint: disable=protected-access
    # Pairs that cannot be keys (lists, as ASGI allows) are still encoded and checked.
    assert writer.encode_headers([[b"x-a", b"1"]])[0] == b"x-a: 1\r\n"  # type: ignore[list-item]
    with pytest.raises(ResponseHeaderError):
        writer.encode_headers([[b"x-a", b"1\n"]])  # type: ignore[list-item]


def test_declared_content_lengths_are_remembered_within_a_bound() -> None:
    """A Content-Length pair (every Starlette response has one) is parsed once
    and its length found again; a bad one is refused every time and never
    kept; a pair that cannot be a key still works; the cache stays bounded."""
    lengths = writer._declared_lengths  # pylint: disable=protected-access
    pair = (b"content-length", b"11")
    assert writer.encode_headers([pair, (b"x-a", b"1")]) == (b"x-a: 1\r\n", 11, False, 0)
    assert lengths[pair] == 11
    assert writer.encode_headers([pair]) == (b"", 11, False, 0)  # from the cache, the same answer
    for _ in range(2):
        with pytest.raises(ResponseHeaderError):
            writer.encode_headers([(b"content-length", b"1e3")])
    assert (b"content-length", b"1e3") not in lengths
    with pytest.raises(ResponseHeaderError):  # unhashable inside: checked, refused, no crash
        writer.encode_headers([(b"content-length", bytearray(b"5"))])  # type: ignore[list-item]
    for i in range(3000):
        assert writer.encode_headers([("Content-Length", str(i))])[1] == i
        assert len(lengths) <= writer._SENT_LINES_MAX  # pylint: disable=protected-access
