"""Bytes in, events out: the request side of one HTTP/1.1 connection.

httptools (llhttp, the parser of Node.js) does the byte-level work and calls
back on each piece it recognises. This module turns those callbacks into
:mod:`aioweb.http11.events` and adds what a parser alone does not decide:
the server's limits (414, 431, 413), the RFC 9112 rules that stop request
smuggling (Host, Transfer-Encoding, Content-Length), and those of the request
target's form and host (``target.py``).

llhttp already refuses, in its default strict mode: Content-Length together
with Transfer-Encoding, duplicate Content-Length, obs-fold, bare CR or LF,
whitespace before a header's colon, bad chunk sizes and anything but CRLF
after chunk data. Each of these becomes a 400 here.
"""

from __future__ import annotations

import httptools

from aioweb.config import Config
from aioweb.http11.events import (END_OF_REQUEST, BodyData, Event, HeadFactory, Rejection,
                                  RequestHead)
from aioweb.http11.target import FRAGMENT_MARK, HOST_PATTERN, other_form_authority, with_host

# Methods as interned str: most requests use one of these, and reusing the
# same str object saves decoding the method on every request.
_KNOWN_METHODS = {m.encode(): m for m in (
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")}


class _Refuse(Exception):
    """Raised inside a parser callback to stop parsing with an error status
    (made by :meth:`RequestReader._refused`, which also keeps it)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)


class RequestReader:
    """Parses one connection's byte stream into request events.

    ``receive(data)`` returns the events that ``data`` completed. After a
    :class:`Rejection`, or after a request that closes the connection, it
    ignores further input: the connection is on its way out. Each head is
    made by ``new_head`` (see :class:`RequestHead`).
    """

    # One reader per open connection: slots keep it small (and quick to read).
    __slots__ = ("_new_head", "_max_url", "_max_head", "_max_headers", "_max_body", "_parser",
                 "_events", "finished", "in_head", "_head_bytes_pending",
                 "_trailer_size", "_url", "_sizing", "_head_size", "_headers", "_host_count",
                 "_framed", "_content_length", "_chunked", "_transfer_encoding",
                 "_expect_continue", "_upgrade", "_connection_header", "_body_size", "_keep_alive",
                 "_valid_host", "_refusal")

    def __init__(self, config: Config, new_head: HeadFactory = RequestHead) -> None:
        self._new_head = new_head
        self._max_url = config.max_url_size
        self._max_head = config.max_head_size
        self._max_headers = config.max_header_count
        self._max_body = config.max_body_size
        self._parser = httptools.HttpRequestParser(self)
        self._events: list[Event] = []
        self.finished = False  # no more requests will be read on this connection
        self.in_head = False   # a request head has begun but is not complete
        # Bytes received in later reads while a head stays incomplete. llhttp
        # buffers a partial header inside itself, out of our sight, so this
        # is how a head that never ends is bounded (see receive()). The read
        # the head began in is not counted (where in it the head began is not
        # known): a head dripped in may pass the limit by that read's size
        # before it is refused, complete headers are counted exactly.
        self._head_bytes_pending = 0
        self._trailer_size = 0
        # The request being read: its target (empty until its method has been
        # read whole, see refuse()), and its headers. The header list is
        # handed over with RequestHead and replaced, never cleared: the
        # handler owns it then.
        self._url = b""
        # Whether header sizes are counted in this read (see receive()), and
        # the bytes of the complete header lines so far when they are.
        self._sizing = False
        self._head_size = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._host_count = 0
        # The last Host value found valid on this connection (see on_header).
        self._valid_host = b""
        # Whether one of the headers below was sent (most requests send none):
        # only then do they need resetting for the next request.
        self._framed = False
        self._content_length = 0
        self._chunked = False
        self._transfer_encoding = False
        self._expect_continue = False
        self._upgrade = False
        self._connection_header = False
        self._body_size = 0
        self._keep_alive = True
        # The _Refuse a callback raised, until receive() answers it.
        self._refusal: _Refuse | None = None

    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes; return the events they complete (possibly none)."""
        if self.finished:
            return []
        events = self._events = []
        # A head that begins in a read no longer than max_head cannot pass
        # it there: only a longer read, or a head that began in an earlier
        # one, needs each header's size counted (on_header). Not counting
        # saves an ordinary request ~600 instructions a header.
        if self.in_head:
            self._head_bytes_pending += len(data)
            if not self._sizing:  # its first read counted nothing: catch up
                self._head_size = sum(len(name) + len(value) + 4 for name, value in self._headers)
            self._sizing = True
        else:
            self._sizing = len(data) > self._max_head
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            refusal, self._refusal = self._refusal, None
            if refusal is None:
                raise  # a bug in a callback below, not bad input
            status, reason = refusal.args
            self._reject(status, reason)
        except httptools.HttpParserUpgrade:
            # An "Upgrade:" request is complete, but aioweb does not switch
            # protocols, and llhttp reads nothing past it: answer it, then
            # close (its head was marked keep_alive=False for that reason).
            self.finished = True
        except httptools.HttpParserError as exc:
            if not self.finished:  # after a closing request, extra bytes are ignored
                message = str(exc)
                # llhttp's words for "HTTP/d.d, but not a version I know" (3.0, 1.2).
                status = 505 if message == "Invalid HTTP version" else 400
                self._reject(status, message)
        if self.in_head and not self.finished:  # the head goes on in the next read
            if self._head_bytes_pending > self._max_head:
                self._reject(431, "request head too large")
            elif len(self._headers) > self._max_headers:
                self._reject(431, "too many headers")
        return events

    def _refused(self, status: int, reason: str) -> _Refuse:
        """The error for a callback to raise, kept here as well.

        httptools gives a callback's exception back only as the
        ``__context__`` of its own HttpParserCallbackError, and a ``raise``
        made while another exception is being handled (receive() called from
        an ``except`` block) replaces that context: so the reader does not
        rely on it.
        """
        self._refusal = refusal = _Refuse(status, reason)
        return refusal

    def _reject(self, status: int, reason: str) -> None:
        self._events.append(self.refuse(status, reason))

    def refuse(self, status: int, reason: str) -> Rejection:
        """Refuse the request being read (also for reasons found outside the
        bytes, such as a timeout); read nothing more."""
        # The method counts once it has been read whole, which llhttp tells
        # by reporting the target that follows it. Until then get_method()
        # still gives the previous request's: a line that is not a request at
        # all, pipelined after a HEAD, was not understood as a HEAD, so its
        # answer has a body (found by tests/test_pipeline_property.py).
        method = self._parser.get_method().decode("latin-1") if self._url else ""
        self.finished = True
        self.in_head = False
        self._headers = []  # hold nothing of a refused request
        return Rejection(status, reason, method)

    # --- httptools callbacks, in the order they fire ---------------------

    def on_message_begin(self) -> None:
        """A new request starts."""
        self.in_head = True
        self._head_bytes_pending = 0

    def on_url(self, part: bytes) -> None:
        """A piece of the request target (it may come in several reads)."""
        # Usually one piece, and b"" + part is part itself: no copy. A target
        # dripped in many reads is copied per piece, but only up to max_url.
        url = self._url = self._url + part
        if len(url) > self._max_url:
            raise self._refused(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        """One complete header; note the ones that decide framing."""
        if not self.in_head:
            self._trailer(name, value)
            return
        # RFC 9110 §5.5: whitespace around a field value is not part of it;
        # llhttp drops the leading part, so drop the trailing part here.
        value = value.rstrip(b" \t")
        # In a read that could pass the head's limits (see receive()), they
        # are checked as each header arrives: a flood of headers is refused
        # at once, not held until it ends. A shorter read holds less than
        # max_head bytes of headers; their count is checked when the head
        # ends, or the read does (~270 instructions a header saved).
        headers = self._headers
        if self._sizing:
            if len(headers) >= self._max_headers:
                raise self._refused(431, "too many headers")
            size = self._head_size = self._head_size + len(name) + len(value) + 4  # ": ", CRLF
            if size > self._max_head:
                raise self._refused(431, "request head too large")
        headers.append((name, value))
        # The few names the rules below care about, known by the exact bytes
        # of the name (see _name_kind): one dict lookup for a name seen before.
        special = _NAME_KINDS.get(name)
        if special is None:
            special = _name_kind(name)
        if special:
            if special == b"host":
                self._host_count += 1
                # A client sends the same Host on every request: the pattern
                # runs only for a value this connection has not sent before
                # (~280 instructions a request with the comparison, ~550
                # with a set of the values seen by all connections).
                if value != self._valid_host:
                    if HOST_PATTERN.fullmatch(value) is None:
                        raise self._refused(400, "invalid Host header")
                    self._valid_host = value
            else:
                self._framing_header(special, value)

    def _trailer(self, name: bytes, value: bytes) -> None:
        # A trailer field after a chunked body (RFC 9112 §7.1.2). aioweb
        # passes none to handlers, but bounds them like a head.
        self._trailer_size += len(name) + len(value) + 4
        if self._trailer_size > self._max_head:
            raise self._refused(431, "trailer section too large")

    def _framing_header(self, name: bytes, value: bytes) -> None:
        self._framed = True
        if name == b"content-length":
            if not value.isdigit():
                raise self._refused(400, "invalid Content-Length")
            self._content_length = int(value)
        elif name == b"transfer-encoding":
            # RFC 9112 §6.1: chunked must be the final coding and appear once.
            # aioweb decodes no other coding, so anything else is 501.
            for coding in value.split(b","):
                if coding.strip().lower() != b"chunked":
                    raise self._refused(501, "unsupported transfer coding")
                if self._chunked:
                    raise self._refused(400, "chunked given twice")
                self._chunked = True
            self._transfer_encoding = True
        elif name == b"expect":
            if value.lower() != b"100-continue":
                raise self._refused(417, "unsupported expectation")
            self._expect_continue = True
        elif name == b"upgrade":
            self._upgrade = True
        elif name == b"connection":
            self._connection_header = True

    def on_headers_complete(self) -> None:
        """The head is complete: apply the whole-head rules, emit RequestHead."""
        headers = self._headers
        target = self._url
        if self._sizing and len(target) + self._head_size > self._max_head:
            raise self._refused(431, "request head too large")
        if len(headers) > self._max_headers:
            raise self._refused(431, "too many headers")
        parser = self._parser
        persists = parser.should_keep_alive()
        # Asking httptools for the version costs as much as reading a header
        # (it formats a new str). Often the answer is already known: llhttp
        # parses only 0.9, 1.0, 1.1, 2.0 and 3.0, and of those only 1.1
        # persists without a Connection header saying so (RFC 9112 §9.3).
        version = "1.1" if persists and not self._connection_header else parser.get_http_version()
        if version not in ("1.1", "1.0"):
            # RFC 9110 §15.6.6: HTTP/0.9 (even "GET /" with no version, which
            # is 0.9's own form) and 2.0 are well formed but not spoken here.
            raise self._refused(505, f"HTTP/{version} is not supported")
        raw_method = parser.get_method()
        method = _KNOWN_METHODS.get(raw_method) or raw_method.decode("ascii")
        # RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
        if self._host_count != 1 and (self._host_count > 1 or version == "1.1"):
            raise self._refused(400, "missing or repeated Host header")
        if method == "CONNECT":
            raise self._refused(405, "CONNECT is for proxies; this is an origin server")
        if target[:1] != b"/":
            authority = other_form_authority(target, method)
            if authority is None:
                raise self._refused(400, "invalid request target")
            if authority:  # absolute-form: its host, not the Host sent (target.py)
                headers = self._headers = with_host(headers, authority)
        elif FRAGMENT_MARK in target:
            # RFC 9112 §3.2.1: origin-form is a path and a query. A fragment
            # stays with the client (RFC 9110 §4.2.5); sent, it would reach
            # handlers inside the path and match no route.
            raise self._refused(400, "fragment in request target")
        if self._framed:
            # A header that frames or steers the request was sent; most
            # requests send none, and skip these rules (~350 instructions).
            keep_alive, expect_continue, has_body = self._framing_rules(persists, version)
        else:
            keep_alive, expect_continue, has_body = persists, False, False
        self._keep_alive = keep_alive
        self._events.append(self._new_head(
            method, target, version, headers, keep_alive, expect_continue, has_body))
        self.in_head = False
        # Ready for the next request's head (pipelined ones may follow in this
        # read); its target is forgotten when this request ends.
        self._headers = []
        self._head_size = self._host_count = self._body_size = 0

    def _framing_rules(self, persists: bool, version: str) -> tuple[bool, bool, bool]:
        """The rules for a head with framing or steering headers; returns its
        keep_alive, expect_continue and has_body, and forgets those headers."""
        if self._transfer_encoding and version == "1.0":
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            raise self._refused(400, "Transfer-Encoding in an HTTP/1.0 request")
        content_length = self._content_length
        if content_length > self._max_body:
            raise self._refused(413, "request body too large")
        keep_alive = persists and not (self._upgrade and self._parser.should_upgrade())
        expect_continue = self._expect_continue and version == "1.1"
        has_body = self._chunked or content_length > 0
        self._framed = False
        self._content_length = 0
        self._chunked = self._transfer_encoding = self._expect_continue = False
        self._upgrade = self._connection_header = False
        return keep_alive, expect_continue, has_body

    def on_body(self, data: bytes) -> None:
        """A piece of body, de-chunked by llhttp."""
        self._body_size += len(data)
        if self._body_size > self._max_body:  # only a chunked body can get here
            raise self._refused(413, "request body too large")
        self._events.append(BodyData(data))

    def on_message_complete(self) -> None:
        """The request is complete."""
        self._url = b""
        self._trailer_size = 0
        self._events.append(END_OF_REQUEST)
        if not self._keep_alive:
            self.finished = True  # later bytes on this connection are never read


# The request headers that decide something here, by length (each length is
# unique among them): Host, and the ones that frame or steer the request.
_SPECIAL_NAMES = {len(name): name for name in (
    b"host", b"expect", b"upgrade", b"connection", b"content-length", b"transfer-encoding")}

# Each header name seen lately, exactly as sent, and what it is here: one of
# _SPECIAL_NAMES, or b"" for any other name. Clients send the same few names
# in the same spelling on every request, and one lookup here is cheaper than
# finding a name's length among _SPECIAL_NAMES and lower-casing it when the
# length matches (measured: ~475 instructions fewer for wrk's two headers,
# bench/instructions.py's aioweb-reader; ~750 for a browser's thirteen).
# Bounded in entries and in name size, and emptied when full, as the writer's
# caches are: names made up by a client cannot grow it, nor keep it full.
_NAME_KINDS: dict[bytes, bytes] = {}
_NAME_KINDS_MAX = 512
_NAME_KIND_MAX_SIZE = 64


def _name_kind(name: bytes) -> bytes:
    """What ``name`` is here (see _NAME_KINDS), remembered if it is short."""
    special = _SPECIAL_NAMES.get(len(name))
    kind = special if special is not None and name.lower() == special else b""
    if len(name) <= _NAME_KIND_MAX_SIZE:
        if len(_NAME_KINDS) >= _NAME_KINDS_MAX:
            _NAME_KINDS.clear()
        _NAME_KINDS[name] = kind
    return kind
