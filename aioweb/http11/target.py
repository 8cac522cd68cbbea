"""The request target and the Host it names: RFC 9112 §3.2, with no I/O.

Where it sits in a request's life: the reader (``reader.py``) has the whole
head and asks, before any handler sees the request, whether its target has a
form HTTP/1.1 allows and which host it is for. A target is one of:

* origin-form, ``/path?query``: what a client sends to an origin server, the
  host given by the ``Host`` header;
* absolute-form, ``http://host:port/path?query``: what a client sends to a
  proxy, which an origin server must accept too (RFC 9112 §3.2.2), and whose
  host then overrides whatever ``Host`` says;
* asterisk-form, ``*``: ``OPTIONS`` about the server as a whole.

(authority-form, ``host:port``, is CONNECT's, which the reader refuses.) A
fragment (``#...``) belongs to none of them: it stays with the client.
"""

from __future__ import annotations

import re

import httptools

# RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code
# to any request message that contains ... a Host header field with an
# invalid field value." Host = uri-host [ ":" port ] (RFC 9110 §7.2), where
# uri-host is an IP literal in brackets, or a reg-name (which covers IPv4
# addresses): unreserved and sub-delims characters and %XX escapes, possibly
# none at all (RFC 9112 §3.2: a client sends an empty Host when the target has
# no authority). A value with spaces, slashes, "@" or a bad port is refused
# rather than passed to handlers that build URLs or route by it.
HOST_PATTERN = re.compile(
    rb"(?:\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+)\]"
    rb"|(?:[-A-Za-z0-9._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?")

# "#", where a fragment begins, as a byte value, an int: ``FRAGMENT_MARK in
# target`` costs a request ~250 instructions, ``b"#" in target`` ~2,400 on
# CPython 3.11 (measured: bench/instructions.py, aioweb-connection-uvloop).
FRAGMENT_MARK = ord("#")


def other_form_authority(target: bytes, method: str) -> bytes | None:
    """For a target that is not origin-form: the absolute-form URI's authority
    (host, and port if given), b"" for "*" (OPTIONS only), None for anything
    HTTP/1.1 does not allow (a 400)."""
    if target == b"*":
        return b"" if method == "OPTIONS" else None
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        return None
    # Read untyped: httptools' stubs say bytes and int, but a part the target
    # lacks is None (see aioweb/server/request.py).
    schema, host, port = getattr(url, "schema"), getattr(url, "host"), getattr(url, "port")
    if not schema or not host or getattr(url, "fragment"):
        return None
    if b":" in host:  # an IPv6 literal, which the parser gives without its brackets
        host = b"[" + host + b"]"
    authority: bytes = host if port is None else b"%s:%d" % (host, port)
    return authority if HOST_PATTERN.fullmatch(authority) else None


def with_host(headers: list[tuple[bytes, bytes]], authority: bytes
              ) -> list[tuple[bytes, bytes]]:
    """The headers with every Host value replaced by ``authority`` (one added
    to an HTTP/1.0 head that had none), names kept as sent: RFC 9112 §3.2.2,
    an origin server MUST ignore the Host sent with an absolute-form target."""
    if not any(name.lower() == b"host" for name, _ in headers):
        return [*headers, (b"Host", authority)]
    return [(name, authority) if name.lower() == b"host" else (name, value)
            for name, value in headers]
