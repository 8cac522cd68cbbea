"""Both clients against the real sample server: a few hundred requests, GET and
POST (the sample server echoes the body), all counted, all 200, no errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import RunClient
from .test_clients import assert_clean

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", name="sample_url")
def fixture_sample_url() -> Iterator[str]:
    """The sample server on uvloop, on a free port, for this module."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with subprocess.Popen([sys.executable, str(ROOT / "sample_server.py"), "--uvloop",
                           "--port", str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as server:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the sample server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=15)
        assert server.returncode == 0, output
        assert "served" in output, output


def test_get_against_the_sample_server(run_json: RunClient, sample_url: str) -> None:
    """300 GETs over 10 keep-alive connections: 300 answers, 0 errors."""
    assert_clean(run_json("-c", "10", "-n", "300", "-url", sample_url), 300)


def test_post_against_the_sample_server(run_json: RunClient, sample_url: str) -> None:
    """300 POSTs with a body: the echoed bodies frame correctly, 0 errors."""
    report = run_json("-c", "5", "-n", "300", "-m", "POST", "-body", "hello aioweb",
                      "-url", sample_url)
    assert_clean(report, 300)
    assert report["bytes_read"] >= 300 * len("hello aioweb"), report


def test_curl_reuses_one_connection_and_gets_its_body_back(sample_url: str) -> None:
    """curl, a real client: two POSTs on one command line go over one kept-alive
    connection, each echoed whole, and a chunked upload comes back de-chunked."""
    result = subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "10",
         "--data-binary", "first body", sample_url + "a", "--next",
         "--data-binary", "second", sample_url + "b", "--next",
         "-H", "Transfer-Encoding: chunked", "--data-binary", "chunked one", sample_url + "c"],
        capture_output=True, text=True, check=True, timeout=20)
    assert result.stdout == "first bodysecondchunked one"
    assert result.stderr.count("Connected to") == 1, result.stderr  # curl opened one connection
    assert "Re-using existing connection" in result.stderr or \
        "Reusing existing" in result.stderr, result.stderr
