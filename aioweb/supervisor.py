"""Several worker processes on one listening socket: ``aioweb app --workers N``.

Where it sits: around the whole server, before the first request. CPython runs
Python code on one core per process, so one aioweb process serves on one core.
To use more, run more processes on the same socket: the supervisor binds the
address once and listens, then starts N workers, each an ordinary ``aioweb``
process handed the listening socket by its file descriptor (``--fd``). The
kernel gives each new connection to whichever worker accepts it first.

The supervisor serves nothing itself. What it does:

* **Start.** A worker tells the supervisor it is serving (its lifespan startup
  done, its listener started) by writing one byte to a pipe named in the
  ``AIOWEB_READY_FD`` environment variable, the way systemd's
  ``NOTIFY_SOCKET`` works. Once every worker has, the supervisor logs where
  the server listens.
* **A worker ends** after it was serving (a crash, the OOM killer,
  ``kill -9``, or it served its ``--limit-max-requests``): another is
  started in its place. One that exits before it was
  serving (the app does not import, its lifespan startup fails) stops them
  all: the next would fail the same way, so the supervisor exits with that
  worker's status instead of starting it again and again.
* **SIGINT or SIGTERM** is passed on to every worker (as SIGTERM), which
  shuts down gracefully; a second one too (a second Ctrl-C forces a worker's
  shutdown); a worker still starting, or past its graceful stop and
  exiting, has no handler for it and just ends. The workers run in a process
  group of their own so that a Ctrl-C in the terminal reaches them once,
  through the supervisor, not twice. The supervisor exits 0 once every
  worker has exited 0, and kills those still running well after their grace
  period.
* **The supervisor ends** without stopping them (``kill -9``, the OOM
  killer): each worker notices and shuts down gracefully, as on SIGTERM,
  instead of serving on, orphaned, with nobody to stop it. The supervisor
  holds the only write end of a pipe (the *lifeline*) whose read end every
  worker watches, named in ``AIOWEB_LIFELINE_FD``; nothing is ever written
  to it, and the kernel closes the write end when the supervisor dies,
  however it dies, so the read end becomes readable (end of file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator, Sequence

from aioweb.reloader import watch
from aioweb.server.listener import bind, bind_unix_socket

log = logging.getLogger("aioweb")

READY_FD_VARIABLE = "AIOWEB_READY_FD"
READY = b"R"
LIFELINE_FD_VARIABLE = "AIOWEB_LIFELINE_FD"

# A worker that dies this soon after it was serving waits this long before
# its replacement starts: a worker that crashes on its first request then
# costs a process start a second, not a whole core.
RESTART_PAUSE = 1.0
# After a stop signal, workers get their grace period (for requests in flight,
# then again for the lifespan shutdown) and this much more to exit before
# they are killed.
KILL_MARGIN = 5.0


def tell_supervisor_ready() -> None:
    """In a worker: report that it is serving, if a supervisor started it."""
    ready_fd = os.environ.pop(READY_FD_VARIABLE, None)  # not inherited by the app's children
    if ready_fd is not None:
        fd = int(ready_fd)
        try:
            with contextlib.suppress(BrokenPipeError):  # it is gone: the lifeline tells
                os.write(fd, READY)
        finally:
            os.close(fd)


@contextlib.contextmanager
def watching_supervisor(gone: asyncio.Event) -> Iterator[None]:
    """In a worker started by a supervisor: set ``gone`` if the supervisor
    ends, while in the block (the worker then stops gracefully)."""
    lifeline = os.environ.pop(LIFELINE_FD_VARIABLE, None)
    if lifeline is None:
        yield
        return
    fd = int(lifeline)
    os.set_inheritable(fd, False)  # not for the app's children: they would hold it open
    loop = asyncio.get_running_loop()
    supervisor_pid = os.getppid()  # once it is gone, the parent is another process

    def supervisor_gone() -> None:
        loop.remove_reader(fd)  # readable for good now: one call is enough
        log.warning("the supervisor (pid %d) is gone: shutting down", supervisor_pid)
        gone.set()

    loop.add_reader(fd, supervisor_gone)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def bind_listening(host: str, port: int, uds: str | None, backlog: int
                         ) -> list[socket.socket]:
    """The sockets the workers share, listening already: connections made
    before a worker is up wait in the backlog instead of being refused."""
    sockets = [bind_unix_socket(uds)] if uds else await bind(host, port)
    for sock in sockets:
        sock.listen(backlog)
    return sockets


class Supervisor:
    """Keeps ``workers`` processes of ``command`` running until told to stop.

    ``command`` is the worker's whole command line, which must include the
    listening sockets' descriptors (``fds``) as ``--fd`` flags; ``grace`` is
    the workers' graceful shutdown timeout.
    """

    def __init__(self, command: list[str], fds: list[int], workers: int, grace: float,
                 reload_dirs: Sequence[str] = (), *, reload_include: Sequence[str] = (),
                 reload_exclude: Sequence[str] = ()) -> None:
        self.command = command
        self.fds = fds
        self.workers = workers
        self.kill_after = 2 * grace + KILL_MARGIN
        self.processes: dict[int, asyncio.subprocess.Process] = {}  # worker number -> process
        self.stopped = asyncio.Event()
        self.status = 0  # the supervisor's exit status
        self._kill_timer: asyncio.TimerHandle | None = None
        self._lifeline = -1  # the read end of the lifeline, once running (see the docstring)
        # --reload (reloader.py): the directories watched, and how many changes
        # were seen; a worker started before the last one serves old code.
        self.reload_dirs = list(reload_dirs)
        self.reload_patterns = (list(reload_include), list(reload_exclude))
        self.generation = 0
        self._woken = asyncio.Event()  # set (and cleared) at each change and stop

    async def run(self, announce: str) -> int:
        """Start the workers, keep them running until stopped; the exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        self._lifeline, lifeline_write_end = os.pipe()  # the write end is never written
        first_start = [loop.create_future() for _ in range(self.workers)]
        keepers = [loop.create_task(self._keep_running(number, ready))
                   for number, ready in enumerate(first_start)]
        watcher = (loop.create_task(watch(self.reload_dirs, self.reload, self.stopped,
                                          *self.reload_patterns))
                   if self.reload_dirs else None)
        try:
            # All serving, or one failed to start (it set a result too).
            if all(await asyncio.gather(*first_start)) and not self.stopped.is_set():
                log.info("%s with %d worker%s (supervisor pid %d%s; press CTRL+C to quit)",
                         announce, self.workers, "s" if self.workers > 1 else "", os.getpid(),
                         ", reloading on changes" if self.reload_dirs else "")
            await asyncio.gather(*keepers)
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.wait([watcher])  # its end, without taking its cancellation as ours
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if self._kill_timer is not None:
                self._kill_timer.cancel()
            os.close(self._lifeline)
            os.close(lifeline_write_end)
        return self.status

    def stop(self) -> None:
        """Pass a stop signal on to every worker; start no more.

        It is always SIGTERM, whether SIGINT or SIGTERM came: a worker that
        serves treats the two alike, and one still starting (importing the
        app, in its lifespan startup) has no handler for either yet, so SIGINT
        would print a KeyboardInterrupt traceback per worker where SIGTERM
        just ends it.
        """
        self._wake()
        if not self.stopped.is_set():
            self.stopped.set()
            self._kill_timer = asyncio.get_running_loop().call_later(self.kill_after,
                                                                     self._kill_all)
        for process in self.processes.values():
            _signal(process, signal.SIGTERM)

    def reload(self) -> None:
        """The code changed (--reload): replace every worker by a fresh one."""
        self.generation += 1
        self._wake()
        for process in self.processes.values():
            _signal(process, signal.SIGTERM)  # a graceful stop; _keep_running starts another

    def _wake(self) -> None:
        self._woken.set()  # every waiter wakes...
        self._woken.clear()  # ...and a later wait waits for the next time

    async def _wait_for_change(self, generation: int) -> None:
        while self.generation == generation and not self.stopped.is_set():
            await self._woken.wait()

    def _kill_all(self) -> None:
        for number, process in self.processes.items():
            log.warning("worker %d (pid %d) still running after its grace period: killed",
                        number, process.pid)
            _signal(process, signal.SIGKILL)

    async def _keep_running(self, number: int, first_start: asyncio.Future[bool]) -> None:
        """Worker ``number``: start it, and again each time it dies, until stopped."""
        try:
            while not self.stopped.is_set():
                generation = self.generation
                serving, serving_since, status, pid = await self._run_worker(number, first_start)
                if self.stopped.is_set():
                    if status == -signal.SIGTERM:
                        # The SIGTERM passed on found no handler: the worker was
                        # still starting, or past its graceful stop, exiting.
                        log.info("worker %d (pid %d) %s", number, pid,
                                 "stopped while starting" if not serving
                                 else "ended by SIGTERM after its graceful stop")
                    elif status != 0:
                        log.warning("worker %d (pid %d) exited with %s", number, pid,
                                    _describe(status))
                        self.status = self.status or 1
                    return
                if self.generation != generation:  # --reload: anew, at once
                    continue
                if not serving and self.reload_dirs:
                    # A file saved half-way through an edit, say: the next
                    # save is what to wait for, not a reason to stop.
                    log.error("worker %d (pid %d) exited with %s before serving; waiting "
                              "for a change", number, pid, _describe(status))
                    await self._wait_for_change(generation)
                    continue
                if not serving:
                    log.error("worker %d (pid %d) exited with %s before serving; stopping",
                              number, pid, _describe(status))
                    self.status = status if status > 0 else 1
                    self.stop()
                    return
                # Status 0 unasked: it served its --limit-max-requests.
                log.log(logging.INFO if status == 0 else logging.WARNING,
                        "worker %d (pid %d) exited with %s; starting another",
                        number, pid, _describe(status))
                if asyncio.get_running_loop().time() - serving_since < RESTART_PAUSE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopped.wait(), RESTART_PAUSE)
        except OSError as exc:  # no process could be started (out of memory, say)
            log.error("could not start worker %d: %s; stopping", number, exc)
            self.status = 1
            self.stop()
        finally:
            if not first_start.done():  # stopped before this worker ever started
                first_start.set_result(False)

    async def _run_worker(self, number: int, first_start: asyncio.Future[bool]
                          ) -> tuple[bool, float, int, int]:
        """One worker process from start to exit: whether it was serving,
        since when (loop time), its exit status and its pid."""
        read_end, write_end = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *self.command, pass_fds=(*self.fds, write_end, self._lifeline),
                process_group=0, env={**os.environ, READY_FD_VARIABLE: str(write_end),
                                      LIFELINE_FD_VARIABLE: str(self._lifeline)})
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the worker holds it now: EOF once the worker is gone
        self.processes[number] = process
        try:
            if self.stopped.is_set():  # the stop came while it was being started
                _signal(process, signal.SIGTERM)
            serving = await _read_ready(read_end)
            if not first_start.done():
                first_start.set_result(serving)
            serving_since = asyncio.get_running_loop().time()
            status = await process.wait()
        finally:
            del self.processes[number]
        return serving, serving_since, status, process.pid


async def _read_ready(read_end: int) -> bool:
    """Whether the worker reported it is serving before its end of the pipe closed."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_end, "rb", buffering=0))
    try:
        return await reader.read(len(READY)) == READY
    finally:
        transport.close()


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just exited
        process.send_signal(sig)


def _describe(status: int) -> str:
    """An exit status in words: negative ones are the signal that ended the process."""
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-status).name}"
    return f"status {status}"


def worker_command(argv: list[str], new_fds: list[int]) -> list[str]:
    """The command line of a worker: this one, with ``--fd`` for each socket
    the supervisor bound (none when the command named its own with ``--fd``).

    argparse keeps the last of a repeated option, so ``--workers 1`` and
    ``--no-reload`` appended override the supervisor's own ``--workers N``
    and ``--reload``: a worker serves, it does not supervise.
    """
    command = [sys.executable, "-m", "aioweb", *argv, "--workers", "1", "--no-reload"]
    for fd in new_fds:
        command += ["--fd", str(fd)]
    return command
