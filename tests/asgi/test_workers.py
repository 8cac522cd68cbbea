"""``aioweb app --workers N`` and ``--fd``: real processes sharing one listening socket."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from aioweb.supervisor import KILL_MARGIN, RESTART_PAUSE
from .command import TIMEOUT, AiowebCommand, started_commands

PID_APP = '''
    import asyncio
    import os
    import time

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await receive()
        seconds = float(scope["query_string"] or 1.0)
        if scope["path"] == "/block":
            time.sleep(seconds)  # the whole worker stops: it accepts nothing meanwhile
        elif scope["path"] == "/slow":
            await asyncio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
'''

FAILING_STARTUP = '''
    async def app(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
'''


SLOW_IMPORT = '''
    import time

    time.sleep(30)  # a big app's imports, or a slow disk

    async def app(scope, receive, send):
        pass
'''


@pytest.fixture(name="app_dir", scope="module")
def app_dir_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the test apps as modules."""
    directory = tmp_path_factory.mktemp("worker_apps")
    (directory / "pid_app.py").write_text(textwrap.dedent(PID_APP))
    (directory / "failing_startup.py").write_text(textwrap.dedent(FAILING_STARTUP))
    (directory / "slow_import.py").write_text(textwrap.dedent(SLOW_IMPORT))
    (directory / "broken_import.py").write_text("import module_that_does_not_exist_anywhere\n")
    return directory


@pytest.fixture(name="server")
def server_fixture(app_dir: Path) -> Iterator[Callable[..., AiowebCommand]]:
    """Start ``python -m aioweb`` without its access log, in a session of its own (as a
    shell's job would be): ``server(*args, pass_fds=...)``; killed at teardown."""
    def start(*args: str, pass_fds: tuple[int, ...] = ()) -> AiowebCommand:
        return AiowebCommand(app_dir, *args, "--no-access-log", start_new_session=True,
                             pass_fds=pass_fds)

    yield from started_commands(start)


def get(url: str) -> httpx.Response:
    """One GET on a connection of its own (each may reach a different worker)."""
    return httpx.get(url, headers={"connection": "close"}, timeout=TIMEOUT)


def workers_serving(server: AiowebCommand, count: int) -> tuple[str, list[int]]:
    """Wait until the supervisor says all workers serve; the URL and the workers' pids."""
    pids = [int(server.wait_for(r"\(pid (\d+)\) serving").group(1)) for _ in range(count)]
    url = server.wait_for(rf"serving \S+ on (\S+) with {count} workers").group(1)
    return url, pids


def gone(pid: int) -> bool:
    """Whether no process has this pid (a worker reaped by its supervisor)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_workers_share_one_socket(server: Callable[..., AiowebCommand]) -> None:
    """Two workers on one port: while one is blocked, the other accepts and answers.
    SIGTERM to the supervisor: both exit, and so does it, with status 0."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2")
    url, pids = workers_serving(supervisor, 2)
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(get, url + "/block")
        time.sleep(0.3)  # the blocking request has reached a worker, which now sleeps
        started = time.monotonic()
        other = get(url + "/")
        assert time.monotonic() - started < 0.7, "the other worker should answer at once"
        first = blocked.result(timeout=TIMEOUT)
    assert {int(first.text), int(other.text)} == set(pids)
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.exit_status() == 0
    assert all(gone(pid) for pid in pids)


def test_a_worker_that_dies_is_replaced(server: Callable[..., AiowebCommand]) -> None:
    """kill -9 of a serving worker: the supervisor starts another, which serves."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2")
    url, pids = workers_serving(supervisor, 2)
    # The last to start: it was serving for well under RESTART_PAUSE, so its
    # replacement waits that long first (a crash loop must not take a core).
    killed = time.monotonic()
    os.kill(pids[1], signal.SIGKILL)
    supervisor.wait_for(rf"pid {pids[1]}\) exited with signal SIGKILL; starting another")
    replacement = int(supervisor.wait_for(r"\(pid (\d+)\) serving").group(1))
    assert time.monotonic() - killed >= RESTART_PAUSE
    assert replacement not in pids
    seen: set[int] = set()
    for _ in range(200):  # bounded: the kernel picks the worker
        seen.add(int(get(url).text))
        if replacement in seen:
            break
    assert seen <= {replacement, pids[0]} and replacement in seen
    supervisor.process.send_signal(signal.SIGINT)
    assert supervisor.exit_status() == 0


def test_ctrl_c_reaches_workers_once(server: Callable[..., AiowebCommand]) -> None:
    """SIGINT to the supervisor's whole process group, as a terminal's Ctrl-C: the workers
    get it once (from the supervisor), so a request in flight still finishes. Were they in
    the terminal's group too, the second SIGINT would force their shutdown."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2")
    url, pids = workers_serving(supervisor, 2)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(get, url + "/slow")
        time.sleep(0.3)
        os.killpg(supervisor.process.pid, signal.SIGINT)
        response = slow.result(timeout=TIMEOUT)
    assert response.status_code == 200 and int(response.text) in pids
    assert supervisor.exit_status() == 0
    assert not any("forcing" in line for line in supervisor.all_lines())


def exited(pid: int) -> bool:
    """Whether the process has ended: gone, or a zombie (an orphan waits to be reaped
    by whatever adopted it, which in a container may never happen)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_workers_stop_when_the_supervisor_is_killed(server: Callable[..., AiowebCommand]) -> None:
    """kill -9 of the supervisor, which can pass nothing on: its workers notice (the
    lifeline pipe ends), finish the request in flight and exit, instead of serving on,
    orphaned; once they have, the port refuses connections."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2")
    url, pids = workers_serving(supervisor, 2)
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(get, url + "/slow")
            time.sleep(0.3)
            supervisor.process.kill()
            response = slow.result(timeout=TIMEOUT)
        assert response.status_code == 200 and int(response.text) in pids
        for _ in pids:  # their stderr is still the test's pipe
            supervisor.wait_for(rf"supervisor \(pid {supervisor.process.pid}\) is gone")
        deadline = time.monotonic() + TIMEOUT
        while not all(exited(pid) for pid in pids):
            assert time.monotonic() < deadline, "the workers are still running"
            time.sleep(0.05)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=TIMEOUT).close()
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_ctrl_c_while_workers_start(server: Callable[..., AiowebCommand]) -> None:
    """Ctrl-C before the workers serve (they are importing the app): they end at once,
    without a KeyboardInterrupt traceback each, and the supervisor exits 0."""
    supervisor = server("slow_import:app", "--port", "0", "--workers", "2")
    time.sleep(1.0)  # both workers are in the import's sleep
    started = time.monotonic()
    os.killpg(supervisor.process.pid, signal.SIGINT)
    assert supervisor.exit_status() == 0
    assert time.monotonic() - started < 5
    lines = supervisor.all_lines()
    assert sum("stopped while starting" in line for line in lines) == 2
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in lines)


def test_a_second_signal_forces_the_workers(server: Callable[..., AiowebCommand]) -> None:
    """Ctrl-C twice: the workers stop at once, dropping a request that would take 30 s."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2")
    url, _ = workers_serving(supervisor, 2)
    with ThreadPoolExecutor(1) as pool:
        hanging = pool.submit(get, url + "/slow?30")
        time.sleep(0.3)
        started = time.monotonic()
        supervisor.process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        supervisor.process.send_signal(signal.SIGINT)
        with pytest.raises(httpx.TransportError):
            hanging.result(timeout=TIMEOUT)
    assert supervisor.exit_status() == 0
    assert time.monotonic() - started < 5
    assert any("forcing" in line for line in supervisor.all_lines())


def test_a_worker_stuck_past_its_grace_is_killed(server: Callable[..., AiowebCommand]) -> None:
    """A worker whose loop is blocked cannot shut down: killed once its grace period (twice,
    for requests and lifespan) and KILL_MARGIN are over; the supervisor then exits 1."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2",
                        "--timeout-graceful-shutdown", "0.5")
    url, pids = workers_serving(supervisor, 2)
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(get, url + "/block?60")
        time.sleep(0.3)
        started = time.monotonic()
        supervisor.process.send_signal(signal.SIGTERM)
        assert supervisor.exit_status() == 1
        waited = time.monotonic() - started
        with pytest.raises(httpx.TransportError):
            blocked.result(timeout=TIMEOUT)
    assert 2 * 0.5 + KILL_MARGIN - 0.5 <= waited < 2 * 0.5 + KILL_MARGIN + 5
    assert any("still running after its grace period: killed" in line
               for line in supervisor.all_lines())
    assert all(gone(pid) for pid in pids)


def test_an_app_that_cannot_load_stops_the_supervisor(server: Callable[..., AiowebCommand]) -> None:
    """Workers that fail before serving are not started again: the supervisor exits 1."""
    supervisor = server("broken_import:app", "--port", "0", "--workers", "2")
    assert supervisor.exit_status() == 1
    lines = supervisor.all_lines()
    assert any("before serving; stopping" in line for line in lines)
    assert not any("starting another" in line for line in lines)


def test_a_failed_startup_exits_with_its_status(server: Callable[..., AiowebCommand]) -> None:
    """A lifespan startup failure in the workers: the supervisor exits 3, as one process does."""
    supervisor = server("failing_startup:app", "--port", "0", "--workers", "2")
    assert supervisor.exit_status() == 3
    assert any("no database" in line for line in supervisor.all_lines())


def test_unix_socket_with_workers(server: Callable[..., AiowebCommand], tmp_path: Path) -> None:
    """--uds with --workers: the supervisor binds the path, the workers serve on it, and
    the path is removed once all have exited."""
    path = tmp_path / "aioweb.sock"
    supervisor = server("pid_app:app", "--uds", str(path), "--workers", "2")
    url, pids = workers_serving(supervisor, 2)
    assert url == f"unix:{path}"
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as client:
        assert int(client.get("http://localhost/").text) in pids
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.exit_status() == 0
    assert not path.exists()


def test_https_with_workers(server: Callable[..., AiowebCommand],
                            tls_files: dict[str, Path]) -> None:
    """--ssl-certfile with --workers: each worker loads it, the supervisor's line says
    https, and both workers answer over TLS."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2",
                        "--ssl-certfile", str(tls_files["cert"]),
                        "--ssl-keyfile", str(tls_files["key"]))
    url, pids = workers_serving(supervisor, 2)
    assert url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(tls_files["ca"]))
    seen = set()
    for _ in range(200):  # bounded: the kernel picks the worker
        response = httpx.get(url, headers={"connection": "close"}, verify=trusting)
        seen.add(int(response.text))
        if seen == set(pids):
            break
    assert seen == set(pids)
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.exit_status() == 0


def test_fd_serves_a_socket_it_was_given(server: Callable[..., AiowebCommand]) -> None:
    """--fd N: a process serves a listening socket its parent bound (as a supervisor or
    systemd would), and leaves it open for the parent when it exits."""
    listening = socket.create_server(("127.0.0.1", 0))
    try:
        port = listening.getsockname()[1]
        fd = listening.fileno()
        worker = server("pid_app:app", "--fd", str(fd), pass_fds=(fd,))
        worker.wait_for(rf"serving \S+ on http://127.0.0.1:{port} ")
        assert int(get(f"http://127.0.0.1:{port}/").text) == worker.process.pid
        worker.process.send_signal(signal.SIGTERM)
        assert worker.exit_status() == 0
        assert listening.getsockname()[1] == port  # still ours, still bound
    finally:
        listening.close()


def test_fd_that_is_not_a_socket_is_refused(server: Callable[..., AiowebCommand]) -> None:
    """--fd naming something other than a socket: a clear error and exit 1."""
    read_end, write_end = os.pipe()
    try:
        worker = server("pid_app:app", "--fd", str(read_end), pass_fds=(read_end,))
        assert worker.exit_status() == 1
        assert any("--fd" in line and "not a socket" in line for line in worker.all_lines())
    finally:
        os.close(read_end)
        os.close(write_end)


def test_limit_max_requests_ends_one_process(server: Callable[..., AiowebCommand]) -> None:
    """--limit-max-requests without workers: the process stops by itself, exit 0."""
    process = server("pid_app:app", "--port", "0", "--limit-max-requests", "2")
    url = process.wait_for(r"serving \S+ on (\S+) \(press").group(1)
    for _ in range(2):
        assert get(url).status_code == 200
    assert process.exit_status() == 0
    assert any("max_requests 2): stopping" in line for line in process.all_lines())


def test_workers_are_replaced_after_max_requests(server: Callable[..., AiowebCommand]) -> None:
    """--limit-max-requests with --workers: each worker stops after its requests and a
    fresh one takes its place; every request meanwhile is answered (connections wait in
    the shared backlog while no worker accepts)."""
    supervisor = server("pid_app:app", "--port", "0", "--workers", "2",
                        "--limit-max-requests", "2")
    url, pids = workers_serving(supervisor, 2)
    seen = set()
    for _ in range(16):
        response = get(url)
        assert response.status_code == 200
        seen.add(int(response.text))
        time.sleep(0.1)  # max_requests is checked at the timer's tick
    assert len(seen - set(pids)) >= 1, "no worker was replaced"
    assert any("exited with status 0; starting another" in line for line in supervisor.seen
               + list(supervisor.lines.queue))
    supervisor.process.send_signal(signal.SIGTERM)
    assert supervisor.exit_status() == 0, supervisor.all_lines()
