"""Trace mode on the wire: the sample server's --trace and the CLI's --log-level trace
print each step of a request in order, as a story."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

STEPS = ["connected from", "request 1: head complete: GET b'/traced' HTTP/1.1 (no body)",
         "phase FRESH -> HANDLING", "handler for GET b'/traced' started eagerly",
         "response written; keep-alive", "phase HANDLING -> IDLE"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /traced HTTP/1.1\r\nHost: t\r\n\r\n")
                return sock.recv(65536)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("command", [
    ["sample_server.py", "--uvloop", "--trace", "--port"],
    ["-m", "aioweb", "sample_server:echo", "--log-level", "trace", "--port"],
], ids=["sample-server", "cli"])
def test_trace_tells_the_request_in_order(command: list[str]) -> None:
    """Each step of one GET appears once, in the order it happened."""
    port = _free_port()
    with subprocess.Popen([sys.executable, *command, str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as server:
        try:
            assert _get(port).startswith(b"HTTP/1.1 200 OK\r\n")
            time.sleep(0.2)  # let the server finish its trace lines
        finally:
            server.send_signal(signal.SIGINT)
            output, _ = server.communicate(timeout=15)
    assert server.returncode == 0, output
    positions = [output.find(step) for step in STEPS]
    assert -1 not in positions, output
    assert positions == sorted(positions), output


def test_no_trace_by_default() -> None:
    """Without the flag the sample server prints no trace line."""
    port = _free_port()
    with subprocess.Popen([sys.executable, "sample_server.py", "--port", str(port)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as server:
        try:
            assert _get(port).startswith(b"HTTP/1.1 200 OK\r\n")
        finally:
            server.send_signal(signal.SIGINT)
            output, _ = server.communicate(timeout=15)
    assert "conn 1:" not in output, output
