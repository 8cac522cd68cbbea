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


TEMPLATED_APP = '''
import pathlib

TEMPLATE = (pathlib.Path(__file__).parent / "page.html").read_text()  # read at import

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": TEMPLATE.encode()})
'''


def test_reload_include_watches_templates_too(tmp_path: Path) -> None:
    """--reload-include '*.html': a template the app reads at import is watched, and
    a save of it is served; an excluded file's save is not a reason to reload."""
    (tmp_path / "templated_app.py").write_text(TEMPLATED_APP)
    page = tmp_path / "page.html"
    page.write_text("one 1")
    (tmp_path / "scratch.py").write_text("")
    supervisor = AiowebCommand(tmp_path, "templated_app:app", "--port", "0", "--reload",
                               "--no-access-log", "--reload-include", "*.html",
                               "--reload-exclude", "scratch.py", start_new_session=True)
    try:
        url = supervisor.wait_for(r"serving \S+ on (\S+) with 1 worker").group(1)
        assert answer_becomes(url, "one") == 1
        os.utime(tmp_path / "scratch.py", ns=(1, 1))  # excluded: no reload
        page.write_text("two 2")
        os.utime(page, ns=(2_000_000_000, 2_000_000_000))
        changed = supervisor.wait_for(r"WARNING: (.*) changed: reloading").group(1)
        assert changed.endswith("page.html") and "scratch" not in changed
        assert answer_becomes(url, "two") == 2
        supervisor.process.send_signal(signal.SIGTERM)
        assert supervisor.exit_status() == 0
    finally:
        if supervisor.process.poll() is None:
            os.killpg(supervisor.process.pid, signal.SIGKILL)
            supervisor.process.wait()


def test_include_and_exclude_patterns(tmp_path: Path) -> None:
    """Include patterns add files by name or by path below the watched directory;
    exclude patterns take files away, .py ones too, and keep directories unvisited."""
    for name in ("app.py", "page.html", "notes.txt", "templates/base.txt",
                 "generated_models.py", "build/out.html", "build/module.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    watched = snapshot([str(tmp_path)], include=["*.html", "templates/*.txt"],
                       exclude=["generated_*.py", "build"])
    assert sorted(os.path.relpath(path, tmp_path) for path in watched) == [
        "app.py", "page.html", os.path.join("templates", "base.txt")]
