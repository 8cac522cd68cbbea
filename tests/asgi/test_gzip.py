"""The core's gzip under an ASGI app, on the wire: what it must leave alone, and
what it must change along with the bytes (RFC 9110 §8.4, §8.8.3, §12.5.5, §14.4).

The CLI leaves gzip off for ASGI apps (docs/asgi.md); these servers turn it on,
as ``--gzip`` does, and read the raw response so that every header line counts.

The server takes a compressed response's headers from
``compression.gzip_headers`` (aioweb/server/respond.py), for whole and for
streamed bodies alike.
"""

from __future__ import annotations

import gzip
import socket
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

from aioweb.asgi.spec import Receive, Scope, Send
from aioweb.http11 import compression

TEXT = b"".join(b"line %04d of a text that compresses well\n" % i for i in range(100))
STRONG_ETAG = '"v1-abc"'

# path -> (status, extra headers); every response is text/plain, TEXT or a slice of it.
ROUTES: dict[bytes, tuple[int, list[tuple[bytes, bytes]]]] = {
    b"/plain": (200, []),
    b"/range": (206, [(b"content-range", b"bytes 100-%d/%d" % (len(TEXT) + 99, len(TEXT) + 500))]),
    b"/range-no-header": (206, []),
    b"/encoded": (200, [(b"content-encoding", b"identity-ish")]),
    b"/etag": (200, [(b"etag", STRONG_ETAG.encode())]),
    b"/weak-etag": (200, [(b"etag", b'W/"v1-abc"')]),
    b"/vary": (200, [(b"vary", b"Accept-Encoding")]),
    b"/vary-origin": (200, [(b"vary", b"Origin")]),
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """TEXT as text/plain, with the status and headers ROUTES gives its path."""
    if scope["type"] != "http":
        return
    await receive()
    status, extra = ROUTES[scope["raw_path"]]
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", b"%d" % len(TEXT)), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    # A HEAD is answered as Starlette answers it: the GET's headers, no body.
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else TEXT})


class Reply:
    """A raw HTTP/1.1 response: status, header lines in order, body."""

    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = [(name.strip().lower(), value.strip())
                        for name, _, value in (line.partition(":") for line in lines[1:])]

    def all(self, name: str) -> list[str]:
        """Every value of ``name``, one per field line."""
        return [value for key, value in self.headers if key == name]

    def one(self, name: str) -> str | None:
        """The value of ``name`` (None when absent; two lines fail the test)."""
        values = self.all(name)
        assert len(values) <= 1, f"{name} appears {len(values)} times"
        return values[0] if values else None

    def text(self) -> bytes:
        """The body with its content coding undone."""
        return gzip.decompress(self.body) if self.one("content-encoding") == "gzip" else self.body


def fetch(served: Any, path: bytes, extra: bytes = b"", method: bytes = b"GET") -> Reply:
    """GET ``path`` asking for gzip, on a connection the server then closes."""
    with socket.create_connection((served.host, served.port), timeout=5) as sock:
        sock.sendall(b"%s %s HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n%s"
                     b"Connection: close\r\n\r\n" % (method, path, extra))
        data = bytearray()
        while chunk := sock.recv(65536):
            data += chunk
    return Reply(bytes(data))


@pytest.fixture(name="served")
def fixture_served(serve_asgi: Any) -> Any:
    """The app above with the core's gzip on (``--gzip``)."""
    return serve_asgi(app, gzip=True)


def test_plain_text_is_gzipped_with_vary(served: Any) -> None:
    """The baseline: a large text body is gzipped, and says it varies on Accept-Encoding."""
    reply = fetch(served, b"/plain")
    assert reply.one("content-encoding") == "gzip"
    assert [v.lower() for v in reply.all("vary")] == ["accept-encoding"]
    assert int(reply.one("content-length") or -1) == len(reply.body) < len(TEXT)
    assert reply.text() == TEXT


def test_head_announces_the_gzip_of_its_get(served: Any) -> None:
    """A HEAD answered as frameworks answer it (the GET's Content-Length, no body) says
    what its GET says: gzip, Vary; and no Content-Length, which only compressing
    would tell (RFC 9110 §9.3.2), nor a Transfer-Encoding the GET does not use."""
    head = fetch(served, b"/plain", method=b"HEAD")
    get = fetch(served, b"/plain")
    assert head.one("content-encoding") == get.one("content-encoding") == "gzip"
    assert head.one("vary") == get.one("vary") == "Accept-Encoding"
    assert head.one("content-length") is None and head.one("transfer-encoding") is None
    assert head.body == b"" and get.text() == TEXT


def test_range_response_not_gzipped(served: Any) -> None:
    """A 206 with Content-Range goes as the app sent it: the range counts the
    bytes of the uncompressed representation (RFC 9110 §14.4)."""
    reply = fetch(served, b"/range")
    assert reply.status == 206
    assert reply.one("content-encoding") is None
    assert reply.one("content-range") == f"bytes 100-{len(TEXT) + 99}/{len(TEXT) + 500}"
    assert reply.body == TEXT


def test_206_without_content_range_not_gzipped(served: Any) -> None:
    """A 206 is a part of a representation even when the app forgot its Content-Range."""
    reply = fetch(served, b"/range-no-header")
    assert reply.status == 206
    assert reply.one("content-encoding") is None
    assert reply.body == TEXT


def test_already_encoded_not_gzipped_again(served: Any) -> None:
    """A response with a Content-Encoding of its own keeps it, and its bytes."""
    reply = fetch(served, b"/encoded")
    assert reply.one("content-encoding") == "identity-ish"
    assert reply.body == TEXT


def test_strong_etag_never_labels_gzipped_bytes(served: Any) -> None:
    """A strong ETag promises these exact bytes (RFC 9110 §8.8.3): either the
    body is the app's and the ETag too, or it is gzipped and the ETag weak."""
    reply = fetch(served, b"/etag")
    if reply.one("content-encoding") == "gzip":
        assert reply.one("etag") == "W/" + STRONG_ETAG
    else:
        assert reply.one("etag") == STRONG_ETAG
    assert reply.text() == TEXT


def test_strong_etag_weakened_when_gzipped(served: Any) -> None:
    """Compressing is not given up for a strong ETag: the ETag is weakened instead."""
    reply = fetch(served, b"/etag")
    assert reply.one("content-encoding") == "gzip"
    assert reply.one("etag") == "W/" + STRONG_ETAG
    assert reply.text() == TEXT


def test_weak_etag_kept_when_gzipped(served: Any) -> None:
    """A weak ETag already allows other bytes of the same meaning: it stays as it is."""
    reply = fetch(served, b"/weak-etag")
    assert reply.one("content-encoding") == "gzip"
    assert reply.one("etag") == 'W/"v1-abc"'
    assert reply.text() == TEXT


def test_vary_accept_encoding_not_repeated(served: Any) -> None:
    """An app that says Vary: Accept-Encoding already gets no second one."""
    reply = fetch(served, b"/vary")
    assert reply.one("content-encoding") == "gzip"
    assert [v.lower() for v in reply.all("vary")] == ["accept-encoding"]


def test_vary_keeps_the_apps_own(served: Any) -> None:
    """Vary: Origin stays, and Accept-Encoding is added to the list."""
    reply = fetch(served, b"/vary-origin")
    assert reply.one("content-encoding") == "gzip"
    named = {item.strip().lower() for value in reply.all("vary") for item in value.split(",")}
    assert named == {"origin", "accept-encoding"}


def test_starlette_file_response_ranges(serve_asgi: Any, tmp_path: Path) -> None:
    """Starlette's FileResponse with gzip on: a Range request gets the app's
    exact 206 bytes; the whole file is gzipped only under a weak ETag."""
    (tmp_path / "notes.txt").write_bytes(TEXT)

    async def notes(_request: Any) -> FileResponse:
        return FileResponse(tmp_path / "notes.txt", media_type="text/plain")

    served = serve_asgi(Starlette(routes=[Route("/notes.txt", notes)]), gzip=True)
    part = fetch(served, b"/notes.txt", b"Range: bytes=0-1999\r\n")
    assert part.status == 206
    assert part.one("content-encoding") is None
    assert part.one("content-range") == f"bytes 0-1999/{len(TEXT)}"
    assert part.body == TEXT[:2000]
    whole = fetch(served, b"/notes.txt")
    etag = whole.one("etag")
    assert whole.status == 200 and etag is not None
    assert whole.one("content-encoding") is None or etag.startswith("W/")
    assert whole.text() == TEXT


# --- the same rules without sockets: compression.gzip_headers -----------------

TEXT_TYPE = ("content-type", "text/plain")


@pytest.mark.parametrize("status,headers", [
    (206, [TEXT_TYPE]),
    (200, [TEXT_TYPE, ("Content-Range", "bytes 0-9/100")]),
    (200, [TEXT_TYPE, ("Content-Encoding", "br")]),
    (200, [("content-type", "image/png")]),
], ids=["206", "content-range", "encoded", "image"])
def test_gzip_headers_refuses(status: int, headers: list[tuple[str, str]]) -> None:
    """Ranges, encoded bodies and types that do not shrink are sent as they are."""
    assert compression.gzip_headers(status, headers) is None


@pytest.mark.parametrize("headers,expected", [
    ([TEXT_TYPE], [("content-encoding", "gzip"), TEXT_TYPE, ("vary", "Accept-Encoding")]),
    ([TEXT_TYPE, ("ETag", '"x"'), ("content-length", "9")],
     [("content-encoding", "gzip"), TEXT_TYPE, ("ETag", 'W/"x"'), ("vary", "Accept-Encoding")]),
    ([TEXT_TYPE, ("etag", 'W/"x"'), ("Vary", "Origin, accept-encoding")],
     [("content-encoding", "gzip"), TEXT_TYPE, ("etag", 'W/"x"'),
      ("Vary", "Origin, accept-encoding")]),
    ([TEXT_TYPE, ("vary", "*")], [("content-encoding", "gzip"), TEXT_TYPE, ("vary", "*")]),
], ids=["plain", "strong-etag", "weak-etag-and-vary", "vary-star"])
def test_gzip_headers_rewrites(headers: list[tuple[str, str]],
                               expected: list[tuple[str, str]]) -> None:
    """Content-Encoding added, a strong ETag weakened, Vary completed once, the
    Content-Length dropped (the compressed body has its own)."""
    assert compression.gzip_headers(200, headers) == expected


@pytest.mark.parametrize("headers,accept,expected", [
    ([TEXT_TYPE], b"gzip", (True, [("content-encoding", "gzip"), TEXT_TYPE,
                                   ("vary", "Accept-Encoding")])),
    ([(b"content-type", b"text/plain")], b"identity",
     (False, [TEXT_TYPE, ("vary", "Accept-Encoding")])),
    ([TEXT_TYPE, ("vary", "Accept-Encoding")], b"identity",
     (False, [TEXT_TYPE, ("vary", "Accept-Encoding")])),
    ([("content-type", "image/png")], b"gzip", (False, None)),
], ids=["accepted", "refused-bytes-pairs", "refused-vary-already", "not-worth-it"])
def test_negotiate(headers: list[Any], accept: bytes,
                   expected: tuple[bool, list[tuple[str, str]] | None]) -> None:
    """gzip when accepted; plain but varying when only the client said no; plain and
    unchanged when the response is not worth compressing."""
    request = [(b"Host", b"t"), (b"Accept-Encoding", accept)]
    assert compression.negotiate(200, headers, request) == expected
