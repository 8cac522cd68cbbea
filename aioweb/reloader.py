"""``aioweb app --reload``: serve the code as it is edited (for development).

Where it sits: around the whole server, beside the supervisor it drives
(``supervisor.py``). The supervisor runs the worker as with ``--workers``;
:func:`watch` looks at the Python files under the watched directories
(``--reload-dir``, by default the app's directory) and, when one is saved,
created or deleted, asks the supervisor to restart its workers: each gets
SIGTERM, finishes what it is serving, and a fresh process, which imports the
code anew, takes its place. Nothing of the old code survives in the new
process, which is why a restart, not a re-import, is the way.

It polls: every ``RELOAD_INTERVAL`` it reads the modification time of each
watched file, in a thread so that the supervisor's loop is not held up. That
needs no dependency and no kernel watch limits, and a project's few hundred
files take milliseconds. The watched files are the ``.py`` ones, and those
whose names match a ``--reload-include`` pattern (``*.html``, for templates
read at import), but none that match a ``--reload-exclude`` one (uvicorn's
flags, matched as :mod:`fnmatch` globs against the name and the path below
the watched directory). Directories whose names begin with a dot (``.venv``,
``.git``), ``__pycache__`` and those an exclude pattern names are not looked
into.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
from collections.abc import Callable, Sequence

log = logging.getLogger("aioweb")

# Between two looks at the files: a saved file is served within about this
# long, and two looks a second cost a small project next to nothing.
RELOAD_INTERVAL = 0.5
ALWAYS_WATCHED = ("*.py",)


def _matches(patterns: Sequence[str], name: str, relative: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern)
               for pattern in patterns)


def snapshot(directories: Sequence[str], include: Sequence[str] = (),
             exclude: Sequence[str] = ()) -> dict[str, int]:
    """Every watched file under ``directories``, with its modification time (ns):
    the ``.py`` files and those ``include`` matches, less those ``exclude`` matches."""
    watched = (*ALWAYS_WATCHED, *include)
    times: dict[str, int] = {}
    for top in directories:
        for directory, subdirectories, files in os.walk(top):
            below = os.path.relpath(directory, top)
            subdirectories[:] = [
                name for name in subdirectories
                if not name.startswith(".") and name != "__pycache__"
                and not _matches(exclude, name, os.path.normpath(os.path.join(below, name)))]
            for name in files:
                relative = os.path.normpath(os.path.join(below, name))
                if _matches(watched, name, relative) and not _matches(exclude, name, relative):
                    path = os.path.join(directory, name)
                    with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                        times[path] = os.stat(path).st_mtime_ns
    return times


def changed_files(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The files saved, created or deleted between two snapshots."""
    return sorted(path for path in before.keys() | after.keys()
                  if before.get(path) != after.get(path))


async def watch(directories: Sequence[str], on_change: Callable[[], None],
                stopped: asyncio.Event, include: Sequence[str] = (),
                exclude: Sequence[str] = ()) -> None:
    """Log the changed files and call ``on_change`` after each change, until ``stopped``."""
    before = await asyncio.to_thread(snapshot, directories, include, exclude)
    while not stopped.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopped.wait(), RELOAD_INTERVAL)
        after = await asyncio.to_thread(snapshot, directories, include, exclude)
        changed = changed_files(before, after)
        if changed and not stopped.is_set():
            shown = ", ".join(os.path.relpath(path) for path in changed[:3])
            more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
            log.warning("%s changed: reloading", shown + more)
            on_change()
        before = after
