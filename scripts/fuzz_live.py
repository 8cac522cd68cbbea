"""Fuzz a live aioweb server with mutated valid requests (127.0.0.1 only).

    python scripts/fuzz_live.py --seconds 120          # a long run
    python scripts/fuzz_live.py --count 300 --seed 7   # a short, repeatable one
    python scripts/fuzz_live.py --address 127.0.0.1:8888 --count 1000  # your own server

Without ``--address`` it starts ``scripts/hostile_server.py`` with every
client-facing ``*_timeout`` at 1 s. Each input is a valid request (or two, pipelined) with a few
bytes inserted, deleted, flipped, replaced, duplicated or spliced, sent whole
or in a few pieces on its own connection. Each connection must, within
``--wait`` seconds, be answered with a valid HTTP/1.1 response or be closed;
if neither, the client half-closes (no more input is coming) and the server
then gets ``--wait`` seconds more. Failures: invalid response bytes (judged
by ``wire.ResponseParser``, which knows which requests were HEADs), a 500
(the server's handler only reads the path and the body, so a 500 means the
request object raised on input the server accepted), a connection neither
answered nor closed even after that, a server that stops answering or dies.
Input number N of seed S is always the same bytes (``--replay N`` prints them).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httptools

from aioweb import Config

if __package__ in (None, ""):  # run as a file: make ``scripts`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# pylint: disable=wrong-import-position
from scripts.wire import (BadResponse, ResponseParser, ServerProcess, connect, get,
                          hostile_server, receive)

SEEDS = [
    b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"GET /path?a=1&b=%20 HTTP/1.1\r\nHost: fuzz\r\nAccept: */*\r\nUser-Agent: fuzz/1.0\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /echo HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: fuzz\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /1 HTTP/1.1\r\nHost: fuzz\r\n\r\n"
    b"GET /2 HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 2\r\n\r\nok"
    b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: fuzz\r\n\r\n",
    b"GET http://fuzz/abs HTTP/1.1\r\nHost: fuzz\r\nAccept-Encoding: gzip\r\n\r\n",
    b"DELETE /r HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\nCookie: a=b; c=d\r\n\r\n",
]
INTERESTING = b"\r\n\x00 \t:;,=0123456789abcdefxX-_/?%\x0b\x0c\x7f\x80\xff"


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few random edits of ``data``."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        operation = rng.choice(("insert", "delete", "flip", "replace", "duplicate", "splice",
                                "digits"))
        position = rng.randint(0, len(out))
        if operation == "insert":
            out[position:position] = bytes([rng.choice(INTERESTING)]) * rng.choice((1, 1, 2, 7))
        elif operation == "delete":
            del out[position:position + rng.randint(1, 8)]
        elif operation == "flip" and position < len(out):
            out[position] ^= 1 << rng.randrange(8)
        elif operation == "replace" and position < len(out):
            out[position] = rng.randrange(256)
        elif operation == "duplicate":
            end = min(len(out), position + rng.randint(1, 64))
            out[position:position] = out[position:end] * rng.randint(1, 50)
        elif operation == "splice":
            other = rng.choice(SEEDS)
            start = rng.randrange(len(other))
            out[position:position] = other[start:start + rng.randint(1, 40)]
        elif operation == "digits":
            out[position:position] = str(rng.choice((0, 1, 9, 99999, 2**31, 2**64, -1))).encode()
    return bytes(out)


class _Heads:
    """httptools callbacks noting where each request begins and each head's method."""

    def __init__(self) -> None:
        self.offset = 0
        self.starts: list[int] = []
        self.methods: list[str] = []
        self.parser = httptools.HttpRequestParser(self)

    def on_message_begin(self) -> None:
        """A request begins at the byte being fed."""
        self.starts.append(self.offset)

    def on_headers_complete(self) -> None:
        """A whole head: its method is certain."""
        self.methods.append(self.parser.get_method().decode("latin-1"))


def request_methods(data: bytes) -> list[str]:
    """What the response parser must expect for the requests in ``data``.

    Responses to HEAD have no body whatever their Content-Length says, and a
    mutated input may hold any number of requests, so the client parses what
    it sent (llhttp, a byte at a time, as the server). Each whole head gives
    its method. A last request whose head never completed (refused, or cut
    off by a timeout) but which starts with ``HEAD `` gives ``"HEAD?"``: for a
    garbled head it is a matter of judgement whether the server understood a
    HEAD, so the error that ends the connection may come with its text or
    without (``tests/hostile/test_bad_input.py`` pins the clear cases).
    """
    heads = _Heads()
    for offset in range(len(data)):
        heads.offset = offset
        try:
            heads.parser.feed_data(data[offset:offset + 1])
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            break
    methods = list(heads.methods)
    if len(heads.starts) > len(methods) and data.startswith(b"HEAD ", heads.starts[len(methods)]):
        methods.append("HEAD?")
    return methods


def fuzz_input(seed: int, index: int) -> bytes:
    """Input number ``index`` of run ``seed``: always the same bytes."""
    rng = random.Random(f"{seed}:{index}")
    return mutate(rng.choice(SEEDS), rng)


@dataclasses.dataclass
class FuzzReport:
    """What a run saw."""

    inputs: int = 0
    answered: int = 0            # at least one valid response within the wait
    closed: int = 0              # closed by the server without a response
    closed_after_eof: int = 0    # neither, until the client half-closed
    statuses: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)
    kinds: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0

    def fail(self, kind: str, text: str) -> None:
        """Record a failure of some kind (the summary counts them by kind)."""
        self.kinds[kind] += 1
        self.failures.append(text)

    def summary(self) -> str:
        """One paragraph for a terminal."""
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        lines = [f"{self.inputs} inputs in {self.seconds:.1f} s: {self.answered} answered, "
                 f"{self.closed} closed without a response, {self.closed_after_eof} "
                 f"answered or closed only after the client's EOF",
                 f"statuses: {statuses}"]
        lines += [f"FAIL: {failure}" for failure in self.failures[:20]]
        kinds = ", ".join(f"{kind}: {count}" for kind, count in self.kinds.most_common())
        lines.append("PASS" if not self.failures else f"{len(self.failures)} failures ({kinds})")
        return "\n".join(lines)


def _one(address: tuple[str, int], data: bytes, rng: random.Random, wait: float,
         report: FuzzReport, lock: threading.Lock, label: str) -> None:
    """Send one input on its own connection and judge what comes back."""
    try:
        sock = connect(address, timeout=wait)
    except OSError as exc:
        with lock:
            report.fail("cannot connect", f"{label}: cannot connect: {exc!r}")
        return
    with sock:
        try:
            cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 3))))
            for start, end in zip([0, *cuts], [*cuts, len(data)]):
                sock.sendall(data[start:end])
                if cuts:
                    time.sleep(0.002)
        except OSError:
            pass  # the server answered and closed first: read what it said
        parser = ResponseParser()
        for method in request_methods(data):
            parser.expect(method)
        outcome = receive(sock, parser, timeout=wait)
        after_eof = False
        if outcome.error is None and not outcome.final and not outcome.closed:
            after_eof = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            more = receive(sock, parser, until_close=True, timeout=wait)
            outcome.responses += more.responses
            outcome.closed, outcome.error, outcome.timed_out = more.closed, more.error, \
                more.timed_out
    with lock:
        report.inputs += 1
        for response in outcome.final:
            report.statuses[response.status] += 1
        if outcome.error is not None:
            report.fail("invalid response", f"{label}: invalid response: {outcome.error}; "
                                            f"sent {data!r}")
        elif any(response.status == 500 for response in outcome.final):
            # The fuzz server's handler only reads the request's path and body:
            # a 500 means one of those raised on input the server let through.
            report.fail("500", f"{label}: answered 500 (the handler could not read the "
                               f"request it was given); sent {data!r}")
        elif outcome.final:
            report.answered += 1
            report.closed_after_eof += after_eof
        elif outcome.closed:
            report.closed += 1
            report.closed_after_eof += after_eof
        else:
            report.fail("hang", f"{label}: neither answered nor closed in {2 * wait:g} s "
                                f"(even after EOF); sent {data!r}")


def run_fuzz(address: tuple[str, int], count: int | None = 300, seconds: float | None = None,
             seed: int = 1, workers: int = 16, wait: float = 2.0,
             alive: Callable[[], bool] | None = None) -> FuzzReport:
    """Fuzz the server at ``address`` with ``count`` inputs or for ``seconds``.

    Stops at whichever bound comes first (at least one must be given). At
    the end the server must still answer a plain GET (and ``alive()``, if
    given, must hold: a subprocess still running, say).
    """
    if count is None and seconds is None:
        raise ValueError("give a count, a duration, or both")
    report = FuzzReport()
    lock = threading.Lock()
    indices = iter(range(count if count is not None else 10**12))
    deadline = time.monotonic() + (seconds if seconds is not None else 10**9)
    started = time.monotonic()

    def worker() -> None:
        while time.monotonic() < deadline:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            rng = random.Random(f"{seed}:{index}:cuts")
            _one(address, fuzz_input(seed, index), rng, wait, report, lock,
                 f"input {index} (seed {seed})")

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    report.seconds = time.monotonic() - started
    try:
        if get(address, "/").status != 200:
            report.fail("server", "the server no longer answers a plain GET with 200")
    except (OSError, BadResponse) as exc:
        report.fail("server", f"the server no longer answers a plain GET: {exc!r}")
    if alive is not None and not alive():
        report.fail("server", "the server process died")
    return report


def main(argv: list[str] | None = None) -> int:
    """Start a server (unless given one), fuzz it, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=None, help="run this long")
    parser.add_argument("--count", type=int, default=None, help="run this many inputs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=16, help="connections at a time")
    parser.add_argument("--wait", type=float, default=2.0,
                        help="seconds a connection may stay silent, twice over")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--address", default=None, help="HOST:PORT of a running server")
    parser.add_argument("--replay", type=int, default=None, help="print input N and exit")
    args = parser.parse_args(argv)
    if args.replay is not None:
        print(repr(fuzz_input(args.seed, args.replay)))
        return 0
    if args.seconds is None and args.count is None:
        args.count = 300
    if args.address is not None:
        host, _, port = args.address.rpartition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise SystemExit("only 127.0.0.1 is a target")
        report = run_fuzz(("127.0.0.1", int(port)), args.count, args.seconds, args.seed,
                          args.workers, args.wait)
        print(report.summary())
        return 1 if report.failures else 0
    # Every client-facing timeout at 1 s (whatever timeouts this aioweb has).
    timeouts = {field.name: 1 for field in dataclasses.fields(Config)
                if field.name.endswith("_timeout") and field.name != "graceful_shutdown_timeout"}
    server: ServerProcess = hostile_server(args.loop, **timeouts)
    with server:
        report = run_fuzz(server.address, args.count, args.seconds, args.seed, args.workers,
                          args.wait, alive=lambda: server.wait(0) is None)
        settled = server.stats()
        print(report.summary())
        print(f"server afterwards: {settled}")
        code = server.stop()
        print(f"server exit status: {code}")
        if server.log().count("Traceback"):
            print(f"server logged {server.log().count('Traceback')} tracebacks:\n"
                  f"{server.log()[-3000:]}")
    return 1 if report.failures or code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
