"""``aioweb app --reload``: edits served without a restart by hand, real processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from aioweb.reloader import changed_files, snapshot

from .command import TIMEOUT, AiowebCommand, started_commands

APP = '''
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"{answer} %d" % os.getpid()}})
'''


def write_app(directory: Path, answer: str, source: str = APP) -> None:
    """(Re)write ``reloading_app.py``, its modification time moved on for sure."""
    path = directory / "reloading_app.py"
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(source.format(answer=answer))
    # A file system with a coarse clock could give the rewrite the same time.
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def answer_becomes(url: str, answer: str) -> int:
    """Wait until the server answers ``answer``; the pid of the worker that did."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            words = httpx.get(url, headers={"connection": "close"}, timeout=TIMEOUT).text.split()
        except httpx.TransportError:  # between two workers: queued or refused, try again
            words = []
        if words[:1] == [answer]:
            return int(words[1])
        assert time.monotonic() < deadline, f"still {words}, not {answer!r}"
        time.sleep(0.1)


@pytest.fixture(name="reloading")
def reloading_fixture(tmp_path: Path) -> Iterator[Callable[..., AiowebCommand]]:
    """``reloading(*args)``: ``python -m aioweb reloading_app:app --reload`` on tmp_path."""
    write_app(tmp_path, "one")

    def start(*args: str) -> AiowebCommand:
        return AiowebCommand(tmp_path, "reloading_app:app", "--port", "0", "--reload",
                             "--no-access-log", *args, start_new_session=True)

    yield from started_commands(start)


def test_a_saved_change_is_served(reloading: Callable[..., AiowebCommand],
                                  tmp_path: Path) -> None:
    """Save the app with a new answer: a fresh worker serves it, the supervisor goes on,
    and SIGTERM ends both with status 0."""
    supervisor = reloading()
    url = supervisor.wait_for(r"serving \S+ on (\S+) with 1 worker \(.*reloading on changes")
    first = answer_becomes(url.group(1), "one")
    write_app(tmp_path, "two")
    supervisor.wait_for(r"reloading_app.py changed: reloading")
    second = answer_becomes(url.group(1), "two")
    assert second != first
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.exit_status() == 0


def test_a_broken_save_waits_for_the_next(reloading: Callable[..., AiowebCommand],
                                          tmp_path: Path) -> None:
    """A save with a syntax error: the worker cannot start, and the supervisor waits for
    the next save instead of stopping; once the file is fixed, it serves again."""
    supervisor = reloading()
    url = supervisor.wait_for(r"serving \S+ on (\S+) with 1 worker").group(1)
    answer_becomes(url, "one")
    write_app(tmp_path, "", source="def app(:\n")
    supervisor.wait_for(r"before serving; waiting for a change")
    assert supervisor.process.poll() is None
    write_app(tmp_path, "three")
    answer_becomes(url, "three")
    supervisor.process.send_signal(signal.SIGINT)
    assert supervisor.exit_status() == 0


def test_only_source_outside_hidden_and_cache_directories_is_watched(tmp_path: Path) -> None:
    """The snapshot holds .py files, not those under .venv-like or __pycache__
    directories; changed_files finds saves, new files and deleted ones."""
    for name in ("app.py", "notes.txt", ".venv/lib/site.py", "__pycache__/app.py",
                 "package/module.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    before = snapshot([str(tmp_path)])
    assert sorted(os.path.relpath(path, tmp_path) for path in before) == [
        "app.py", os.path.join("package", "module.py")]
    os.utime(tmp_path / "app.py", ns=(1, 1))
    (tmp_path / "package" / "module.py").unlink()
    (tmp_path / "new.py").write_text("")
    after = snapshot([str(tmp_path)])
    assert [os.path.relpath(path, tmp_path) for path in changed_files(before, after)] == [
        "app.py", "new.py", os.path.join("package", "module.py")]
