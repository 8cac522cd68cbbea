"""gzip for responses: when to compress, and how (RFC 9110 §8.4, §12.5.3).

A response is compressed when the client's Accept-Encoding allows gzip, its
type is text-like (compressing JPEG or zip data wastes CPU for nothing), it
has no Content-Encoding already, it is not a range of a representation (a 206,
or any response with Content-Range: the range is counted in the bytes of the
uncompressed representation, RFC 9110 §14.4), and it is big enough to be
worth it.

Compressing changes the representation (RFC 9110 §8.4.1), so the headers
change with it (:func:`gzip_headers`): ``Content-Encoding: gzip``; a strong
ETag becomes weak (§8.8.3: a strong validator promises identical bytes, and
If-Range would splice bytes of two different representations); ``Vary:
Accept-Encoding`` tells caches that another client may get other bytes. The
plain copy says so too when only the client's Accept-Encoding kept it plain
(:func:`negotiate`).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable

# Types that shrink: text and the structured-text formats.
_COMPRESSIBLE_PREFIXES = ("text/", "application/json", "application/javascript",
                          "application/xml", "image/svg+xml")
_COMPRESSIBLE_SUFFIXES = ("+json", "+xml")


def accepts_gzip(request_headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether Accept-Encoding allows gzip (RFC 9110 §12.5.3).

    An explicit ``gzip`` entry decides; failing that, ``*`` does. A q-value
    of 0 means "not acceptable".
    """
    wildcard = False
    for name, value in request_headers:
        if len(name) != 15 or name.lower() != b"accept-encoding":
            continue
        for item in value.lower().split(b","):
            coding, _, params = item.partition(b";")
            coding = coding.strip()
            if coding == b"gzip":
                return _q_value(params) > 0
            if coding == b"*":
                wildcard = _q_value(params) > 0
    return wildcard


def _q_value(params: bytes) -> float:
    params = params.replace(b" ", b"")
    if not params.startswith(b"q="):
        return 1.0
    try:
        return float(params[2:])
    except ValueError:
        return 0.0


def negotiate(status: int, headers: Iterable[tuple[str | bytes, str | bytes]],
              request_headers: list[tuple[bytes, bytes]]
              ) -> tuple[bool, list[tuple[str, str]] | None]:
    """Whether to gzip a response, and the headers to send instead of its own.

    ``(True, headers)`` to gzip (see :func:`gzip_headers`); ``(False, None)``
    when the response is not worth compressing, so nothing about the request
    changed it; ``(False, headers)`` when it would have been gzipped for a
    client that accepts gzip: sent plain, it still says ``Vary:
    Accept-Encoding``, or a cache would hand this plain copy to that client
    and never know (RFC 9110 §12.5.5).
    """
    pairs = _as_text(headers)
    if not _worth_compressing(status, pairs):
        return False, None
    if not accepts_gzip(request_headers):
        return False, _with_vary(pairs)
    return True, _gzipped(pairs)


def gzip_headers(status: int, headers: Iterable[tuple[str | bytes, str | bytes]]
                 ) -> list[tuple[str, str]] | None:
    """The response's headers once its body is gzipped, or None to send it as it is.

    None for a 206, a response with Content-Range or Content-Encoding, and
    types that do not shrink (or should not: an event stream). Otherwise:
    ``Content-Encoding: gzip`` is added, a strong ETag ``"x"`` becomes
    ``W/"x"``, Vary gets Accept-Encoding unless it names it (or ``*``)
    already, and a Content-Length is dropped (the container frames the
    compressed body).
    """
    pairs = _as_text(headers)
    return _gzipped(pairs) if _worth_compressing(status, pairs) else None


def _gzipped(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    pairs = [("content-encoding", "gzip")]
    for name, value in headers:
        lowered = name.lower()
        if lowered == "etag" and value.startswith('"'):
            value = "W/" + value
        elif lowered == "content-length":
            continue
        pairs.append((name, value))
    return _with_vary(pairs)


def _with_vary(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` with Accept-Encoding in Vary: added, unless Vary names it (or ``*``)."""
    for name, value in headers:
        if name.lower() == "vary" and any(item.strip().lower() in ("accept-encoding", "*")
                                          for item in value.split(",")):
            return headers
    return [*headers, ("vary", "Accept-Encoding")]


def _as_text(headers: Iterable[tuple[str | bytes, str | bytes]]) -> list[tuple[str, str]]:
    """Bytes pairs as text (off the hot path: compressing costs far more). The
    headers were checked already (writer.encode_headers): each part is bytes or str."""
    return [(_text(name), _text(value)) for name, value in headers]


def _text(part: str | bytes) -> str:
    return part.decode("latin-1") if isinstance(part, bytes) else part


def _worth_compressing(status: int, headers: list[tuple[str, str]]) -> bool:
    """A type that shrinks, not encoded yet, and not a byte range (a 206, or any
    response with Content-Range: it counts the bytes of the uncompressed
    representation)."""
    if status == 206:
        return False
    content_type = ""
    for name, value in headers:
        lowered = name.lower()
        if lowered in ("content-encoding", "content-range"):
            return False
        if lowered == "content-type":
            content_type = value.split(";", 1)[0].strip().lower()
    if content_type == "text/event-stream":
        # Text, but a stream of small events that must each arrive at once:
        # compressing them saves little, and a proxy that buffers to
        # compress better would hold them back.
        return False
    return (content_type.startswith(_COMPRESSIBLE_PREFIXES)
            or content_type.endswith(_COMPRESSIBLE_SUFFIXES))


def gzip_body(body: bytes, level: int) -> bytes:
    """A whole body compressed; mtime=0 keeps the output the same for the same input."""
    return gzip.compress(body, compresslevel=level, mtime=0)


class GzipStream:
    """Compresses a streamed body chunk by chunk.

    Each chunk is flushed (Z_SYNC_FLUSH) so the client can decompress what it
    has so far: a streamed response must stay a stream, not wait in zlib.
    """

    def __init__(self, level: int) -> None:
        # wbits=31: zlib's way of asking for a gzip header and trailer.
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, 31)

    def compress(self, chunk: bytes) -> bytes:
        """The compressed form of ``chunk`` (may be empty)."""
        return self._zlib.compress(chunk) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        """The gzip trailer."""
        return self._zlib.flush(zlib.Z_FINISH)
