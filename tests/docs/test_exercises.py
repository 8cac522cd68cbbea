"""Checks for the exercises at the end of ``docs/walkthrough.md``.

By default they run against the reference solutions in
``docs/exercises/solutions/``, so that CI keeps them correct. To check your
own answers, point ``AIOWEB_EXERCISES`` at the directory holding your files
(named as the starters in ``docs/exercises/``)::

    AIOWEB_EXERCISES=docs/exercises .venv/bin/pytest tests/docs/test_exercises.py
    AIOWEB_EXERCISES=~/my-answers .venv/bin/pytest tests/docs/test_exercises.py -k time_limit

An exercise whose file is missing from that directory is skipped. The tests
of an exercise's behaviour run a real server on port 0 (on asyncio's loop and
on uvloop's) and talk to it over a socket.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from aioweb import Handler, HttpError, Request, Response

from .support import Client, ServerThread, poll

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTERS = PROJECT_ROOT / "docs" / "exercises"
SOLUTIONS = STARTERS / "solutions"
EXERCISES = ("add_header", "time_limit", "event_stream", "upload_counter")

RunServer = Callable[..., ServerThread]


def load(name: str) -> ModuleType:
    """The learner's module for an exercise, or the reference solution by default."""
    directory = Path(os.environ.get("AIOWEB_EXERCISES") or SOLUTIONS).expanduser()
    path = directory / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{path} does not exist: exercise not attempted")
    module_name = f"aioweb_exercise_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and typing look modules up here
    spec.loader.exec_module(module)
    return module


# --- exercise 1: a header on every response --------------------------------

SHARED = Response(b"shared", headers={"X-Inner": "1"})


async def _varied(request: Request) -> Response | bytes | str | None:
    """A handler answering in every way a handler can, by path."""
    if request.path == "/bytes":
        return b"hello"
    if request.path == "/str":
        return "text"
    if request.path == "/shared":
        return SHARED  # the same object on every request
    if request.path == "/missing":
        raise HttpError(404)
    await request.send(Response(b"sent early"))
    return None


class _NeedsTask(Handler):
    """A handler that only works in a Task from its first line."""

    runs_eagerly = False

    async def handle(self, request: Request) -> bytes:
        if asyncio.current_task() is None:
            raise RuntimeError("started without a Task")
        return b"in a task"


def test_add_header_on_every_kind_of_response(run_server: RunServer) -> None:
    """bytes, str and Response results all get the header; errors and early answers pass."""
    exercise = load("add_header")
    server = run_server(exercise.AddHeader(_varied, "X-Served-By", "docs"))
    client = Client(server.address)
    reply = client.get("/bytes")
    assert (reply.status, reply.body, reply.header("x-served-by")) == (200, b"hello", "docs")
    reply = client.get("/str")
    assert reply.header("content-type") == "text/plain; charset=utf-8"
    assert reply.header("x-served-by") == "docs"
    for _ in range(3):  # the inner handler's Response must not collect copies
        reply = client.get("/shared")
        assert [v for k, v in reply.headers if k == "x-served-by"] == ["docs"]
        assert reply.header("x-inner") == "1"
    assert client.get("/missing").status == 404
    assert client.get("/sent").body == b"sent early"
    client.close()


def test_add_header_keeps_the_inner_handlers_eagerness(run_server: RunServer) -> None:
    """A wrapper around a handler that needs a Task must not run eagerly either."""
    exercise = load("add_header")
    assert exercise.AddHeader(_varied, "A", "b").runs_eagerly is True
    wrapped = exercise.AddHeader(_NeedsTask(), "X-Served-By", "docs")
    assert wrapped.runs_eagerly is False
    client = Client(run_server(wrapped).address)
    reply = client.get("/")
    assert (reply.status, reply.body, reply.header("x-served-by")) == (200, b"in a task", "docs")
    client.close()


# --- exercise 2: a time limit ----------------------------------------------

def test_time_limit_cancels_a_slow_handler(run_server: RunServer) -> None:
    """Past the limit: 503, the handler was cancelled, the connection serves on."""
    exercise = load("time_limit")
    cancelled: list[str] = []

    async def inner(request: Request) -> bytes:
        if request.path == "/slow":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(request.path)
                raise
        return b"fast"

    client = Client(run_server(exercise.TimeLimit(inner, 0.2)).address)
    assert client.get("/fast").body == b"fast"
    started = time.monotonic()
    reply = client.get("/slow")
    assert reply.status == 503
    assert time.monotonic() - started < 3
    assert cancelled == ["/slow"]
    assert client.get("/fast").body == b"fast"  # same connection: it was kept
    client.close()


def test_time_limit_lets_outside_cancellation_through() -> None:
    """A cancellation that is not the time limit's is never turned into a response."""
    exercise = load("time_limit")

    async def inner(request: Request) -> bytes:
        del request
        await asyncio.sleep(30)
        return b"never"

    async def scenario() -> None:
        handler = exercise.TimeLimit(inner, 10.0)
        task = asyncio.ensure_future(handler.handle(cast(Request, None)))
        await asyncio.sleep(0.05)
        task.cancel()  # what HttpToolsConnection.abort() does at the end of a shutdown
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


# --- exercise 3: a streaming handler ----------------------------------------

def _read_event(client: Client) -> bytes:
    """Chunks until one whole event (ending in a blank line) has arrived."""
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = client.read_chunk()
        assert chunk, f"the stream ended inside an event: {data!r}"
        data += chunk
    return data


def test_event_stream_sends_each_event_as_it_comes(run_server: RunServer) -> None:
    """Each event reaches the client before the next exists; None ends the body."""
    exercise = load("event_stream")
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    handler = exercise.EventStream(queue)
    server = run_server(handler)
    client = Client(server.address)
    client.send(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
    head = client.read_head()
    assert head.status == 200
    assert (head.header("content-type") or "").startswith("text/event-stream")
    assert head.header("transfer-encoding") == "chunked"
    server.call(queue.put_nowait, "hello")
    assert _read_event(client) == b"data: hello\n\n"
    server.call(queue.put_nowait, "two\nlines")
    assert _read_event(client) == b"data: two\ndata: lines\n\n"
    assert handler.open_streams == 1
    server.call(queue.put_nowait, None)
    assert client.read_chunk() == b""  # the last chunk
    assert poll(lambda: handler.open_streams == 0)
    server.call(queue.put_nowait, None)  # the next request's stream ends at once
    assert client.get("/events").body == b""  # and the connection was kept
    client.close()


def test_event_stream_ends_when_the_client_goes(run_server: RunServer) -> None:
    """A client that vanishes mid-stream does not leave a stream open."""
    exercise = load("event_stream")
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    handler = exercise.EventStream(queue)
    server = run_server(handler)
    client = Client(server.address)
    client.send(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
    assert client.read_head().status == 200
    server.call(queue.put_nowait, "first")
    assert _read_event(client) == b"data: first\n\n"
    client.reset()

    def stream_ended() -> bool:
        # A stream that only notices the client is gone when it next writes
        # gets more events until it does.
        if handler.open_streams == 0:
            return True
        server.call(queue.put_nowait, "anyone there?")
        time.sleep(0.05)
        return False

    assert poll(stream_ended)


# --- exercise 4: reading a body with back-pressure ---------------------------

def _upload(client: Client, body: bytes, method: str = "POST") -> dict[str, Any]:
    client.send(f"{method} /upload HTTP/1.1\r\nHost: test\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    reply = client.read_response()
    assert reply.status == 200, reply
    result: dict[str, Any] = json.loads(reply.body)
    return result


def test_upload_counter_counts(run_server: RunServer) -> None:
    """Sizes and digest are right, for Content-Length and chunked bodies; GET is 405."""
    exercise = load("upload_counter")
    client = Client(run_server(exercise.UploadCounter(), max_body_size=8 << 20).address)
    body = bytes(range(256)) * 12288  # 3 MiB
    result = _upload(client, body)
    assert result["bytes"] == len(body)
    assert result["sha256"] == hashlib.sha256(body).hexdigest()
    assert result["chunks"] >= 1 and result["largest_chunk"] <= len(body)
    client.send(b"PUT /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"3e8\r\n" + b"x" * 1000 + b"\r\n" + b"0\r\n\r\n")
    assert json.loads(client.read_response().body)["bytes"] == 1000
    assert client.get("/upload").status == 405
    client.close()


def test_upload_counter_applies_back_pressure(run_server: RunServer) -> None:
    """While consume() waits, the upload stalls; the body never arrives in one piece."""
    exercise = load("upload_counter")
    gate = asyncio.Event()
    consuming = threading.Event()

    async def consume(chunk: bytes) -> None:
        del chunk
        consuming.set()
        await gate.wait()  # a slow disk, until the test opens the gate

    server = run_server(exercise.UploadCounter(consume), max_body_size=32 << 20,
                        body_buffer_size=64 << 10)
    total = 8 << 20
    client = Client(server.address, send_buffer=64 << 10)
    sent = [0]

    def send_all() -> None:
        client.send(b"POST /upload HTTP/1.1\r\nHost: test\r\n"
                    b"Content-Length: %d\r\n\r\n" % total)
        piece = b"u" * (64 << 10)
        while sent[0] < total:
            client.send(piece)
            sent[0] += len(piece)

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    assert consuming.wait(5), "consume() was never called"
    time.sleep(0.5)
    assert sent[0] < total // 2, f"the upload did not stall: {sent[0]} of {total} bytes sent"
    server.call(gate.set)
    sender.join(10)
    result = json.loads(client.read_response().body)
    assert result["bytes"] == total
    assert result["chunks"] > 1
    assert result["largest_chunk"] < 1 << 20, "the body was held whole, not read piece by piece"
    client.close()


# --- the starters and the solutions agree -------------------------------------

def _public_names(path: Path) -> dict[str, set[str]]:
    """Top-level public names, each with its public methods (and __init__) if a class."""
    names: dict[str, set[str]] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and not node.name.startswith("_"):
            methods = node.body if isinstance(node, ast.ClassDef) else []
            names[node.name] = {
                m.name for m in methods
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
                and (m.name == "__init__" or not m.name.startswith("_"))}
    return names


@pytest.mark.parametrize("name", EXERCISES)
def test_starter_matches_solution(name: str) -> None:
    """Each starter file declares what its solution defines (what the tests use)."""
    starter, solution = STARTERS / f"{name}.py", SOLUTIONS / f"{name}.py"
    assert _public_names(starter) == _public_names(solution)
