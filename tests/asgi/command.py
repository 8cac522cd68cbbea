"""``python -m aioweb ...`` as a real process, for the tests of the command line.

Its stderr (where the startup line, the access log and every warning go) is
read line by line in a thread, so a test can wait for a line with a timeout
instead of blocking on the pipe, and read everything the process said once
it has ended.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

TIMEOUT = 15.0  # for a line to come, or the process to end


class AiowebCommand:
    """One ``python -m aioweb *args --app-dir app_dir`` process; ``options``
    go to ``subprocess.Popen`` (stdout, pass_fds, start_new_session...)."""

    def __init__(self, app_dir: Path, *args: str, **options: Any) -> None:
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "aioweb", *args, "--app-dir", str(app_dir)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            **options)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []  # the lines read so far
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The next stderr line matching ``pattern`` (a test fails without one)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} in {self.seen}")
            self.seen.append(line)
            match = re.search(pattern, line)
            if match is not None:
                return match

    def exit_status(self) -> int:
        """Wait for the process to end; its status."""
        return self.process.wait(timeout=TIMEOUT)

    def all_lines(self) -> list[str]:
        """Every stderr line, once the process has ended."""
        self.exit_status()
        time.sleep(0.1)  # the reader thread catches up with the pipe's end
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen


Command = TypeVar("Command", bound=AiowebCommand)


def started_commands(start: Callable[..., Command]) -> Iterator[Callable[..., Command]]:
    """A fixture's body: yield ``start``, then kill every process it started
    that is still running (a failed test must not leave servers behind)."""
    started: list[Command] = []

    def start_and_keep(*args: str, **options: Any) -> Command:
        started.append(start(*args, **options))
        return started[-1]

    yield start_and_keep
    for command in started:
        if command.process.poll() is None:
            command.process.kill()
            command.process.wait()
