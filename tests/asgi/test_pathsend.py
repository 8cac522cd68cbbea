"""The http.response.pathsend extension: the app names a file, the server sends it.

Raw apps and Starlette's FileResponse over real sockets, on uvloop and on
asyncio's loop: the file arrives whole (framed by the app's Content-Length,
or chunked without one), HEAD sends none of it, a file the client reads
slowly is read no faster, a path that cannot be sent is the app's 500, and no
file stays open afterwards.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse
from starlette.routing import Route

from aioweb.asgi.spec import Message, Receive, Scope, Send

from .conftest import Served, wait_until

AppFactory = Callable[..., Served]


@pytest.fixture(name="serve", params=["uvloop", "asyncio"])
def serve_fixture(request: pytest.FixtureRequest, serve_asgi: AppFactory) -> AppFactory:
    """serve_asgi on each event loop."""
    return functools.partial(serve_asgi, loop=request.param)


@pytest.fixture(name="data_file")
def data_file_fixture(tmp_path: Path) -> Path:
    """A 1 MiB file of varied bytes (a shifted block would show)."""
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(1 << 20))
    return path


def open_descriptors_to(path: Path) -> list[str]:
    """This process's file descriptors open on ``path`` (the servers run in it)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                found.append(fd)
        except OSError:  # closed meanwhile (listdir's own descriptor)
            pass
    return found


def pathsend_app(path: Path | str, *, length: int | None = None,
                 sent: list[Message] | None = None) -> Callable[[Scope, Receive, Send], Any]:
    """An app that answers with the file at ``path``, declaring ``length`` if given."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/octet-stream")]
        if length is not None:
            headers.append((b"content-length", b"%d" % length))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        message = {"type": "http.response.pathsend", "path": str(path)}
        await send(message)
        if sent is not None:
            sent.append(message)
    return app


def test_every_scope_offers_the_extension(serve: AppFactory) -> None:
    """scope["extensions"] names http.response.pathsend (frameworks look for it there)."""
    seen: list[Scope] = []

    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(scope)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body"})

    assert httpx.get(serve(app).url).status_code == 204
    assert seen[0]["extensions"] == {"http.response.pathsend": {}}


def test_the_file_arrives_whole_with_the_apps_length(serve: AppFactory, data_file: Path) -> None:
    """A 1 MiB file, framed by the app's Content-Length, three times on one
    connection; send() returns once it is out; the file is closed after."""
    size = data_file.stat().st_size
    sent: list[Message] = []
    served = serve(pathsend_app(data_file, length=size, sent=sent))
    with httpx.Client(base_url=served.url) as client:
        for _ in range(3):  # on one connection, kept alive
            response = client.get("/")
            assert response.status_code == 200
            assert response.headers["content-length"] == str(size)
            assert "transfer-encoding" not in response.headers
            assert response.content == data_file.read_bytes()
    assert wait_until(lambda: len(sent) == 3)  # send() returned once the file was out
    assert wait_until(lambda: not open_descriptors_to(data_file))


def test_without_a_length_the_file_is_chunked(serve: AppFactory, data_file: Path) -> None:
    """No Content-Length from the app: the file goes out chunked, whole."""
    response = httpx.get(serve(pathsend_app(data_file)).url)
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.content == data_file.read_bytes()
    assert wait_until(lambda: not open_descriptors_to(data_file))


def test_head_sends_no_body_and_closes_the_file(serve: AppFactory, data_file: Path,
                                                raw_exchange: Any) -> None:
    """HEAD: the head with the app's length, no byte of the file, the file closed."""
    size = data_file.stat().st_size
    served = serve(pathsend_app(data_file, length=size))
    received, _ = raw_exchange(served, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=0.5)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: %d" % size in head
    assert body == b""
    assert wait_until(lambda: not open_descriptors_to(data_file))


def test_a_file_longer_than_its_length_is_not_sent_past_it(
        serve: AppFactory, data_file: Path, raw_exchange: Any) -> None:
    """A file longer than the length the app declared: nothing past the length
    is sent, and the connection closes."""
    served = serve(pathsend_app(data_file, length=1000))
    received, closed = raw_exchange(served, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed  # what came is short of the length: the client can tell it is cut
    body = received.partition(b"\r\n\r\n")[2]
    assert len(body) < 1000 and data_file.read_bytes().startswith(body)
    assert wait_until(lambda: not open_descriptors_to(data_file))


@pytest.mark.parametrize("path", ["missing.bin", "relative/data.bin", ""])
def test_a_path_that_cannot_be_sent_is_the_apps_500(serve: AppFactory, tmp_path: Path,
                                                    path: str, caplog: Any) -> None:
    """A missing file, a relative path: send() raises into the app before a
    byte is written, so the client gets a 500 and the server goes on serving."""
    target = tmp_path / path if path == "missing.bin" else path
    served = serve(pathsend_app(target))
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/").status_code == 500
        assert client.get("/").status_code == 500  # the same connection, still served
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.name.startswith("aioweb")]
    assert len(errors) == 2 and all(r.exc_info for r in errors)


def test_pathsend_cannot_follow_body_nor_come_first(serve: AppFactory, data_file: Path,
                                                    raw_exchange: Any) -> None:
    """Before http.response.start it is an error (500); after body it is
    too (the head is out, so the connection closes on the part sent)."""
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/first":
            await send({"type": "http.response.pathsend", "path": str(data_file)})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        await send({"type": "http.response.pathsend", "path": str(data_file)})

    served = serve(app)
    assert httpx.get(served.url + "/first").status_code == 500
    received, closed = raw_exchange(served, b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed
    assert received.endswith(b"\r\n\r\n4\r\npart\r\n")  # chunked, without its last chunk
    assert not open_descriptors_to(data_file)


def test_a_slow_reader_holds_the_file_back(serve: AppFactory, tmp_path: Path) -> None:
    """The file is read as the client reads: while it reads nothing, the
    server's read position stays far behind the end of a 32 MiB file."""
    path = tmp_path / "large.bin"
    size = 32 << 20
    path.write_bytes(b"z" * size)
    served = serve(pathsend_app(path, length=size))
    with socket.create_connection((served.host, served.port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert wait_until(lambda: bool(open_descriptors_to(path)))
        time.sleep(0.3)
        positions = [_read_position(fd) for fd in open_descriptors_to(path)]
        assert positions and max(positions) < size // 2, positions
        total = 0
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
    assert total > size  # the head and the whole file
    assert wait_until(lambda: not open_descriptors_to(path))


def _read_position(fd: str) -> int:
    with open(f"/proc/self/fdinfo/{fd}", encoding="ascii") as info:
        return int(info.readline().split()[1])  # "pos:\t<offset>"


def test_starlette_file_response_is_sent_by_path(serve: AppFactory, data_file: Path) -> None:
    """Starlette's FileResponse uses the extension when offered; the client
    gets the same file, headers and ranges as without it."""
    messages: list[str] = []

    async def file(_: StarletteRequest) -> FileResponse:
        return FileResponse(data_file)

    starlette = Starlette(routes=[Route("/file", file)])

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            if scope["type"] == "http":
                messages.append(message["type"])
            await send(message)
        await starlette(scope, receive, noting)

    served = serve(recording)
    response = httpx.get(served.url + "/file")
    assert response.status_code == 200
    assert response.content == data_file.read_bytes()
    assert response.headers["content-length"] == str(data_file.stat().st_size)
    assert "etag" in response.headers
    assert messages == ["http.response.start", "http.response.pathsend"]
    ranged = httpx.get(served.url + "/file", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == data_file.read_bytes()[10:20]
    assert wait_until(lambda: not open_descriptors_to(data_file))
