"""Real frameworks, unmodified, behind the adapter: Starlette, FastAPI, Django.

JSON in and out, forms, file uploads (python-multipart), streaming and file
responses, background tasks (the response arrives before they finish), and
lifespan state reaching the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, File, Form, UploadFile
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.requests import Request as StarletteRequest
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from .conftest import Served

ServeAsgi = Callable[..., Served]


# --- Starlette ----------------------------------------------------------------

def starlette_app(tmp_path: Path, finished: threading.Event) -> Starlette:
    """A Starlette app touching each feature once."""
    document = tmp_path / "document.txt"
    document.write_bytes(b"0123456789" * 1000)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello from lifespan"}

    async def echo_json(request: StarletteRequest) -> JSONResponse:
        payload = await request.json()
        return JSONResponse({"got": payload, "greeting": request.state.greeting})

    async def form(request: StarletteRequest) -> JSONResponse:
        async with request.form() as data:
            upload = data.get("file")
            content = await upload.read() if isinstance(upload, StarletteUpload) else b""
            return JSONResponse({"name": data.get("name"), "size": len(content),
                                 "filename": getattr(upload, "filename", None)})

    async def stream(_: StarletteRequest) -> StreamingResponse:
        async def numbers() -> AsyncIterator[bytes]:
            for number in range(5):
                yield f"{number}\n".encode()
                await asyncio.sleep(0.01)
        return StreamingResponse(numbers(), media_type="text/plain")

    async def file(_: StarletteRequest) -> FileResponse:
        return FileResponse(document)

    async def slow_background() -> None:
        await asyncio.sleep(0.5)
        finished.set()

    async def background(_: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse("queued", background=BackgroundTask(slow_background))

    async def slow(_: StarletteRequest) -> PlainTextResponse:
        await asyncio.sleep(0.8)  # still running when the background task (0.5 s) ends
        return PlainTextResponse("slow")

    return Starlette(lifespan=lifespan, routes=[
        Route("/json", echo_json, methods=["POST"]), Route("/form", form, methods=["POST"]),
        Route("/stream", stream), Route("/file", file), Route("/background", background),
        Route("/slow", slow)])


@pytest.fixture(name="starlette_served")
def starlette_served_fixture(serve_asgi: ServeAsgi, tmp_path: Path
                             ) -> Iterator[tuple[Served, threading.Event]]:
    """The Starlette app, served; and the event its background task sets."""
    finished = threading.Event()
    yield serve_asgi(starlette_app(tmp_path, finished), lifespan="on"), finished


def test_starlette_json_and_lifespan_state(starlette_served: tuple[Served, threading.Event]
                                           ) -> None:
    """Starlette: a JSON body in, JSON out, with the lifespan's state on request.state."""
    served, _ = starlette_served
    response = httpx.post(served.url + "/json", json={"a": [1, 2]})
    assert response.json() == {"got": {"a": [1, 2]}, "greeting": "hello from lifespan"}


def test_starlette_form_and_upload(starlette_served: tuple[Served, threading.Event]) -> None:
    """Starlette: a urlencoded form, and a multipart upload larger than one read."""
    served, _ = starlette_served
    assert httpx.post(served.url + "/form", data={"name": "ada"}).json() == {
        "name": "ada", "size": 0, "filename": None}
    upload = b"\x00\x01binary" * 20000  # 160 KB: arrives in several reads
    response = httpx.post(served.url + "/form", data={"name": "bob"},
                          files={"file": ("data.bin", upload, "application/octet-stream")})
    assert response.json() == {"name": "bob", "size": len(upload), "filename": "data.bin"}


def test_starlette_streaming_and_file(starlette_served: tuple[Served, threading.Event]) -> None:
    """Starlette: StreamingResponse line by line; FileResponse whole and ranged."""
    served, _ = starlette_served
    with httpx.stream("GET", served.url + "/stream") as response:
        lines = list(response.iter_lines())
    assert lines == ["0", "1", "2", "3", "4"]
    response = httpx.get(served.url + "/file")
    assert response.content == b"0123456789" * 1000
    assert response.headers["content-length"] == "10000"
    assert response.headers["content-type"].startswith("text/plain")
    assert "etag" in response.headers and "last-modified" in response.headers
    ranged = httpx.get(served.url + "/file", headers={"Range": "bytes=5-14"})
    assert ranged.status_code == 206 and ranged.content == b"5678901234"


def test_starlette_response_comes_before_the_background_task_ends(
        starlette_served: tuple[Served, threading.Event]) -> None:
    """Starlette: the response arrives while its background task still runs."""
    served, finished = starlette_served
    started = time.monotonic()
    assert httpx.get(served.url + "/background").text == "queued"
    assert time.monotonic() - started < 0.4
    assert not finished.is_set()
    assert finished.wait(2)


def test_background_task_keeps_connection_usable(
        starlette_served: tuple[Served, threading.Event]) -> None:
    """Starlette: a background task ending during the next request on the connection leaves it
    usable.
    """
    served, finished = starlette_served
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/background").text == "queued"
        # The first request's app is still running its background task when
        # this one starts, and ends while this one is in flight.
        assert client.get("/slow").text == "slow"
        assert finished.is_set()
        assert client.post("/json", json=1).json()["got"] == 1


# --- FastAPI --------------------------------------------------------------------

class Item(BaseModel):
    """A JSON body, validated."""

    name: str
    price: float


def fastapi_app(finished: threading.Event) -> FastAPI:
    """A FastAPI app: validation, forms, uploads, background tasks, lifespan state."""
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"db": {"apple": 1.5}}

    app = FastAPI(lifespan=lifespan)

    @app.get("/items/{name}")
    async def read_item(name: str) -> dict[str, Any]:
        return {"name": name}

    @app.post("/items")
    async def create_item(item: Item) -> dict[str, Any]:
        return {"name": item.name, "with_tax": round(item.price * 1.2, 2)}

    @app.get("/price/{name}")
    async def price(name: str, request: StarletteRequest) -> dict[str, Any]:
        return {"price": request.state.db.get(name)}

    @app.post("/upload")
    async def upload(title: str = Form(...), file: UploadFile = File(...)) -> dict[str, Any]:
        content = await file.read()
        return {"title": title, "filename": file.filename, "size": len(content)}

    @app.post("/later")
    async def later(tasks: BackgroundTasks) -> dict[str, str]:
        async def work() -> None:
            await asyncio.sleep(0.5)
            finished.set()
        tasks.add_task(work)
        return {"status": "accepted"}

    @app.get("/sync")
    def sync_endpoint() -> dict[str, str]:  # runs in anyio's thread pool
        return {"thread": threading.current_thread().name}

    return app


def test_fastapi_app(serve_asgi: ServeAsgi) -> None:
    """FastAPI: path params, validation (and 422), lifespan state, upload, background tasks, sync
    endpoints, OpenAPI.
    """
    finished = threading.Event()
    served = serve_asgi(fastapi_app(finished), lifespan="on")
    url = served.url
    assert httpx.get(url + "/items/pear").json() == {"name": "pear"}
    assert httpx.post(url + "/items", json={"name": "pear", "price": 2}).json() == {
        "name": "pear", "with_tax": 2.4}
    invalid = httpx.post(url + "/items", json={"name": "pear"})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["body", "price"]
    assert httpx.get(url + "/price/apple").json() == {"price": 1.5}
    response = httpx.post(url + "/upload", data={"title": "t"},
                          files={"file": ("f.txt", b"x" * 70000, "text/plain")})
    assert response.json() == {"title": "t", "filename": "f.txt", "size": 70000}
    started = time.monotonic()
    assert httpx.post(url + "/later").json() == {"status": "accepted"}
    assert time.monotonic() - started < 0.4 and not finished.is_set()
    assert finished.wait(2)
    assert httpx.get(url + "/sync").json()["thread"] != "MainThread"
    assert httpx.get(url + "/openapi.json").json()["info"]["title"] == "FastAPI"
    assert httpx.get(url + "/nowhere").status_code == 404


# --- Django ---------------------------------------------------------------------

URLCONF = __name__ + "_urls"  # a module made in django_app(), for Django's URL resolver


def django_app() -> Any:
    """A Django ASGI application with two views, settings configured in-process."""
    django = pytest.importorskip("django")
    from django.conf import settings  # type: ignore[import-untyped]  # pylint: disable=import-outside-toplevel
    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="test-only", ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=URLCONF,
            MIDDLEWARE=[], INSTALLED_APPS=[], USE_TZ=True)
        django.setup()
    import sys  # pylint: disable=import-outside-toplevel
    import types  # pylint: disable=import-outside-toplevel
    from django.core.asgi import get_asgi_application  # type: ignore[import-untyped]  # pylint: disable=import-outside-toplevel
    from django.http import HttpResponse, JsonResponse  # type: ignore[import-untyped]  # pylint: disable=import-outside-toplevel
    from django.urls import path  # type: ignore[import-untyped]  # pylint: disable=import-outside-toplevel

    async def hello(request: Any) -> Any:
        return JsonResponse({"method": request.method, "path": request.path,
                             "q": request.GET.get("q"), "body": request.body.decode()})

    def sync_view(request: Any) -> Any:
        return HttpResponse(f"sync {request.META['REMOTE_ADDR']}", content_type="text/plain")

    urls = types.ModuleType(URLCONF)
    setattr(urls, "urlpatterns", [path("hello/", hello), path("sync/", sync_view)])
    sys.modules[URLCONF] = urls
    return get_asgi_application()


def test_django_views(serve_asgi: ServeAsgi) -> None:
    """Django's ASGI handler, settings configured in-process: async and sync views, 404."""
    served = serve_asgi(django_app())  # lifespan auto: Django has none, and that is fine
    response = httpx.post(served.url + "/hello/?q=1", content=b"payload")
    assert response.json() == {"method": "POST", "path": "/hello/", "q": "1", "body": "payload"}
    assert httpx.get(served.url + "/sync/").text == "sync 127.0.0.1"
    assert httpx.get(served.url + "/missing/").status_code == 404
