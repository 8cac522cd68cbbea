"""The same app on uvicorn and on aioweb must answer the same requests the same way.

Status, every header but the two each server writes for itself (Date and
Server), and the body, for a spread of requests: JSON, validation errors,
redirects, cookies, forms, uploads, streaming, files, HEAD, odd paths.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from .conftest import Served

SERVER_OWN_HEADERS = {"date", "server"}


def the_app(directory: Path) -> FastAPI:
    """A FastAPI app with one endpoint per kind of answer."""
    (directory / "file.bin").write_bytes(bytes(range(256)) * 400)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"started": True}

    app = FastAPI(lifespan=lifespan)

    @app.get("/json")
    async def json_endpoint(request: Request, q: str = "") -> dict[str, Any]:
        return {"q": q, "path": request.url.path, "started": request.state.started,
                "query": request.url.query}

    @app.post("/json")
    async def post_json(payload: dict[str, int]) -> dict[str, int]:
        return {key: value * 2 for key, value in payload.items()}

    @app.get("/cookies")
    async def cookies(response: Response) -> str:
        response.set_cookie("a", "1")
        response.set_cookie("b", "2", httponly=True)
        response.headers["x-custom"] = "yes"
        return "with cookies"

    @app.get("/redirect")
    async def redirect() -> RedirectResponse:
        return RedirectResponse("/json?q=moved", status_code=307)

    @app.get("/teapot", status_code=418)
    async def teapot() -> dict[str, str]:
        return {"short": "and stout"}

    @app.delete("/nothing", status_code=204)
    async def nothing() -> None:
        return None

    @app.post("/upload")
    async def upload(name: str = Form(...), file: UploadFile = File(...)) -> dict[str, Any]:
        data = await file.read()
        return {"name": name, "size": len(data), "sum": sum(data) % 9973}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for index in range(20):
                yield f"part {index}\n".encode() * 50
                await asyncio.sleep(0)
        return StreamingResponse(parts(), media_type="text/plain")

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(directory / "file.bin")

    @app.get("/big")
    async def big() -> Response:
        return Response(b"z" * 300_000, media_type="application/octet-stream")

    @app.get("/path/{rest:path}")
    async def echo_path(rest: str, request: Request) -> dict[str, Any]:
        return {"rest": rest, "raw": request.scope["raw_path"].decode("latin-1")}

    return app


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/json?q=%C3%A9t%C3%A9&x=1&x=2", {}),
    ("POST", "/json", {"json": {"a": 1, "b": 2}}),
    ("POST", "/json", {"json": {"a": "not a number"}}),
    ("POST", "/json", {"content": b"{broken", "headers": {"content-type": "application/json"}}),
    ("GET", "/cookies", {}),
    ("GET", "/redirect", {}),
    ("GET", "/teapot", {}),
    ("DELETE", "/nothing", {}),
    ("PUT", "/json", {}),
    ("GET", "/missing", {}),
    ("POST", "/upload", {"data": {"name": "n"},
                         "files": {"file": ("f.bin", bytes(range(256)) * 300, "x/y")}}),
    ("GET", "/stream", {}),
    ("GET", "/file", {}),
    ("GET", "/file", {"headers": {"range": "bytes=100-199"}}),
    ("HEAD", "/file", {}),
    ("GET", "/big", {}),
    ("GET", "/path/a%20b/c%2Fd/%E2%9C%93", {}),
    ("OPTIONS", "/json", {}),
]


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """What must match: status, headers (not Date/Server), body."""
    headers = sorted((name.lower(), value) for name, value in response.headers.multi_items()
                     if name.lower() not in SERVER_OWN_HEADERS)
    return response.status_code, headers, response.content


def test_same_answers_as_uvicorn(serve_asgi: Callable[..., Served],
                                 serve_uvicorn: Callable[[Any], str], tmp_path: Path) -> None:
    """Status, headers (but Date and Server) and body match uvicorn's for every request in
    REQUESTS.
    """
    app = the_app(tmp_path)
    uvicorn_url, aioweb_url = serve_uvicorn(app), serve_asgi(app, lifespan="on").url
    mismatches = []
    for method, path, options in REQUESTS:
        expected = comparable(httpx.request(method, uvicorn_url + path, **options))
        actual = comparable(httpx.request(method, aioweb_url + path, **options))
        for part, want, got in zip(("status", "headers", "body"), expected, actual):
            if want != got:
                mismatches.append(f"{method} {path} {part}: uvicorn {want!r} aioweb {got!r}")
    assert not mismatches, "\n".join(mismatches)
