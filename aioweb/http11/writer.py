"""Responses in, bytes out: the response side of HTTP/1.1 (RFC 9112 §4-7).

Decides a response's framing (Content-Length, chunked, or "until close"),
whether it carries a body at all (HEAD, 1xx, 204, 304 do not), and writes the
head as bytes. It refuses any header that would let a handler split the
response (CR, LF or NUL in it) before a byte goes out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import cast

from aioweb.errors import ResponseHeaderError

_CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

# RFC 9110 §5.1: a field name is a token; §5.5: a value has no CR, LF or NUL.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")
# Header names seen and found to be tokens (as text or bytes, as handlers give
# them), with their bytes and lower-cased bytes. Bounded: a handler that makes
# up names cannot grow it without end.
_checked_names: dict[object, tuple[bytes, bytes]] = {}
_CHECKED_NAMES_MAX = 1024
# Headers the container owns: it frames the body itself.
_FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
# Lines the container adds to every response unless the handler gives its
# own, as bits of encode_headers' "replaced": RFC 9110 §5.3 allows a field
# that is not a list only once, and clients refuse two Server lines (aiohttp
# since 3.14). Never kept in _sent_lines, so always seen here.
OWN_SERVER, OWN_DATE = 1, 2
_REPLACING = {b"server": OWN_SERVER, b"date": OWN_DATE}
# Header lines sent lately, by the (name, value) pair the handler gave: an app
# sends the same few (content-type: text/plain) over and over, and checking
# and formatting a pair costs more than the rest of a small response head
# (measured: ~4,500 instructions a pair, ~500 to find its line here). Only
# short lines, at most _SENT_LINES_MAX of them; emptied when full, so that
# one-off values (cookies, ETags) cannot keep the common ones out for good.
_sent_lines: dict[object, bytes] = {}
_SENT_LINES_MAX = 512
_SENT_LINE_MAX_SIZE = 256
# The same for the Content-Length pairs apps send (every Starlette response
# has one): the length they declare, checked once. Never sent as given: the
# container writes its own framing.
_declared_lengths: dict[object, int] = {}

_status_lines: dict[int, bytes] = {}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 404 Not Found\\r\\n``, built once per status.

    Always HTTP/1.1, even to an HTTP/1.0 client: RFC 9110 §2.5 has a server
    send the highest version it conforms to within the request's major
    version. What the client understands shows elsewhere: no chunked coding
    for 1.0, and an explicit Connection header whichever way persistence goes.
    """
    line = _status_lines.get(status)
    if line is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""  # RFC 9112 §4: the reason phrase may be empty
        line = _status_lines[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")
    return line


def body_allowed(method: str, status: int) -> bool:
    """RFC 9110 §6.4.1: HEAD, 1xx, 204 and 304 responses have no content."""
    return not (method == "HEAD" or status < 200 or status == 204 or status == 304)


def encode_headers(headers: Iterable[object]) -> tuple[bytes, int | None, bool, int]:
    """Check and encode a handler's headers: (name, value) pairs, as text or as bytes.

    Returns the encoded lines, the Content-Length the handler set (or None),
    whether it asked for ``Connection: close``, and which of the container's
    own lines its headers replace (OWN_SERVER, OWN_DATE: see
    CommonHeaders.blocks). Framing headers are taken out: the container
    writes its own, so they can never disagree with the body.

    The pairs are typed ``object`` because they are checked here, not trusted:
    what a handler or an app gives may be anything (and the compiled form,
    docs/compiled.md, would otherwise check their types before this code can).
    """
    lines = []
    content_length = None
    close = False
    replaced = 0
    for pair in headers:
        try:
            line = _sent_lines.get(pair)
            declared = _declared_lengths.get(pair) if line is None else None
        except TypeError:  # an unhashable pair (a list): never kept, checked below
            line = declared = None
        if line is not None:
            lines.append(line)
            continue
        if declared is not None:
            content_length = declared
            continue
        try:
            name, value = cast("Iterable[object]", pair)
        except (TypeError, ValueError):  # not a pair at all
            raise ResponseHeaderError(f"header {pair!r} is not a (name, value) pair") from None
        # A server sends the same few names over and over: each is checked
        # once, then found in _checked_names.
        kind = type(name)
        checked = _checked_names.get(name) if kind is str or kind is bytes else None
        raw_name, lowered = checked if checked is not None else _check_name(name)
        raw_value = value if type(value) is bytes else _encode_value(name, value)  # pylint: disable=unidiomatic-typecheck
        # The headers the container writes itself are read, never written:
        # only the values that go out need the check for CR, LF and NUL.
        if lowered in _FRAMING_HEADERS:
            if lowered == b"content-length":
                if not raw_value.isdigit():
                    raise ResponseHeaderError(f"Content-Length {value!r} is not a number")
                content_length = int(raw_value)
                if type(pair) is tuple:  # pylint: disable=unidiomatic-typecheck
                    if len(_declared_lengths) >= _SENT_LINES_MAX:
                        _declared_lengths.clear()
                    _declared_lengths[pair] = content_length
            continue
        if lowered == b"connection":
            close = close or b"close" in raw_value.lower()
            continue
        if _FORBIDDEN_IN_VALUE.search(raw_value):
            raise ResponseHeaderError(f"header {name!r} would split the response")
        line = b"%s: %s\r\n" % (raw_name, raw_value)
        lines.append(line)
        own = _REPLACING.get(lowered)
        if own is not None:
            replaced |= own
        elif len(line) <= _SENT_LINE_MAX_SIZE and type(pair) is tuple:  # pylint: disable=unidiomatic-typecheck
            if len(_sent_lines) >= _SENT_LINES_MAX:
                _sent_lines.clear()
            _sent_lines[pair] = line
    return b"".join(lines), content_length, close, replaced


def _encode_value(name: object, value: object) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ResponseHeaderError(f"header {name!r} is not ISO-8859-1 text") from exc
    raise ResponseHeaderError(f"header {name!r} has a {type(value).__name__} value, "
                              "not str or bytes")


def _check_name(name: object) -> tuple[bytes, bytes]:
    """A header name as bytes, and lower-cased; refused unless it is a token."""
    if isinstance(name, str):
        try:
            raw_name = name.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ResponseHeaderError(f"header {name!r} is not ISO-8859-1 text") from exc
    elif type(name) is bytes:  # pylint: disable=unidiomatic-typecheck
        raw_name = name
    else:
        raise ResponseHeaderError(f"header name {name!r} is not str or bytes")
    if _TOKEN.fullmatch(raw_name) is None:
        raise ResponseHeaderError(f"header {name!r} would split the response")
    checked = (raw_name, raw_name.lower())
    if len(_checked_names) < _CHECKED_NAMES_MAX:
        _checked_names[name] = checked
    return checked


def encode_head(http_version: str, status: int, common: bytes, header_lines: bytes,
                framing: bytes, keep_alive: bool) -> bytes:
    """The whole response head, ending with the blank line.

    ``common`` is the Date/Server block shared by all responses in the same
    second; ``framing`` is a Content-Length or Transfer-Encoding line (or empty).
    """
    return b"".join((status_line(status), common, framing,
                     connection_line(http_version, keep_alive), header_lines, _CRLF))


def connection_line(http_version: str, keep_alive: bool) -> bytes:
    """The Connection header a response needs, if any (RFC 9112 §9.3).

    HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it
    unless told otherwise: each needs the header only to say the other thing.
    """
    if keep_alive:
        return b"connection: keep-alive\r\n" if http_version == "1.0" else b""
    return b"connection: close\r\n"


def content_length_line(length: int) -> bytes:
    """The framing line for a body of known size."""
    return b"content-length: %d\r\n" % length


CHUNKED_LINE = b"transfer-encoding: chunked\r\n"


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class CommonHeaders:
    """The lines every response carries: ``server``, ``date`` and any defaults
    configured (``Config.default_headers``), rebuilt at most once a second.

    Formatting a date costs more than the rest of a small response head;
    RFC 9110 §6.6.1 only asks for one-second resolution, so it is cached.
    The clock is read by the caller's ``now`` (seconds), keeping this sans-IO.
    ``blocks[replaced]`` leaves out the lines a handler's own headers replace
    (encode_headers' last value): ``blocks[0]`` is the whole block. A Server
    or Date among the defaults replaces the container's own in every block.
    """

    __slots__ = ("_server", "_date", "_defaults", "_second", "blocks")

    def __init__(self, server: str, date: bool = True,
                 defaults: Iterable[tuple[str, str]] = ()) -> None:
        self._server = b"server: " + server.encode("latin-1") + _CRLF if server else b""
        # The Date line: None for the clock's, made at each new second; b""
        # for none; a line of the defaults for a fixed one (odd, but asked for).
        self._date: bytes | None = None if date else b""
        lines = []
        for name, value in defaults:
            line, _, _, replaced = encode_headers([(name, value)])
            if line == b"":  # framing or Connection, which encode_headers takes out
                raise ResponseHeaderError(f"{name} is the container's to send, per response")
            if replaced & OWN_SERVER:
                self._server = line
            elif replaced & OWN_DATE:
                self._date = line
            else:
                lines.append(line)
        self._defaults = b"".join(lines)
        self._second = -1
        self.blocks: tuple[bytes, ...] = ()

    @property
    def block(self) -> bytes:
        """The whole block, as ``at`` last made it."""
        return self.blocks[0]

    def at(self, now: float) -> bytes:
        """The whole block for the given wall-clock time (``blocks`` too)."""
        second = int(now)
        if second != self._second:
            self._second = second
            date = self._date
            if date is None:
                date = b"date: %s\r\n" % time.strftime(
                    "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second)).encode("ascii")
            server = self._server
            self.blocks = tuple((b"" if own & OWN_SERVER else server)
                                + (b"" if own & OWN_DATE else date) + self._defaults
                                for own in range(OWN_SERVER + OWN_DATE + 1))
        return self.blocks[0]
