"""aioweb's load generator on asyncio (uvloop when installed).

    python3 client.py --url http://127.0.0.1:8888/ -c 50 -d 5s
    python3 client.py --threads 8 --requests 100000 --processes 2
    python3 client.py -c 20 -d 10s --rate 5000 --json

It takes client.go's flags (as -flag or --flag) and prints the same report,
so the two can stand in for each other in scripts. Each connection is an
asyncio Protocol that writes pre-serialized request bytes and parses every
answer itself (status line, headers, framing by Content-Length or chunked);
a malformed answer is an error, not a success. Latency goes into the same
log-linear histogram as client.go's. Without --rate the load is a closed
loop and latency runs from the write; with --rate it is an open loop and
latency runs from each request's intended send time (no coordinated
omission). --processes N spreads the connections over N processes and
merges their histograms. See docs/clients.md.
"""

# One file on purpose: like client.go, it is a tool to copy and run alone.
# pylint: disable=too-many-lines

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence, cast

DEFAULT_URL = "http://127.0.0.1:8888/"
DEFAULT_CONNS = 10
DEFAULT_REQUESTS = 10000
DEFAULT_TIMEOUT = 5.0
MAX_HEAD = 64 << 10  # the longest response head accepted
MAX_LINE = 64 << 10  # the longest chunk-size or trailer line accepted
MAX_HEADER_LINES = 100
ALLOW_REMOTE_ENV = "AIOWEB_CLIENT_ALLOW_REMOTE"

# Error kinds, in report order (client.go's kindNames).
CONNECT, RESET, TIMEOUT, BAD_RESPONSE, OTHER = range(5)
KIND_NAMES = ("connect", "reset", "timeout", "bad_response", "other")

# Framing of a response body, as learnt from its head.
CHUNKED = -1
UNTIL_CLOSE = -2

# Parser states.
HEAD, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_CRLF, TRAILER, UNTIL_EOF = range(7)

now_ns = time.perf_counter_ns

# ---------------------------------------------------------------- histogram

# Log-linear buckets, like HdrHistogram and exactly like client.go's: values
# below 2^(HIST_P+1) ns have a bucket each; above that every power-of-two
# range is cut into 2^HIST_P equal buckets. A percentile is reported as its
# bucket's midpoint, so its relative error is at most 2^-(HIST_P+1) (0.2%).
HIST_P = 8
HIST_MAX_SHIFT = 33
HIST_BUCKETS = (HIST_MAX_SHIFT + 2) << HIST_P
HIST_MAX = (1 << (HIST_P + 1 + HIST_MAX_SHIFT)) - 1


def bucket_index(value: int) -> int:
    """The bucket of a value in nanoseconds."""
    value = min(max(value, 0), HIST_MAX)
    shift = value.bit_length() - HIST_P - 1
    if shift <= 0:
        return value
    return (shift << HIST_P) + (value >> shift)


def bucket_range(index: int) -> tuple[int, int]:
    """The lowest value of a bucket and its width."""
    if index < 2 << HIST_P:
        return index, 1
    shift = (index >> HIST_P) - 1
    return (index - (shift << HIST_P)) << shift, 1 << shift


@dataclass
class Histogram:
    """Latency counts in log-linear buckets, with exact min, max and sum."""

    counts: list[int] = field(default_factory=lambda: [0] * HIST_BUCKETS)
    total: int = 0
    sum: int = 0
    min: int = 0
    max: int = 0

    def record(self, value: int) -> None:
        """Count one value (ns)."""
        value = min(max(value, 0), HIST_MAX)
        self.counts[bucket_index(value)] += 1
        if self.total == 0 or value < self.min:
            self.min = value
        self.max = max(self.max, value)
        self.total += 1
        self.sum += value

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        if not other.total:
            return
        for i, count in enumerate(other.counts):
            if count:
                self.counts[i] += count
        self.min = other.min if self.total == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.sum += other.sum

    def percentile(self, q: float) -> int:
        """The value at rank ceil(q/100 * total), q in [0, 100]."""
        if not self.total:
            return 0
        rank = math.ceil(q / 100 * self.total)
        if rank < 1:
            return self.min
        if rank >= self.total:
            return self.max
        seen = 0
        for i, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                low, width = bucket_range(i)
                return min(max(low + width // 2, self.min), self.max)
        return self.max

    def to_dict(self) -> dict[str, Any]:
        """A compact, picklable form (only the buckets in use)."""
        return {"counts": {i: c for i, c in enumerate(self.counts) if c},
                "total": self.total, "sum": self.sum, "min": self.min, "max": self.max}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        """The inverse of to_dict."""
        hist = cls(total=data["total"], sum=data["sum"], min=data["min"], max=data["max"])
        for i, count in data["counts"].items():
            hist.counts[int(i)] = count
        return hist


# ---------------------------------------------------------------- flags


@dataclass
class Config:
    """The parsed command line."""

    url: str = DEFAULT_URL
    conns: int = DEFAULT_CONNS
    requests: int = 0
    duration: float = 0.0
    method: str = "GET"
    body: bytes = b""
    headers: list[str] = field(default_factory=list)
    keepalive: bool = True
    pipeline: int = 1
    rate: float = 0.0
    timeout: float = DEFAULT_TIMEOUT
    json: bool = False
    processes: int = 1
    # derived
    host: str = ""
    port: int = 80
    host_header: str = ""
    target: str = "/"


def parse_duration(text: str) -> float:
    """Seconds from "5", "0.5", "5s", "250ms", "1m30s" (Go's duration syntax)."""
    try:
        secs = float(text)
    except ValueError:
        secs = -1.0
        parts = re.fullmatch(r"((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+", text)
        if parts:
            units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                     "h": 3600.0}
            secs = sum(float(num) * units[unit] for num, unit in
                       re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text))
        else:
            raise argparse.ArgumentTypeError(
                f"duration {text!r}: want e.g. 5s, 500ms, 1m or plain seconds") from None
    if secs < 0 or not math.isfinite(secs):
        raise argparse.ArgumentTypeError(f"duration {text!r} is negative or not finite")
    return secs


def parse_header(text: str) -> str:
    """Check a -H value is "Name: value"."""
    name, colon, _ = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c in name for c in " \t\r\n"):
        raise argparse.ArgumentTypeError(f'header {text!r} is not "Name: value"')
    return text


GO_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
            "0": False, "f": False, "F": False, "false": False, "FALSE": False,
            "False": False}
BOOL_FLAGS = ("keepalive", "json")


def _normalize_bools(argv: Sequence[str]) -> list[str]:
    """Rewrite Go-style boolean flags (-keepalive=false, --json=true) for argparse."""
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        match = re.fullmatch(r"--?(" + "|".join(BOOL_FLAGS) + r")(?:=(.*))?", arg)
        if match:
            value = GO_BOOLS.get(match.group(2) or "true")
            if value is None:
                raise SystemExit(f"client.py: invalid boolean value {match.group(2)!r} for "
                                 f"-{match.group(1)}")
            out.append(f"--{match.group(1)}" if value else f"--no-{match.group(1)}")
        else:
            out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The flags, named as client.go names them; -x and --x both work."""
    parser = argparse.ArgumentParser(
        prog="client.py", allow_abbrev=False,
        description="Load an HTTP/1.1 server and report rate, latency and errors.")
    add = parser.add_argument
    add("positional_url", nargs="?", metavar="URL", help="target URL, if --url is not given")
    add("-url", "--url", help=f"target URL, http:// only ({DEFAULT_URL})")
    add("-c", "--c", "-threads", "--threads", dest="conns", type=int, default=DEFAULT_CONNS,
        help="connections (--threads is an alias)")
    add("-n", "--n", "-requests", "--requests", dest="requests", type=int, default=0,
        help=f"total requests ({DEFAULT_REQUESTS} when -d is not given; --requests is an alias)")
    add("-d", "--d", dest="duration", type=parse_duration, default=0.0,
        help="duration, e.g. 5s or 5 (stops at whichever of -n/-d comes first)")
    add("-m", "--m", dest="method", default="GET", help="request method")
    add("-body", "--body", dest="body", default="", help="request body")
    add("-body-file", "--body-file", dest="body_file", help="file whose content is the body")
    add("-H", "--H", dest="headers", action="append", type=parse_header, default=[],
        help='extra request header "Name: value" (repeatable)')
    add("--keepalive", dest="keepalive", action="store_true", default=True,
        help="reuse connections (default; -keepalive=false: one connection per request)")
    add("--no-keepalive", dest="keepalive", action="store_false", help=argparse.SUPPRESS)
    add("-pipeline", "--pipeline", dest="pipeline", type=int, default=1,
        help="requests written back to back on a connection before reading the answers")
    add("-rate", "--rate", dest="rate", type=float, default=0.0,
        help="open loop: total requests per second, latency from each intended send time")
    add("-timeout", "--timeout", dest="timeout", type=parse_duration, default=DEFAULT_TIMEOUT,
        help="per-request timeout (and connect timeout), e.g. 5s")
    add("--json", dest="json", action="store_true", help="print one JSON object")
    add("--no-json", dest="json", action="store_false", help=argparse.SUPPRESS)
    add("-processes", "--processes", dest="processes", type=int, default=1,
        help="spread the connections over this many processes (Python only)")
    return parser


def parse_args(argv: Sequence[str]) -> Config:
    """Parse and check the command line; exit with a message if it is wrong."""
    parser = build_parser()
    args = parser.parse_args(_normalize_bools(argv))
    url = args.url or args.positional_url or DEFAULT_URL
    if args.url and args.positional_url:
        parser.error("give the URL once, as --url or as the last argument")
    body = args.body.encode()
    if args.body and args.body_file:
        parser.error("give --body or --body-file, not both")
    if args.body_file:
        with open(args.body_file, "rb") as handle:
            body = handle.read()
    cfg = Config(url=url, conns=args.conns, requests=args.requests, duration=args.duration,
                 method=args.method, body=body, headers=args.headers, keepalive=args.keepalive,
                 pipeline=args.pipeline, rate=args.rate, timeout=args.timeout, json=args.json,
                 processes=args.processes)
    problem = check_config(cfg)
    if problem:
        parser.error(problem)
    return cfg


def check_config(cfg: Config) -> str:
    """Check the flags against each other and fill the derived fields."""
    problems = [
        (cfg.conns < 1, "-c must be at least 1"),
        (cfg.requests < 0, "-n must not be negative"),
        (cfg.pipeline < 1, "-pipeline must be at least 1"),
        (cfg.pipeline > 1 and not cfg.keepalive, "-pipeline needs keep-alive"),
        (cfg.pipeline > 1 and cfg.rate > 0, "-pipeline and -rate do not combine: the open "
         "loop sends one request at a time per connection"),
        (cfg.rate < 0 or not math.isfinite(cfg.rate), "-rate must be a positive number"),
        (cfg.timeout <= 0, "-timeout must be positive"),
        (cfg.processes < 1, "--processes must be at least 1"),
        (not cfg.method or any(c in cfg.method for c in " \t\r\n"), f"bad method {cfg.method!r}"),
    ]
    for bad, message in problems:
        if bad:
            return message
    if cfg.requests == 0 and cfg.duration == 0:
        cfg.requests = DEFAULT_REQUESTS
    match = re.fullmatch(r"http://(\[[^\]/]+\]|[^:/?#\[\]@]+)(?::(\d*))?([/?][^#]*)?(#.*)?",
                         cfg.url)
    if not match:
        return f"bad -url {cfg.url!r}: want http://host[:port]/path"
    host, port, target = match.group(1), match.group(2), match.group(3) or "/"
    cfg.host = host.strip("[]")
    cfg.port = int(port) if port else 80
    cfg.host_header = host + (f":{port}" if port else "")
    cfg.target = target if target.startswith("/") else "/" + target
    return ""


def build_request(cfg: Config) -> bytes:
    """The request every connection sends, serialized once."""
    lines = [f"{cfg.method} {cfg.target} HTTP/1.1"]
    names = {h.partition(":")[0].strip().lower() for h in cfg.headers}
    if "host" not in names:
        lines.append(f"Host: {cfg.host_header}")
    if "user-agent" not in names:
        lines.append("User-Agent: aioweb-client/python")
    if "content-length" not in names and "transfer-encoding" not in names:
        if cfg.body or cfg.method.upper() in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(cfg.body)}")
    if not cfg.keepalive and "connection" not in names:
        lines.append("Connection: close")
    for header in cfg.headers:
        name, _, value = header.partition(":")
        lines.append(f"{name.strip()}: {value.strip()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + cfg.body


def resolve_loopback(host: str, port: int) -> str:
    """Resolve the target once and refuse a non-loopback address unless
    AIOWEB_CLIENT_ALLOW_REMOTE is set: load belongs on your own machine."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SystemExit(f"client.py: cannot resolve {host!r}: {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    address = next((a for a in addresses if ":" not in a), addresses[0])
    if not ipaddress.ip_address(address).is_loopback and not os.environ.get(ALLOW_REMOTE_ENV):
        raise SystemExit(f"client.py: {address} is not a loopback address; "
                         f"set {ALLOW_REMOTE_ENV}=1 to load another machine")
    return address


# ---------------------------------------------------------------- parser


class BadResponse(Exception):
    """A response that breaks HTTP/1.1's syntax or framing."""


def _lower_tokens(value: bytes) -> list[bytes]:
    return [t.strip().lower() for t in value.split(b",")]


def parse_head(head: bytes, is_head: bool) -> tuple[int, int, bool]:
    """Check a response head (status line and headers, without the blank
    line) and return (status, framing, close): framing is the body length,
    CHUNKED or UNTIL_CLOSE; close says the connection cannot be reused."""
    lines = head.split(b"\r\n")
    status, http10 = parse_status_line(lines[0])
    close = http10
    if len(lines) > MAX_HEADER_LINES + 1:
        raise BadResponse("too many header lines")
    length = -1
    chunked = until_close = False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name:
            raise BadResponse(f"header line {_clip(line)!r} has no name and colon")
        if b" " in name or b"\t" in name:
            raise BadResponse(f"header name {_clip(name)!r} has white space")
        if b"\n" in line:
            raise BadResponse("header line not ended by CRLF")
        value = value.strip(b" \t")
        lname = name.lower()
        if lname == b"content-length":
            if not value.isdigit() or len(value) > 15:
                raise BadResponse(f"Content-Length {_clip(value)!r}")
            if length >= 0 and length != int(value):
                raise BadResponse("two different Content-Length headers")
            length = int(value)
        elif lname == b"transfer-encoding":
            if _lower_tokens(value)[-1] == b"chunked":
                chunked = True
            else:
                until_close = True  # RFC 9112 6.3: read until the connection closes
        elif lname == b"connection":
            tokens = _lower_tokens(value)
            if b"close" in tokens:
                close = True
            elif b"keep-alive" in tokens and http10:
                close = False
    if status == 101:
        return status, 0, True
    if is_head or status < 200 or status in (204, 304):
        return status, 0, close
    if (chunked or until_close) and length >= 0:
        raise BadResponse("both Transfer-Encoding and Content-Length")
    if chunked:
        return status, CHUNKED, close
    if length >= 0:
        return status, length, close
    return status, UNTIL_CLOSE, True


def parse_status_line(line: bytes) -> tuple[int, bool]:
    """Check "HTTP/1.x SSS[ reason]" and return (status, is HTTP/1.0)."""
    good = (len(line) >= 12 and line.startswith(b"HTTP/1.") and line[7] in b"01"
            and line[8] == 0x20 and line[9:12].isdigit())
    if not good or (len(line) > 12 and line[12] != 0x20) or b"\n" in line:
        raise BadResponse(f"status line {_clip(line)!r}")
    status = int(line[9:12])
    if status < 100:
        raise BadResponse(f"status line {_clip(line)!r}")
    return status, line[7] == 0x30


def parse_chunk_size(line: bytes) -> int:
    """The size from a chunk-size line (without CRLF); extensions ignored."""
    size = line.partition(b";")[0].rstrip(b" \t")
    if not size or len(size) > 12 or size.strip(b"0123456789abcdefABCDEF"):
        raise BadResponse(f"chunk size {_clip(size)!r}")
    return int(size, 16)


def _clip(data: bytes) -> str:
    text = data.decode("latin-1")
    return text if len(text) <= 40 else text[:40] + "..."


def classify(exc: BaseException | None, mid_response: bool) -> int:
    """The error kind of a connection lost with requests outstanding."""
    if exc is None:
        return BAD_RESPONSE if mid_response else RESET
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return RESET
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    return OTHER


# ---------------------------------------------------------------- tally


@dataclass
class Tally:
    """What one process counted; merged across --processes."""

    hist: Histogram = field(default_factory=Histogram)
    status: dict[int, int] = field(default_factory=dict)
    errors: list[int] = field(default_factory=lambda: [0] * len(KIND_NAMES))
    unfinished: int = 0
    bytes_read: int = 0
    duration_ns: int = 0
    last_error: str = ""

    def merge(self, other: Tally) -> None:
        """Add another tally to this one; the duration is the longer one."""
        self.hist.merge(other.hist)
        for code, count in other.status.items():
            self.status[code] = self.status.get(code, 0) + count
        self.errors = [a + b for a, b in zip(self.errors, other.errors)]
        self.unfinished += other.unfinished
        self.bytes_read += other.bytes_read
        self.duration_ns = max(self.duration_ns, other.duration_ns)
        self.last_error = other.last_error or self.last_error

    def to_dict(self) -> dict[str, Any]:
        """A picklable form."""
        return {"hist": self.hist.to_dict(), "status": dict(self.status),
                "errors": list(self.errors), "unfinished": self.unfinished,
                "bytes_read": self.bytes_read, "duration_ns": self.duration_ns,
                "last_error": self.last_error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        """The inverse of to_dict."""
        return cls(hist=Histogram.from_dict(data["hist"]), status=dict(data["status"]),
                   errors=list(data["errors"]), unfinished=data["unfinished"],
                   bytes_read=data["bytes_read"], duration_ns=data["duration_ns"],
                   last_error=data["last_error"])


# ---------------------------------------------------------------- connections


class Conn(asyncio.Protocol):
    """One connection: writes requests, parses and times the answers."""

    def __init__(self, run: Runner) -> None:
        self.run = run
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = run.loop.create_future()
        self.buf = b""
        self.state = HEAD
        self.left = 0  # body or chunk bytes still to come
        self.status = 0  # of the response being read
        self.close_after = False
        self.outstanding = 0  # requests written and not answered yet
        self.since = 0  # when they were written (closed loop) or due (open loop), ns
        self.dead = False
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.run.conns.add(self)
        self.run.next_request(self)

    def data_received(self, data: bytes) -> None:
        self.run.bytes_read += len(data)
        if self.buf:
            data = self.buf + data
            self.buf = b""
        try:
            self._parse(data)
        except BadResponse as exc:
            if not self.outstanding:  # an answer to no request is an error too
                self.run.count_error(BAD_RESPONSE, 1, f"bad response: {exc}")
            self.fail(BAD_RESPONSE, f"bad response: {exc}")

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost does the counting

    def connection_lost(self, exc: Exception | None) -> None:
        run = self.run
        run.conns.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if not self.dead:
            self.dead = True
            if self.state == UNTIL_EOF and exc is None and self.outstanding:
                self._record()
                run.unclaim(self.outstanding)
            elif self.outstanding:
                mid = self.state != HEAD or bool(self.buf)
                kind = classify(exc, mid)
                what = (f"{exc.__class__.__name__}: {exc}" if exc else
                        "connection closed inside a response" if mid else
                        "connection closed before the response")
                run.count_error(kind, self.outstanding, what)
            self.outstanding = 0
        if not self.done.done():
            self.done.set_result(None)

    # -- parsing

    def _parse(self, data: bytes) -> None:
        """Consume data: whole responses, or the start of one."""
        pos = 0
        end = len(data)
        run = self.run
        while pos < end and not self.dead:
            state = self.state
            if state == HEAD:
                if not self.outstanding:
                    raise BadResponse("data with no request outstanding")
                i = data.find(b"\r\n\r\n", pos)
                if i < 0:
                    if end - pos > MAX_HEAD:
                        raise BadResponse("response head too long")
                    self.buf = data[pos:]
                    return
                head = data[pos:i]
                info = run.heads.get(head)
                if info is None:
                    info = run.learn(head)
                status, framing, self.close_after = info
                pos = i + 4
                if status < 200 and status != 101:
                    continue  # an interim response: the final one follows
                self.status = status
                if framing == 0:
                    self._complete()
                elif framing > 0:
                    if end - pos >= framing:
                        pos += framing
                        self._complete()
                    else:
                        self.left = framing - (end - pos)
                        self.state = BODY
                        return
                elif framing == CHUNKED:
                    self.state = CHUNK_SIZE
                else:
                    self.state = UNTIL_EOF
            elif state == BODY:
                take = min(self.left, end - pos)
                pos += take
                self.left -= take
                if not self.left:
                    self.state = HEAD
                    self._complete()
            elif state == UNTIL_EOF:
                return
            else:
                pos = self._parse_chunked(data, pos, end)

    def _parse_chunked(self, data: bytes, pos: int, end: int) -> int:
        """One step through a chunked body; returns the new position."""
        state = self.state
        if state == CHUNK_DATA:
            take = min(self.left, end - pos)
            self.left -= take
            if not self.left:
                self.state = CHUNK_CRLF
            return pos + take
        if state == CHUNK_CRLF:
            if end - pos < 2:
                self.buf = data[pos:]
                return end
            if data[pos:pos + 2] != b"\r\n":
                raise BadResponse("chunk data not followed by CRLF")
            self.state = CHUNK_SIZE
            return pos + 2
        i = data.find(b"\r\n", pos)
        if i < 0:
            if end - pos > MAX_LINE or b"\n" in data[pos:]:
                raise BadResponse("chunk line too long or not ended by CRLF")
            self.buf = data[pos:]
            return end
        line = data[pos:i]
        if b"\n" in line:
            raise BadResponse("chunk line not ended by CRLF")
        if state == CHUNK_SIZE:
            size = parse_chunk_size(line)
            if size:
                self.left = size
                self.state = CHUNK_DATA
            else:
                self.state = TRAILER
                self.left = 0
        elif line:  # a trailer field
            self.left += 1
            if self.left > MAX_HEADER_LINES or not line.partition(b":")[0]:
                raise BadResponse(f"trailer line {_clip(line)!r}")
            if b":" not in line:
                raise BadResponse(f"trailer line {_clip(line)!r}")
        else:
            self.state = HEAD
            self._complete()
        return i + 2

    # -- counting

    def _record(self) -> None:
        """Count the response just read."""
        run = self.run
        lat = min(now_ns() - self.since, HIST_MAX)
        shift = lat.bit_length() - 9  # 9 = HIST_P + 1
        run.counts[((shift << 8) + (lat >> shift)) if shift > 0 else lat] += 1
        run.lat_sum += lat
        run.lat_max = max(run.lat_max, lat)
        run.lat_min = min(run.lat_min, lat)
        run.status[self.status] += 1
        self.outstanding -= 1

    def _complete(self) -> None:
        """Count the response just read and go on."""
        self._record()
        run = self.run
        if self.close_after or not run.keepalive:
            # The connection ends here: what was written after this
            # request goes back to the budget.
            run.unclaim(self.outstanding)
            self.outstanding = 0
            self.retire()
        elif not self.outstanding:
            run.next_request(self)

    def send(self, since: int, data: bytes, count: int) -> None:
        """Write count requests, timed from since."""
        self.outstanding = count
        self.since = since
        assert self.transport is not None
        self.transport.write(data)

    def send_due(self, due: int) -> None:
        """Open loop: the timer's callback."""
        self.timer = None
        if not self.dead:
            # uvloop's timers round to the millisecond and may fire early:
            # a request sent before it was due is timed from its send.
            self.send(min(due, now_ns()), self.run.reqs[1], 1)

    def retire(self) -> None:
        """Close the connection gracefully; nothing is outstanding."""
        if not self.dead:
            self.dead = True
            if self.timer is not None:
                self.timer.cancel()
            assert self.transport is not None
            self.transport.close()

    def fail(self, kind: int, what: str) -> None:
        """Count what is outstanding as errors of a kind and drop the connection."""
        if self.dead:
            return
        self.dead = True
        if self.outstanding:
            self.run.count_error(kind, self.outstanding, what)
            self.outstanding = 0
        if self.timer is not None:
            self.timer.cancel()
        assert self.transport is not None
        self.transport.abort()

    def abandon(self, now: int) -> None:
        """At the end of the run: in-flight requests are unfinished, or
        timeouts if they are already older than -timeout."""
        if self.dead:
            return
        run = self.run
        if self.outstanding:
            if now - self.since >= run.timeout_ns:
                run.count_error(TIMEOUT, self.outstanding, "no response within -timeout")
            else:
                run.unfinished += self.outstanding
            self.outstanding = 0
        self.dead = True
        if self.timer is not None:
            self.timer.cancel()
        assert self.transport is not None
        self.transport.abort()


class Runner:
    """One process's load: its connections, budget and tally."""

    def __init__(self, cfg: Config, address: str, loop: asyncio.AbstractEventLoop,
                 progress: Callable[[int], None] | None = None) -> None:
        self.cfg = cfg
        self.address = address
        self.loop = loop
        self.progress = progress
        req = build_request(cfg)
        self.reqs = [req * k for k in range(cfg.pipeline + 1)]
        self.is_head = cfg.method.upper() == "HEAD"
        self.keepalive = cfg.keepalive
        self.pipeline = cfg.pipeline
        self.timeout_ns = int(cfg.timeout * 1e9)
        self.limit = cfg.requests
        self.remaining = cfg.requests
        self.open_loop = cfg.rate > 0
        self.interval_ns = 1e9 / cfg.rate if cfg.rate > 0 else 0.0
        self.ticket = 0
        self.start_ns = 0
        self.end_ns = 0
        self.over = False
        self.conns: set[Conn] = set()
        self.heads: dict[bytes, tuple[int, int, bool]] = {}
        # the tally, kept flat for the hot path
        self.counts = [0] * HIST_BUCKETS
        self.lat_sum = 0
        self.lat_min = HIST_MAX + 1
        self.lat_max = -1
        self.status = [0] * 1000
        self.errors = [0] * len(KIND_NAMES)
        self.unfinished = 0
        self.bytes_read = 0
        self.last_error = ""
        self.slots: list[asyncio.Task[None]] = []
        self.sweeper: asyncio.TimerHandle | None = None

    # -- the budget

    def has_work(self) -> bool:
        """Whether a connection slot should (re)connect."""
        if self.over:
            return False
        if self.open_loop:
            return self._ticket_ok(self.ticket)
        return not self.limit or self.remaining > 0

    def _ticket_ok(self, i: int) -> bool:
        if self.limit and i >= self.limit:
            return False
        return not self.end_ns or self.start_ns + int(i * self.interval_ns) < self.end_ns

    def claim(self, want: int) -> int:
        """Closed loop: take up to want requests from the budget."""
        if self.over:
            return 0
        if not self.limit:
            return want
        take = min(want, self.remaining)
        self.remaining -= take
        return take

    def unclaim(self, count: int) -> None:
        """Give back requests written but never answered on a closed connection."""
        if self.limit and count > 0 and not self.open_loop:
            self.remaining += count

    def next_request(self, conn: Conn) -> None:
        """Give an idle connection its next request(s), or retire it."""
        if not self.open_loop:
            take = self.claim(self.pipeline)
            if take:
                conn.send(now_ns(), self.reqs[take], take)
            else:
                conn.retire()
            return
        while not self.over and self._ticket_ok(self.ticket):
            due = self.start_ns + int(self.ticket * self.interval_ns)
            self.ticket += 1
            now = now_ns()
            if now - due >= self.timeout_ns:
                # Due so long ago that it timed out before it could leave.
                self.count_error(TIMEOUT, 1, "due longer than -timeout ago with no free connection")
                continue
            if due > now:
                conn.timer = self.loop.call_later((due - now) / 1e9, conn.send_due, due)
            else:
                conn.send(due, self.reqs[1], 1)
            return
        conn.retire()

    # -- counting

    def learn(self, head: bytes) -> tuple[int, int, bool]:
        """Parse a response head not seen before (cached: most repeat)."""
        info = parse_head(head, self.is_head)
        if len(self.heads) > 1000:
            self.heads.clear()
        self.heads[head] = info
        return info

    def count_error(self, kind: int, count: int, what: str) -> None:
        """Count failed requests; after the end they are unfinished instead."""
        if self.over and kind != TIMEOUT:
            self.unfinished += count
            return
        self.errors[kind] += count
        self.last_error = what

    def done_so_far(self) -> int:
        """Responses and errors so far, for the progress line."""
        return sum(self.counts) + sum(self.errors)

    # -- running

    async def _slot(self) -> None:
        """One connection slot: connects, and reconnects while there is work."""
        loop = self.loop
        while self.has_work():
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: Conn(self), self.address, self.cfg.port),
                    self.cfg.timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                if not self.has_work():
                    return
                if self.open_loop:
                    self.ticket += 1
                elif self.limit:
                    self.remaining -= 1
                self.count_error(CONNECT, 1, f"connect: {exc.__class__.__name__}: {exc}")
                await asyncio.sleep(0.01)
                continue
            await conn.done

    def _sweep(self) -> None:
        """Time out what has waited longer than -timeout; report progress."""
        now = now_ns()
        for conn in list(self.conns):
            if conn.outstanding and now - conn.since >= self.timeout_ns:
                conn.fail(TIMEOUT, "no response within -timeout")
        if self.progress is not None:
            self.progress(self.done_so_far())
        self.sweeper = self.loop.call_later(min(0.05, self.cfg.timeout / 4), self._sweep)

    def end_now(self, interrupted: bool = False) -> None:
        """End the run (-d is over, or a signal came): abandon what is in
        flight, stop the slots."""
        if self.over:
            return
        self.over = True
        now = now_ns()
        for conn in list(self.conns):
            conn.abandon(now)
        if self.open_loop and self.end_ns and not interrupted:
            self._account_backlog()
        for task in self.slots:
            task.cancel()

    def _account_backlog(self) -> None:
        """Open loop: requests due before the end that no connection was free
        to send count as timeouts if older than -timeout, else unfinished;
        leaving them out would hide a stall."""
        def due_before(t: int) -> int:
            if t <= self.start_ns:
                return 0
            n = math.ceil((t - self.start_ns) / self.interval_ns)
            return min(n, self.limit) if self.limit else n
        due = due_before(self.end_ns)
        if self.ticket >= due:
            return
        late = max(0, due_before(self.end_ns - self.timeout_ns) - self.ticket)
        self.errors[TIMEOUT] += late
        self.unfinished += due - self.ticket - late
        if late:
            self.last_error = "due longer than -timeout ago with no free connection"

    async def run(self) -> Tally:
        """Run the load to its end and return the tally."""
        self.start_ns = now_ns()
        if self.cfg.duration:
            self.end_ns = self.start_ns + int(self.cfg.duration * 1e9)
        self.sweeper = self.loop.call_later(0.05, self._sweep)
        ender = (self.loop.call_later(self.cfg.duration, self.end_now)
                 if self.cfg.duration else None)
        self.slots = [self.loop.create_task(self._slot()) for _ in range(self.cfg.conns)]
        await asyncio.gather(*self.slots, return_exceptions=True)
        duration = now_ns() - self.start_ns
        self.over = True
        for conn in list(self.conns):
            conn.abandon(now_ns())
        if self.sweeper is not None:
            self.sweeper.cancel()
        if ender is not None:
            ender.cancel()
        await asyncio.sleep(0)  # let the aborted transports report their loss
        return self.tally(duration)

    def tally(self, duration_ns: int) -> Tally:
        """The run's figures as a Tally."""
        hist = Histogram(counts=self.counts, total=sum(self.counts), sum=self.lat_sum,
                         min=self.lat_min if self.lat_max >= 0 else 0,
                         max=max(self.lat_max, 0))
        status = {code: c for code, c in enumerate(self.status) if c}
        return Tally(hist=hist, status=status, errors=list(self.errors),
                     unfinished=self.unfinished, bytes_read=self.bytes_read,
                     duration_ns=duration_ns, last_error=self.last_error)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed, asyncio's otherwise."""
    try:
        import uvloop  # pylint: disable=import-outside-toplevel
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_load(cfg: Config, address: str, progress: Callable[[int], None] | None = None,
             start: Callable[[], None] | None = None) -> Tally:
    """Run one process's share of the load; SIGINT/SIGTERM end it early."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        runner = Runner(cfg, address, loop, progress)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, runner.end_now, True)
        if start is not None:
            start()
        return loop.run_until_complete(runner.run())
    finally:
        loop.close()


# ---------------------------------------------------------------- processes


def split(total: int, parts: int, index: int) -> int:
    """Share index of total split as evenly as possible into parts."""
    return total // parts + (1 if index < total % parts else 0)


def _child(cfg: Config, address: str, index: int, pipe: multiprocessing.connection.Connection,
           counters: Any, barrier: Any) -> None:
    """A --processes worker: run its share and send its tally back."""

    def progress(done: int) -> None:
        counters[index] = done

    def start() -> None:  # all processes start together (or none, after a minute)
        barrier.wait(60)

    tally = run_load(cfg, address, progress, start)
    pipe.send(tally.to_dict())
    pipe.close()


def run_processes(cfg: Config, address: str, show_progress: bool) -> Tally:
    """Spread the load over cfg.processes processes and merge their tallies."""
    procs = min(cfg.processes, cfg.conns, cfg.requests or cfg.conns)
    ctx = multiprocessing.get_context("spawn")
    counters = ctx.Array("q", procs, lock=False)
    barrier = ctx.Barrier(procs)
    children = []
    for i in range(procs):
        share = replace(cfg, conns=split(cfg.conns, procs, i), processes=1,
                        requests=split(cfg.requests, procs, i) if cfg.requests else 0,
                        rate=cfg.rate / procs)
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(share, address, i, sender, counters, barrier))
        children.append((proc, receiver))
    def forward(signum: int, _frame: Any) -> None:  # the children stop and report
        for proc, _ in children:
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signum)

    old = [signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        for proc, _ in children:
            proc.start()
        tally = Tally()
        started = time.monotonic()
        state = [0.0, 0.0]
        pending = [receiver for _, receiver in children]
        while pending:
            for ready in multiprocessing.connection.wait(pending, timeout=1.0):
                assert isinstance(ready, multiprocessing.connection.Connection)
                try:
                    tally.merge(Tally.from_dict(ready.recv()))
                except EOFError:
                    tally.errors[OTHER] += 1
                    tally.last_error = "a worker process died"
                pending.remove(ready)
            if show_progress and pending:
                print_progress(time.monotonic() - started, sum(counters), state)
        for proc, _ in children:
            proc.join()
        return tally
    finally:
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])


# ---------------------------------------------------------------- report


def build_report(cfg: Config, tally: Tally) -> dict[str, Any]:
    """The -json object: client.go's keys, in client.go's order."""
    hist = tally.hist
    secs = tally.duration_ns / 1e9

    def ms(value: float) -> float:
        return round(value / 1e6, 3)

    latency = {"min": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "p99.9": 0.0, "max": 0.0,
               "mean": 0.0}
    if hist.total:
        latency = {"min": ms(hist.min), "p50": ms(hist.percentile(50)),
                   "p90": ms(hist.percentile(90)), "p99": ms(hist.percentile(99)),
                   "p99.9": ms(hist.percentile(99.9)), "max": ms(hist.max),
                   "mean": ms(hist.sum / hist.total)}
    return {
        "client": "python",
        "url": cfg.url,
        "method": cfg.method,
        "connections": cfg.conns,
        "keepalive": cfg.keepalive,
        "pipeline": cfg.pipeline,
        "rate_target": cfg.rate,
        "requests": hist.total,
        "errors": sum(tally.errors),
        "unfinished": tally.unfinished,
        "duration_s": round(secs, 3),
        "rate": round(hist.total / secs, 3) if secs > 0 else 0.0,
        "latency_ms": latency,
        "status": {str(code): tally.status[code] for code in sorted(tally.status)},
        "errors_by_kind": dict(sorted(zip(KIND_NAMES, tally.errors))),
        "bytes_read": tally.bytes_read,
        "last_error": tally.last_error,
    }


def format_text(rep: dict[str, Any]) -> str:
    """The report for people, as client.go's writeText prints it."""
    mode = ("closed loop" if not rep["rate_target"] else
            f"open loop at {rep['rate_target']:.3f} req/s")
    keepalive = "keep-alive" if rep["keepalive"] else "no keep-alive"
    status = " ".join(f"{code}={count}" for code, count in sorted(rep["status"].items()))
    kinds = " ".join(f"{name}={rep['errors_by_kind'][name]}" for name in KIND_NAMES)
    lat = rep["latency_ms"]
    lines = [
        f"target      {rep['method']} {rep['url']} (client {rep['client']})",
        f"load        {rep['connections']} connections, {keepalive}, "
        f"pipeline {rep['pipeline']}, {mode}",
        f"requests    {rep['requests']}",
        f"duration    {rep['duration_s']:.3f} s",
        f"rate        {rep['rate']:.3f} req/s",
        f"latency ms  min {lat['min']:.3f}  p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  "
        f"p99 {lat['p99']:.3f}  p99.9 {lat['p99.9']:.3f}  max {lat['max']:.3f}  "
        f"mean {lat['mean']:.3f}",
        f"status      {status or 'none'}",
        f"errors      {rep['errors']}  {kinds}",
        f"unfinished  {rep['unfinished']}",
        f"bytes read  {rep['bytes_read']}",
    ]
    if rep["last_error"]:
        lines.append(f"last error  {rep['last_error']}")
    return "\n".join(lines) + "\n"


def print_progress(elapsed: float, done: int, state: list[float]) -> None:
    """The live line on stderr; state holds the previous (elapsed, done)."""
    rate = (done - state[1]) / (elapsed - state[0]) if elapsed > state[0] else 0.0
    state[0], state[1] = elapsed, done
    sys.stderr.write(f"\r\033[K{elapsed:6.1f}s  {done} done  {rate:.0f} req/s")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, run the load, print the report."""
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    address = resolve_loopback(cfg.host, cfg.port)
    show_progress = sys.stderr.isatty()
    if cfg.processes > 1:
        tally = run_processes(cfg, address, show_progress)
    else:
        started = time.monotonic()
        state = [0.0, 0.0]

        def progress(done: int) -> None:
            elapsed = time.monotonic() - started
            if elapsed - state[0] >= 1.0:
                print_progress(elapsed, done, state)

        tally = run_load(cfg, address, progress if show_progress else None)
    if show_progress:
        sys.stderr.write("\r\033[K")
    rep = build_report(cfg, tally)
    if cfg.json:
        print(json.dumps(rep, separators=(",", ":")))
    else:
        sys.stdout.write(format_text(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
