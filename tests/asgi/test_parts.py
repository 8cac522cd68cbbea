"""The adapter's parts on their own: lifespan, loader, proxy trust, access log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from aioweb import Handler, Request, Response
from aioweb.asgi import AsgiHandler, Lifespan, LifespanFailed, TrustedProxies
from aioweb.asgi.access_log import escape
from aioweb.asgi.loader import LoadError, detect_interface, import_from_string
from aioweb.asgi.spec import Receive, Scope, Send
from aioweb.router import Router

from .conftest import Served


def lifespan_app(startup: str = "complete", shutdown: str = "complete",
                 calls: list[str] | None = None) -> Callable[..., Any]:
    """An app whose lifespan answers as told ("complete", "failed", "raise", "silent")."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        for phase, answer in (("startup", startup), ("shutdown", shutdown)):
            message = await receive()
            if calls is not None:
                calls.append(message["type"])
            assert message["type"] == f"lifespan.{phase}"
            if phase == "startup":
                scope["state"]["ready"] = True
            if answer == "raise":
                raise RuntimeError(f"{phase} broke")
            if answer == "silent":
                await asyncio.sleep(10)
            await send({"type": f"lifespan.{phase}.{answer}", "message": f"{phase} said no"})
    return app


def test_lifespan_runs_startup_and_shutdown_with_state() -> None:
    """A lifespan that completes both phases; what startup stores is the state."""
    calls: list[str] = []
    lifespan = Lifespan(lifespan_app(calls=calls), "on")

    async def run() -> None:
        async with lifespan as state:
            assert state == {"ready": True}
            assert lifespan.supported
    asyncio.run(run())
    assert calls == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failed_is_fatal_in_every_mode(mode: Any) -> None:
    """lifespan.startup.failed is fatal in auto and on alike."""
    lifespan = Lifespan(lifespan_app(startup="failed"), mode)
    with pytest.raises(LifespanFailed, match="startup said no"):
        asyncio.run(lifespan.startup())


def test_an_app_without_lifespan_is_fine_in_auto_and_fatal_in_on(
        caplog: pytest.LogCaptureFixture) -> None:
    """An app that raises on a lifespan scope, or ignores it: fine in auto (logged at info), fatal
    in on.
    """
    async def http_only(scope: Scope, _receive: Receive, _send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"cannot handle {scope['type']}")

    caplog.set_level(logging.INFO, "aioweb.asgi")
    auto = Lifespan(http_only, "auto")
    asyncio.run(auto.startup())
    assert auto.supported is False
    assert "unsupported" in caplog.text and not [r for r in caplog.records
                                                  if r.levelno >= logging.ERROR]
    with pytest.raises(LifespanFailed):
        asyncio.run(Lifespan(http_only, "on").startup())

    async def ignores_it(_scope: Scope, _receive: Receive, _send: Send) -> None:
        return None

    quiet = Lifespan(ignores_it, "auto")
    asyncio.run(quiet.startup())
    assert quiet.supported is False


def test_lifespan_off_never_calls_the_app() -> None:
    """--lifespan off: the app never sees a lifespan scope."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("called")

    lifespan = Lifespan(app, "off")
    asyncio.run(lifespan.startup())
    asyncio.run(lifespan.shutdown())
    assert lifespan.supported is False


@pytest.mark.parametrize(("answer", "message"), [("failed", "shutdown said no"),
                                                  ("raise", "shutdown broke"),
                                                  ("silent", "no answer")])
def test_a_failed_shutdown_is_reported(answer: str, message: str) -> None:
    """A shutdown that fails, raises or never answers is reported."""
    lifespan = Lifespan(lifespan_app(shutdown=answer), "auto")

    async def run() -> None:
        await lifespan.startup()
        await lifespan.shutdown(timeout=0.2)
    with pytest.raises(LifespanFailed, match=message):
        asyncio.run(run())


def test_starlette_startup_exception_fails_startup() -> None:
    """A Starlette lifespan that raises at startup fails the startup."""
    @contextlib.asynccontextmanager
    async def broken(_: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pylint: disable=unreachable

    with pytest.raises(LifespanFailed, match="no database"):
        asyncio.run(Lifespan(Starlette(lifespan=broken), "auto").startup())


def test_lifespan_modes_are_checked() -> None:
    """Only auto, on and off are modes."""
    with pytest.raises(ValueError):
        Lifespan(lifespan_app(), "sometimes")  # type: ignore[arg-type]


# --- loader -----------------------------------------------------------------

class AsgiClass:
    """An ASGI app as a callable object."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Never called here."""


class NativeHandler(Handler):
    """A native handler as a Handler subclass."""

    async def handle(self, request: Request) -> Response:
        return Response("native")


async def native_function(_request: Request) -> Response:
    """A native handler as a function."""
    return Response("native")


async def asgi_function(_scope: Scope, _receive: Receive, _send: Send) -> None:
    """An ASGI app as a function."""


@pytest.mark.parametrize(("app", "expected"), [
    (NativeHandler(), "native"), (Router(), "native"), (native_function, "native"),
    (asgi_function, "asgi"), (AsgiClass(), "asgi"), (Starlette(), "asgi"),
    (AsgiHandler(asgi_function), "native"),
])
def test_interface_detection(app: Any, expected: str) -> None:
    """ASGI (three arguments) and native (a Handler, or one-argument coroutine function) are told
    apart.
    """
    assert detect_interface(app) == expected


@pytest.mark.parametrize("app", [lambda request: None, AsgiClass, 42,
                                 lambda scope, receive: None])
def test_what_is_neither_is_refused(app: Any) -> None:
    """Sync one-argument callables, classes, non-callables and two-argument callables are refused.

    """
    with pytest.raises(LoadError):
        detect_interface(app)


@pytest.mark.parametrize("target", ["no_colon", ":app", "json:", "json:nothing_here",
                                    "no_such_module_xyz:app"])
def test_bad_import_strings(target: str) -> None:
    """Malformed targets, missing modules and missing attributes are load errors."""
    with pytest.raises(LoadError):
        import_from_string(target)


def test_import_string_reaches_nested_attributes() -> None:
    """``module:a.b`` follows attributes."""
    assert import_from_string("os.path:join.__name__") == "join"


# --- proxies ------------------------------------------------------------------

def test_trusted_proxies() -> None:
    """Trusted proxies: addresses, networks, names, ``*``, ``unix:``; the client from X-Forwarded-
    For.
    """
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8, ::1, proxy.local")
    assert "127.0.0.1" in trusted and "10.200.3.4" in trusted and "::1" in trusted
    assert "proxy.local" in trusted and "11.0.0.1" not in trusted and "garbage" not in trusted
    assert not trusted.peer_trusted(None)
    assert TrustedProxies("unix:").peer_trusted(None)
    assert TrustedProxies("*").peer_trusted(("8.8.8.8", 1))
    assert trusted.client_from("1.1.1.1, 10.0.0.5") == "1.1.1.1"
    assert trusted.client_from(" , ") is None
    headers = [(b"X-Forwarded-Proto", b"gopher"), (b"X-Forwarded-For", b"2.2.2.2")]
    assert trusted.apply(("127.0.0.1", 5), headers, "http") == (("2.2.2.2", 0), "http")


# --- access log ------------------------------------------------------------------

def test_escape_neutralises_control_characters() -> None:
    """Control characters, quotes and backslashes are escaped; other text is kept."""
    assert escape('/a\nb\r"c\\\x1b') == "/a\\x0ab\\x0d\\x22c\\x5c\\x1b"
    assert escape("/plain/é") == "/plain/é"


def test_access_log_lines(serve_asgi: Callable[..., Served],
                          caplog: pytest.LogCaptureFixture) -> None:
    """The access log: one line per response, with the status the app sent (or 500), the path
    escaped.
    """
    async def app(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/boom":
            raise ValueError("boom")
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})

    caplog.set_level(logging.INFO, "aioweb.access")
    served = serve_asgi(app, access_log=True)
    httpx.get(served.url + "/fine?q=1")
    httpx.get(served.url + "/evil%0A127.0.0.1%20-%20%22GET%20/admin")
    httpx.get(served.url + "/boom")
    lines = [r.getMessage() for r in caplog.records if r.name == "aioweb.access"]
    assert len(lines) == 3
    assert lines[0].endswith('"GET /fine?q=1 HTTP/1.1" 201')
    assert "\n" not in lines[1] and "\\x0a127.0.0.1 - \\x22GET /admin" in lines[1]
    assert lines[2].endswith('"GET /boom HTTP/1.1" 500')


def test_eager_is_the_callers_choice(serve_asgi: Callable[..., Served]) -> None:
    """By default an ASGI app starts in a Task of its own (anyio needs one);
    ``eager=True`` runs it in the callback that read the request, with no Task
    until it waits."""
    tasks: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        tasks.append(asyncio.current_task())
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    assert not AsgiHandler(app).runs_eagerly and AsgiHandler(app, eager=True).runs_eagerly
    for eager in (False, True):
        served = serve_asgi(app, eager=eager)
        assert httpx.get(served.url).text == "ok"
    assert tasks[0] is not None and tasks[1] is None
