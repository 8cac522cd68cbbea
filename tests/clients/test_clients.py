"""client.go and client.py: counts, report format, error kinds, parser,
histogram and flags. Each end-to-end run is a few hundred requests to a
server on 127.0.0.1; the go tests skip if go is not installed."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

from .conftest import RunClient, Servers, client_command, run_command

KEYS = ["client", "url", "method", "connections", "keepalive", "pipeline", "rate_target",
        "requests", "errors", "unfinished", "duration_s", "rate", "latency_ms", "status",
        "errors_by_kind", "bytes_read", "last_error"]
LATENCY_KEYS = ["min", "p50", "p90", "p99", "p99.9", "max", "mean"]
KINDS = {"connect", "reset", "timeout", "bad_response", "other"}


def assert_clean(report: dict[str, Any], requests: int) -> None:
    """All requests answered 200, nothing else."""
    assert report["requests"] == requests, report
    assert report["status"] == {"200": requests}, report
    assert report["errors"] == 0 and report["unfinished"] == 0, report
    assert set(report["errors_by_kind"]) == KINDS
    assert not any(report["errors_by_kind"].values()), report
    assert report["rate"] > 0 and report["duration_s"] > 0
    lat = report["latency_ms"]
    assert list(lat) == LATENCY_KEYS
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]


# ---------------------------------------------------------------- good servers


def test_counts_and_json_format(run_json: RunClient, servers: Servers) -> None:
    """A few hundred requests: all counted, all 200, the JSON keys in order."""
    report = run_json("-c", "10", "-n", "400", "-url", servers.url("ok"))
    assert list(report) == KEYS
    assert report["connections"] == 10 and report["pipeline"] == 1 and report["keepalive"]
    assert report["method"] == "GET" and report["url"] == servers.url("ok")
    assert report["bytes_read"] == 400 * len(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
    assert_clean(report, 400)


@pytest.mark.parametrize("mode,args", [
    ("chunked", ["-c", "5", "-n", "300"]),
    ("ok", ["-c", "4", "-n", "301", "-pipeline", "8"]),
    ("ok", ["-c", "4", "-n", "100", "-keepalive=false"]),
    ("close-each", ["-c", "4", "-n", "100"]),
    ("close-each", ["-c", "2", "-n", "100", "-pipeline", "4"]),
    ("ok", ["-c", "3", "-n", "200", "-m", "POST", "-body", "hello", "-H", "X-Test: 1"]),
], ids=["chunked", "pipeline", "no-keepalive", "connection-close", "close-pipelined", "post"])
def test_framings_and_modes(run_json: RunClient, servers: Servers, mode: str,
                            args: list[str]) -> None:
    """Chunked bodies, pipelining, one connection per request, servers that
    close after each answer: every request is counted once, with no error."""
    report = run_json(*args, "-url", servers.url(mode))
    assert_clean(report, int(args[args.index("-n") + 1]))


def test_flag_aliases(run_json: RunClient, servers: Servers) -> None:
    """--threads and --requests, the original project's names."""
    report = run_json("--threads", "3", "--requests", "60", "--url", servers.url("ok"))
    assert report["connections"] == 3
    assert_clean(report, 60)


def test_duration_and_rate(run_json: RunClient, servers: Servers) -> None:
    """-d with -rate: an open loop that sends about rate * d requests."""
    report = run_json("-c", "4", "-d", "1s", "-rate", "200", "-url", servers.url("ok"))
    assert report["rate_target"] == 200
    assert report["errors"] == 0 and report["latency_ms"]["min"] > 0, report
    assert 170 <= report["requests"] <= 201, report
    assert 0.9 <= report["duration_s"] <= 1.5, report


def test_open_loop_sees_a_stall(run_json: RunClient) -> None:
    """-rate is an open loop: requests that fall due while the server holds
    every connection for 300 ms are timed from when they were due, so the
    stall shows in the percentiles (a closed loop would hide it)."""
    server = Servers()
    try:
        report = run_json("-c", "4", "-rate", "200", "-d", "1s", "-url", server.url("pause"))
    finally:
        server.close()
    # The rate itself is test_duration_and_rate's business; here, on a busy
    # host, the client may fall behind it (101 and 137 of 200 seen under steal).
    assert report["errors"] == 0 and report["requests"] >= 100, report
    assert report["latency_ms"]["min"] > 0, report
    # About 60 of the 200 requests fall due during the stall and wait for it.
    assert report["latency_ms"]["p90"] >= 100 and report["latency_ms"]["max"] >= 200, report


def test_python_processes(servers: Servers) -> None:
    """client.py --processes 2 merges its workers' counts and histograms."""
    proc = run_command([*client_command("py", None), "-json", "-c", "4", "-n", "400",
                        "--processes", "2", "-url", servers.url("ok")])
    report = json.loads(proc.stdout)
    assert report["connections"] == 4
    assert_clean(report, 400)


def test_text_reports_match(go_client: Path, servers: Servers) -> None:
    """Both clients print the same text report, line for line."""
    url = servers.url("ok")
    texts = [run_command([*client_command(kind, go_client), "-c", "2", "-n", "50", "-url", url]
                         ).stdout for kind in ("go", "py")]
    shapes = []
    for text in texts:
        lines = text.splitlines()
        assert len(lines) == 10, text
        shapes.append([re.sub(r"\d+(\.\d+)?", "N", line) for line in lines])
        assert "status      200=50" in lines
        assert lines[2] == "requests    50"
        assert lines[7] == "errors      0  connect=0 reset=0 timeout=0 bad_response=0 other=0"
    assert shapes[0][1:] == shapes[1][1:]
    assert shapes[0][0].replace("client go", "client py") == shapes[1][0].replace(
        "client python", "client py")


# ---------------------------------------------------------------- broken servers


@pytest.mark.parametrize("mode,kind", [
    ("reset", "reset"),
    ("hangup", "reset"),
    ("malformed", "bad_response"),
    ("badlength", "bad_response"),
    ("badchunk", "bad_response"),
])
def test_error_kinds(run_json: RunClient, servers: Servers, mode: str, kind: str) -> None:
    """Each broken answer is counted as an error of its kind, never a success."""
    report = run_json("-c", "2", "-n", "20", "-url", servers.url(mode))
    assert report["requests"] == 0 and report["status"] == {}, report
    assert report["errors"] == 20 and report["errors_by_kind"][kind] == 20, report
    assert report["last_error"]


def test_stall_is_a_timeout(run_json: RunClient, servers: Servers) -> None:
    """A server that never answers: every request times out."""
    report = run_json("-c", "2", "-n", "4", "-timeout", "300ms", "-url", servers.url("stall"))
    assert report["errors_by_kind"]["timeout"] == 4 and report["requests"] == 0, report


def test_refused_is_a_connect_error(run_json: RunClient, refused_url: str) -> None:
    """Nothing listening: connect errors, one per request."""
    report = run_json("-c", "2", "-n", "10", "-url", refused_url)
    assert report["errors_by_kind"]["connect"] == 10 and report["requests"] == 0, report


def test_stall_during_duration_run(run_json: RunClient, servers: Servers) -> None:
    """-d against a stalled server: in-flight requests are unfinished at the
    end, not successes, and the run still ends on time."""
    report = run_json("-c", "3", "-d", "0.5", "-timeout", "5s", "-url", servers.url("stall"))
    assert report["requests"] == 0 and report["unfinished"] == 3 and report["errors"] == 0
    assert report["duration_s"] < 2


# ---------------------------------------------------------------- client.py's parts


# framing: a body length, -1 for chunked, -2 for "until the connection closes"
GOOD_HEADS = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5", False, (200, 5, False)),
    (b"HTTP/1.1 404", False, (404, -2, True)),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked", False, (200, -1, False)),
    (b"HTTP/1.1 204 No Content\r\nContent-Length: 7", False, (204, 0, False)),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 7", True, (200, 0, False)),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 1", False, (200, 1, True)),
    (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1", False, (200, 1, False)),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1", False, (200, 1, True)),
    (b"HTTP/1.1 200 OK", False, (200, -2, True)),
]


@pytest.mark.parametrize("head,is_head,want", GOOD_HEADS)
def test_parse_head_good(pyclient: ModuleType, head: bytes, is_head: bool,
                         want: tuple[int, int, bool]) -> None:
    """Well-formed heads: status, framing and whether the connection closes."""
    assert (pyclient.CHUNKED, pyclient.UNTIL_CLOSE) == (-1, -2)
    assert pyclient.parse_head(head, is_head) == want


@pytest.mark.parametrize("head", [
    b"SSH-2.0-OpenSSH", b"HTTP/2.0 200 OK", b"HTTP/1.1 2OO OK", b"HTTP/1.1 099 X",
    b"HTTP/1.1 200OK", b"HTTP/1.1 200 OK\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nContent-Length 0", b"HTTP/1.1 200 OK\r\nContent-Length : 0",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b", b"HTTP/1.1 200 OK\r\nContent-Length: abc",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK" + b"\r\nX: y" * 101,
])
def test_parse_head_malformed(pyclient: ModuleType, head: bytes) -> None:
    """Malformed heads are refused."""
    with pytest.raises(pyclient.BadResponse):
        pyclient.parse_head(head, False)


class FakeTransport:
    """Stands in for a socket: records writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        """Record a write."""
        self.writes.append(data)

    def close(self) -> None:
        """Record a close."""
        self.closed = True

    abort = close


STREAM = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
          b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
          b"HTTP/1.1 204 No Content\r\n\r\n")


@pytest.mark.parametrize("pipeline", [1, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_split_anywhere(pyclient: ModuleType, pipeline: int, seed: int) -> None:
    """Responses cut at any byte (down to one byte at a time) parse the same."""
    rounds = 4
    cfg = pyclient.Config(requests=3 * rounds, pipeline=pipeline)
    assert pyclient.check_config(cfg) == ""
    loop = asyncio.new_event_loop()
    try:
        run = pyclient.Runner(cfg, "127.0.0.1", loop)
        conn = pyclient.Conn(run)
        transport = FakeTransport()
        conn.connection_made(transport)
        data = STREAM * rounds
        rng = random.Random(seed)
        pos = 0
        while pos < len(data):
            step = 1 if seed == 0 else rng.randint(1, 40)
            conn.data_received(data[pos:pos + step])
            pos += step
        assert run.errors == [0] * 5, run.last_error
        assert (run.status[200], run.status[201], run.status[204]) == (rounds,) * 3
        assert sum(run.counts) == 3 * rounds and run.bytes_read == len(data)
        assert transport.closed  # the budget is spent: the connection retires
        assert b"".join(transport.writes) == pyclient.build_request(cfg) * 3 * rounds
    finally:
        loop.close()


def test_stream_malformed_chunk(pyclient: ModuleType) -> None:
    """A bad chunk size in the middle of a stream is a bad_response error."""
    cfg = pyclient.Config(requests=2)
    pyclient.check_config(cfg)
    loop = asyncio.new_event_loop()
    try:
        run = pyclient.Runner(cfg, "127.0.0.1", loop)
        conn = pyclient.Conn(run)
        conn.connection_made(FakeTransport())
        conn.data_received(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n")
        assert run.errors[pyclient.BAD_RESPONSE] == 1 and conn.dead
    finally:
        loop.close()


@pytest.mark.parametrize("dist", ["uniform", "exponential", "log-uniform", "bimodal"])
def test_histogram_error_bound(pyclient: ModuleType, dist: str) -> None:
    """Percentiles are within 2^-(HIST_P+1) of the exact ones; min/max exact."""
    rng = random.Random(dist)
    draws: dict[str, Callable[[], int]] = {
        "uniform": lambda: rng.randrange(1_000_000),
        "exponential": lambda: int(rng.expovariate(1 / 50_000)),
        "log-uniform": lambda: int(math.exp(rng.random() * math.log(1e11))),
        "bimodal": lambda: rng.choice((300_000, 200_000_000)) + rng.randrange(1000),
    }
    draw = draws[dist]
    hist = pyclient.Histogram()
    values = sorted(draw() for _ in range(20000))
    for value in values:
        hist.record(value)
    bound = 2.0 ** -(pyclient.HIST_P + 1)
    for q in (0, 1, 50, 90, 99, 99.9, 99.99, 100):
        exact = values[max(1, math.ceil(q / 100 * len(values))) - 1]
        assert abs(hist.percentile(q) - exact) <= bound * exact, (q, exact)
    assert hist.percentile(0) == values[0] and hist.percentile(100) == values[-1]


def test_histogram_buckets_match_go(pyclient: ModuleType) -> None:
    """Buckets tile the range with no gap; each is narrow enough (same
    scheme as client.go, so the two clients' percentiles agree)."""
    prev_high = -1
    for index in range(0, pyclient.HIST_BUCKETS, 7):
        low, width = pyclient.bucket_range(index)
        assert pyclient.bucket_index(low) == index == pyclient.bucket_index(low + width - 1)
        if low >= 2 << pyclient.HIST_P:
            assert width <= low / (1 << pyclient.HIST_P)
        assert low > prev_high
        prev_high = low + width - 1
    assert pyclient.bucket_index(pyclient.HIST_MAX) == pyclient.HIST_BUCKETS - 1


@pytest.mark.parametrize("argv,conns,requests", [
    (["--threads", "7", "--requests", "123"], 7, 123),
    (["-threads=7", "-requests=123"], 7, 123),
    (["-c", "7", "-n", "123"], 7, 123),
    (["--c=7", "--n", "123"], 7, 123),
])
def test_python_flag_aliases(pyclient: ModuleType, argv: list[str], conns: int,
                             requests: int) -> None:
    """client.py takes client.go's flag names, with one dash or two."""
    cfg = pyclient.parse_args(argv)
    assert (cfg.conns, cfg.requests) == (conns, requests)


def test_python_flag_forms(pyclient: ModuleType) -> None:
    """Go-style booleans and durations, defaults, a positional URL."""
    cfg = pyclient.parse_args([])
    assert (cfg.conns, cfg.requests, cfg.keepalive, cfg.pipeline, cfg.timeout) == (
        10, 10000, True, 1, 5.0)
    cfg = pyclient.parse_args(["-keepalive=false", "-json", "-d", "1m30s", "-timeout", "250ms",
                               "-H", "X-A: 1", "-H", "X-B: 2", "http://localhost:9000/p?q=1"])
    assert not cfg.keepalive and cfg.json and cfg.duration == 90 and cfg.timeout == 0.25
    assert cfg.requests == 0 and cfg.headers == ["X-A: 1", "X-B: 2"]
    assert (cfg.host, cfg.port, cfg.target) == ("localhost", 9000, "/p?q=1")
    request = pyclient.build_request(cfg)
    assert request.startswith(b"GET /p?q=1 HTTP/1.1\r\nHost: localhost:9000\r\n")
    assert b"Connection: close\r\n" in request and b"X-B: 2\r\n" in request


@pytest.mark.parametrize("argv", [
    ["-c", "0"], ["-pipeline", "4", "-keepalive=false"], ["-pipeline", "4", "-rate", "100"],
    ["-url", "https://127.0.0.1/"], ["-H", "no colon"], ["-d", "soon"], ["-timeout", "0"],
    ["-keepalive=maybe"],
])
def test_python_flag_errors(pyclient: ModuleType, argv: list[str]) -> None:
    """Bad flags end the program with a message."""
    with pytest.raises(SystemExit):
        pyclient.parse_args(argv)
