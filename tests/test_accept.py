"""Accepting connections: a burst of new clients gets in at once, however busy the loop is.

libuv (under uvloop) accepts one connection per turn of the event loop (libuv
pull request 3696). When every turn is long (many connections, real work), a
burst of new clients then waits one turn per client before its first byte is
read: hundreds of milliseconds, seconds at a few hundred clients. aioweb
accepts them itself (``aioweb/server/listener.py``): the burst and the
out-of-fds tests below fail on uvloop without it. The others check what the
listener owns besides: binding an IPv6 address, and a stop mid-burst.
"""

from __future__ import annotations

import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from aioweb import Request

GET_FAST = b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
GET_BUSY = b"GET /busy HTTP/1.1\r\nHost: t\r\n\r\n"
BUSY_SECONDS = 0.03  # one loop turn's work while the busy clients run
NEWCOMERS = 30       # without the accept loop: at least 30 turns, 0.9 s


async def busy_or_fast(request: Request) -> bytes:
    """``/busy`` holds the loop for a while, as real work on a loaded server does."""
    if request.path == "/busy":
        time.sleep(BUSY_SECONDS)  # on purpose: it blocks the loop, like CPU-bound work
        return b"busy"
    return b"fast"


def _keep_busy(address: tuple[str, int], stop: threading.Event) -> None:
    """One keep-alive client that asks for /busy again as soon as it is answered,
    until told to stop or the server closes the connection (as a stop does)."""
    with socket.create_connection(address, timeout=5) as sock:
        while not stop.is_set():
            answer = b""
            try:
                sock.sendall(GET_BUSY)
                while not answer.endswith(b"busy"):
                    piece = sock.recv(4096)
                    if not piece:
                        return
                    answer += piece
            except ConnectionError:  # reset: the server stopped with our next request unread
                return


def _read_one_response(sock: socket.socket, ending: bytes = b"fast") -> bytes:
    answer = b""
    while not answer.endswith(ending):
        piece = sock.recv(4096)
        assert piece, "closed without an answer"
        answer += piece
    return answer


def test_a_burst_of_new_connections_is_accepted_at_once_on_a_busy_loop(serve) -> None:
    """While two clients keep every loop turn busy, 30 new clients connect and
    each sends a GET: all are answered within a few turns, not one turn each."""
    server = serve(busy_or_fast)
    stop = threading.Event()
    busy = [threading.Thread(target=_keep_busy, args=(server.address, stop)) for _ in range(2)]
    for thread in busy:
        thread.start()
    newcomers: list[socket.socket] = []
    try:
        time.sleep(0.2)  # the busy clients are being served: every turn now takes 30 ms
        started = time.monotonic()
        for _ in range(NEWCOMERS):
            sock = socket.create_connection(server.address, timeout=5)
            newcomers.append(sock)
            sock.sendall(GET_FAST)
        for sock in newcomers:
            assert _read_one_response(sock).startswith(b"HTTP/1.1 200 OK")
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for sock in newcomers:
            sock.close()
        for thread in busy:
            thread.join(5)
    # Accepted at once, the newcomers are read in the next turn or two. One
    # accept per turn would take NEWCOMERS turns of BUSY_SECONDS each, 0.9 s.
    assert elapsed < NEWCOMERS * BUSY_SECONDS / 2, f"{NEWCOMERS} newcomers took {elapsed:.2f} s"


def test_running_out_of_file_descriptors_pauses_accepting_and_recovers(loop_kind,
                                                                       project_root) -> None:
    """The sample server may hold 40 fds, and 60 clients connect. It answers the
    ones it can, says once a second that it cannot accept, and takes in the
    rest as the first ones leave: every client is answered, the server is not
    hurt, and it stops cleanly."""
    command = [sys.executable, "sample_server.py", "--port", "0"]
    if loop_kind == "uvloop":
        command.append("--uvloop")
    clients: list[socket.socket] = []
    with subprocess.Popen(command, cwd=project_root, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            found = re.search(r"http://([\d.]+):(\d+)/", process.stdout.readline())
            assert found, "no address announced"
            # Started (it holds about 15 fds now): from here on, at most 40.
            resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (40, 40))
            address = (found[1], int(found[2]))
            for _ in range(60):  # the kernel queues them all: the backlog is 2048
                sock = socket.create_connection(address, timeout=5)
                sock.sendall(GET_FAST)
                clients.append(sock)
            answered = 0
            for sock in clients:  # each read waits, at worst, for a retry of accept
                # The sample server echoes the body: a GET's answer ends its head.
                assert _read_one_response(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 200 OK")
                sock.close()  # its fd in the server frees up for a client still queued
                answered += 1
            assert answered == 60
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=10)
        finally:
            for sock in clients:
                sock.close()
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "cannot accept connections" in err
    assert "served 60 requests" in out


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_an_ipv6_address_is_bound_and_served(serve) -> None:
    """``host="::1"`` binds an IPv6 socket; the container reports its address
    and answers on it."""
    server = serve(busy_or_fast, host="::1")
    host, port = server.address
    assert host == "::1" and port > 0
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(GET_FAST)
        assert _read_one_response(sock).startswith(b"HTTP/1.1 200 OK")


def test_stop_during_a_burst_leaves_no_connection_behind(serve) -> None:
    """While the loop is busy, 40 clients connect and send a GET; the container
    stops at once. Each client gets its answer or a close (none is left
    waiting), and no connection is left open after stop()."""
    server = serve(busy_or_fast)
    stop = threading.Event()
    busy = threading.Thread(target=_keep_busy, args=(server.address, stop))
    busy.start()
    clients = []
    try:
        time.sleep(0.1)
        for _ in range(40):
            sock = socket.create_connection(server.address, timeout=5)
            sock.sendall(GET_FAST)
            clients.append(sock)
        assert server.stop() == 0, "connections outlived stop()"
        for sock in clients:
            answer = b""
            try:
                while piece := sock.recv(4096):  # until the server closes its end
                    answer += piece
            except ConnectionResetError:
                pass  # never accepted: the kernel resets it when the listener closes
            assert answer == b"" or answer.startswith(b"HTTP/1.1 200 OK"), answer
    finally:
        stop.set()
        for sock in clients:
            sock.close()
        busy.join(5)


async def addresses(request: Request) -> bytes:
    """The client's address and ours, as the request has them."""
    return repr((request.client, request.server)).encode()


def test_addresses_come_from_the_accepted_connection(serve) -> None:
    """Bound to every interface (0.0.0.0), the server still reports the address
    the client actually reached, and the client's own address and port."""
    server = serve(addresses, host="0.0.0.0")
    port = server.address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(GET_FAST)
        answer = b""
        while not answer.endswith(b")"):
            piece = sock.recv(4096)
            assert piece, "closed without an answer"
            answer += piece
        client_port = sock.getsockname()[1]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert body == repr((("127.0.0.1", client_port), ("127.0.0.1", port))).encode()


def test_accepted_sockets_have_nagle_off(serve) -> None:
    """Responses go out whole, so each accepted socket has TCP_NODELAY set:
    Nagle's algorithm would only hold back a response's last segment. Both
    loops' transports set it; this is what makes sure they still do."""
    server = serve(busy_or_fast)
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(GET_FAST)
        _read_one_response(sock)

        def nodelay_of_each() -> list[int]:
            state = server.container._state  # pylint: disable=protected-access
            assert state is not None
            return [connection.transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY) for connection in state.connections]
        flags = server.call(nodelay_of_each)
    assert flags and all(flags), flags
