"""Load and fault injection against a live aioweb server (127.0.0.1 only).

    python scripts/load_faults.py idle --connections 10000 [--loop uvloop|asyncio]
    python scripts/load_faults.py flood [--seconds 5] [--clients 1]
    python scripts/load_faults.py slow-reader [--seconds 5]
    python scripts/load_faults.py big-heads [--connections 100]
    python scripts/load_faults.py resets [--count 2000]
    python scripts/load_faults.py sigterm [--connections 256] [--seconds 5]
    python scripts/load_faults.py sigint-twice
    python scripts/load_faults.py all

Each scenario starts its own server in a subprocess (``hostile_server.py``,
or ``sample_server.py`` for the signal scenarios), measures it from outside
(``/proc/PID``) and from inside (``GET /stats``), prints its figures, and
ends with ``PASS`` or ``FAIL: ...`` lines. The exit status is 1 if any
scenario failed. ``tests/hostile/test_load_faults.py`` runs each one with
small numbers; ``docs/limits.md`` records full-size runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``scripts`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# pylint: disable=wrong-import-position
from scripts.wire import (LOCALHOST, BadResponse, CutOff, Response, ResponseParser, ServerProcess,
                          connect, get, hostile_server, raise_fd_limit, receive, reset,
                          sample_server, send_quietly, wait_until)

Address = tuple[str, int]
GET_KEEP_ALIVE = b"GET / HTTP/1.1\r\nHost: hostile\r\n\r\n"


@dataclasses.dataclass
class Result:
    """What one scenario measured, and what it found wrong."""

    name: str
    figures: dict[str, float | int | str] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No failure found."""
        return not self.failures

    def check(self, condition: bool, failure: str) -> None:
        """Record ``failure`` unless ``condition`` holds."""
        if not condition:
            self.failures.append(failure)

    def report(self) -> str:
        """The figures, one per line, then PASS or the failures."""
        lines = [f"== {self.name}"]
        lines += [f"   {key}: {value}" for key, value in self.figures.items()]
        lines += ["   PASS"] if self.passed else [f"   FAIL: {f}" for f in self.failures]
        return "\n".join(lines)


def _still_serves(address: Address) -> bool:
    try:
        return get(address, "/").status == 200
    except (OSError, BadResponse):
        return False


# --- 1. many idle keep-alive connections -------------------------------------

async def _open_idle(address: Address, count: int, concurrency: int,
                     timeout: float) -> tuple[list[socket.socket], list[str]]:
    """Open ``count`` connections, one GET each, and keep them open."""
    loop = asyncio.get_running_loop()
    opened: list[socket.socket] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, address), timeout)
                await loop.sock_sendall(sock, GET_KEEP_ALIVE)
                parser = ResponseParser()
                responses: list[Response] = []
                while not responses:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
                    if not data:
                        raise ConnectionError("closed before answering")
                    responses = parser.feed(data)
                response = responses[0]
                if response.status != 200 or response.body != b"ok" or response.closes:
                    raise BadResponse(f"unexpected {response.status} {response.body!r}")
                opened.append(sock)
            except (OSError, TimeoutError, BadResponse) as exc:
                errors.append(f"connection {index}: {exc!r}")
                sock.close()

    await asyncio.gather(*(one(i) for i in range(count)))
    return opened, errors


def idle_connections(count: int = 10_000, loop: str = "uvloop", warmup: int = 100,
                     settle: float = 1.0) -> Result:
    """N concurrent keep-alive connections, each served one request, then held idle.

    Every connection must be accepted and answered (zero errors); the
    server's RSS before and after opening them, divided by N, is the memory
    one idle connection costs in user space (kernel socket buffers are not
    in RSS).
    """
    result = Result(f"idle: {count} keep-alive connections ({loop})")
    limit = raise_fd_limit(count + 1024)
    result.figures["RLIMIT_NOFILE"] = limit
    server = hostile_server(loop, keep_alive_timeout=600, first_byte_timeout=600,
                            backlog=max(count, 128))
    with server:
        # Warm up: lazily built objects (status lines, the Date block, free
        # lists) exist before the baseline is taken.
        warm, errors = asyncio.run(_open_idle(server.address, warmup, 100, 10.0))
        for sock in warm:
            sock.close()
        wait_until(lambda: server.stats()["connections"] <= 1, 10.0)
        time.sleep(settle)
        before_rss, before_fds = server.rss_kib(), server.fd_count()
        started = time.monotonic()
        opened, errors = asyncio.run(_open_idle(server.address, count, 256, 30.0))
        elapsed = time.monotonic() - started
        time.sleep(settle)
        after_rss, after_fds = server.rss_kib(), server.fd_count()
        stats = server.stats()
        per_connection = (after_rss - before_rss) * 1024 / max(1, len(opened))
        result.figures.update({
            "opened and served": len(opened), "errors": len(errors),
            "seconds to open": round(elapsed, 2),
            "server RSS before (KiB)": before_rss, "server RSS with them (KiB)": after_rss,
            "server fds before/with": f"{before_fds}/{after_fds}",
            "server connections (stats, incl. its own)": stats["connections"],
            "bytes per idle connection": round(per_connection),
        })
        result.check(not errors, f"{len(errors)} errors, first: {errors[:3]}")
        result.check(len(opened) == count, f"only {len(opened)} of {count} opened")
        result.check(stats["connections"] >= count, f"server counts {stats['connections']}")
        for sock in opened:
            sock.close()
        closed = wait_until(lambda: server.stats()["connections"] <= 1, 30.0, 0.2)
        result.check(closed, "connections not released after the clients closed")
        result.figures["server RSS after closing them (KiB)"] = server.rss_kib()
        result.check(_still_serves(server.address), "server no longer answers")
        result.figures["server exit status"] = str(server.stop())
    return result


# --- 2. a pipelined flood from a client that never reads -----------------------

def pipeline_flood(seconds: float = 5.0, clients: int = 1, loop: str = "uvloop",
                   limit_mib: float = 48.0) -> Result:
    """Pipeline GETs as fast as the kernel takes them, never reading a response.

    The server must stop reading (pipeline depth, write buffer) instead of
    queueing: its RSS growth stays under ``limit_mib`` however long this goes.
    """
    result = Result(f"flood: {clients} client(s) pipelining for {seconds:g} s, never reading"
                    f" ({loop})")
    pattern = GET_KEEP_ALIVE * (65536 // len(GET_KEEP_ALIVE))
    with hostile_server(loop, keep_alive_timeout=60) as server:
        time.sleep(0.2)
        before = server.rss_kib()
        peak = before
        socks = [connect(server.address) for _ in range(clients)]
        for sock in socks:
            sock.setblocking(False)
        sent = 0
        deadline = time.monotonic() + seconds
        next_sample = 0.0
        while time.monotonic() < deadline:
            progressed = False
            for sock in socks:
                try:
                    sent += sock.send(pattern)
                    progressed = True
                except BlockingIOError:
                    pass
            now = time.monotonic()
            if now >= next_sample:
                peak = max(peak, server.rss_kib())
                next_sample = now + 0.05
                if (peak - before) / 1024 > 4 * limit_mib:
                    break  # clearly unbounded: stop before the machine suffers
            if not progressed:
                time.sleep(0.01)
        peak = max(peak, server.rss_kib())
        answers_meanwhile = _still_serves(server.address)
        for sock in socks:
            reset(sock)
        released = wait_until(lambda: server.stats()["connections"] <= 1, 10.0)
        growth_mib = (peak - before) / 1024
        result.figures.update({
            "bytes accepted by the kernel (MiB)": round(sent / 2**20, 1),
            "requests in them": sent // len(GET_KEEP_ALIVE),
            "server RSS before (KiB)": before, "server RSS peak (KiB)": peak,
            "RSS growth (MiB)": round(growth_mib, 1),
        })
        result.check(growth_mib < limit_mib, f"RSS grew {growth_mib:.1f} MiB (limit {limit_mib})")
        result.check(answers_meanwhile, "server did not answer another client during the flood")
        result.check(released, "flooding connections not released after reset")
        result.check(_still_serves(server.address), "server no longer answers")
    return result


# --- 3. a slow reader of a large streamed response ----------------------------

def slow_reader(seconds: float = 5.0, loop: str = "uvloop", limit_mib: float = 16.0) -> Result:
    """Read a 1 GiB streamed response at ~200 KB/s for ``seconds``.

    Writing must wait for the reader (write buffer high-water mark), so the
    server's RSS stays flat and its CPU stays idle instead of buffering the
    whole body.
    """
    result = Result(f"slow reader: a 1 GiB streamed response read at ~200 KB/s ({loop})")
    with hostile_server(loop) as server:
        time.sleep(0.2)
        before = server.rss_kib()
        cpu_before = _cpu_seconds(server.pid)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.settimeout(5.0)
        sock.connect(server.address)
        sock.sendall(b"GET /stream?size=1073741824&chunk=65536 HTTP/1.1\r\nHost: slow\r\n\r\n")
        received = 0
        peak = before
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            received += len(sock.recv(4096))
            time.sleep(0.02)
            peak = max(peak, server.rss_kib())
            if (peak - before) / 1024 > 4 * limit_mib:
                break
        cpu = _cpu_seconds(server.pid) - cpu_before
        reset(sock)
        growth_mib = (peak - before) / 1024
        result.figures.update({
            "bytes read": received, "server RSS before (KiB)": before,
            "server RSS peak (KiB)": peak, "RSS growth (MiB)": round(growth_mib, 2),
            "server CPU seconds meanwhile": round(cpu, 2),
        })
        result.check(growth_mib < limit_mib, f"RSS grew {growth_mib:.1f} MiB (limit {limit_mib})")
        result.check(cpu < max(0.5, seconds / 4), f"server used {cpu:.2f} s of CPU: not waiting")
        result.check(wait_until(lambda: server.stats()["connections"] <= 1, 10.0),
                     "the streaming connection was not released after the reset")
        result.check(_still_serves(server.address), "server no longer answers")
    return result


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- 3b. unfinished heads of many small header lines -----------------------------

def big_heads(connections: int = 100, loop: str = "uvloop", head_kib: int = 250,
              limit_kib_each: int = 256) -> Result:
    """Each client sends ``head_kib`` KiB of ``a:b`` header lines and never ends the head.

    ``max_head_size`` (64 KiB) bounds what a head may make the server hold;
    with bookkeeping, each connection should cost at most ``limit_kib_each``
    KiB of server memory until the 431 (or the head timeout) ends it.
    """
    result = Result(f"big heads: {connections} unfinished heads of {head_kib} KiB ({loop})")
    head = b"GET / HTTP/1.1\r\nHost: hostile\r\n" + b"a:b\r\n" * (head_kib * 1024 // 5)
    with hostile_server(loop) as server:
        time.sleep(0.2)
        before = server.rss_kib()
        socks = []
        for _ in range(connections):
            sock = connect(server.address)
            send_quietly(sock, head)
            socks.append(sock)
        time.sleep(0.5)
        after = server.rss_kib()
        answers = [receive(sock, ResponseParser(), timeout=2.0) for sock in socks[:5]]
        for sock in socks:
            reset(sock)
        per_connection = (after - before) / connections
        result.figures.update({
            "server RSS before (KiB)": before, "server RSS with them (KiB)": after,
            "KiB per connection": round(per_connection, 1),
            "answers (first 5)": ", ".join(str([r.status for r in a.final]) for a in answers),
        })
        result.check(per_connection <= limit_kib_each,
                     f"{per_connection:.0f} KiB per connection (limit {limit_kib_each})")
        result.check(_still_serves(server.address), "server no longer answers")
    return result


# --- 4. connections reset at every stage ---------------------------------------

def reset_before_request(address: Address) -> None:
    """Connect, then reset before sending a byte."""
    reset(connect(address))


def reset_mid_head(address: Address) -> None:
    """Send half a request head, then reset."""
    sock = connect(address)
    sock.sendall(b"GET /half HTTP/1.1\r\nHost: hostile\r\nX-Partial: abc")
    reset(sock)


def reset_mid_body(address: Address) -> None:
    """Send a head promising 100 kB and 1 kB of body, then reset."""
    sock = connect(address)
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: hostile\r\nContent-Length: 100000\r\n\r\n"
                 + b"b" * 1000)
    reset(sock)


def reset_mid_response(address: Address) -> None:
    """Ask for a 50 MB streamed response, read a little of it, then reset."""
    sock = connect(address)
    sock.sendall(b"GET /stream?size=50000000&chunk=65536 HTTP/1.1\r\nHost: hostile\r\n\r\n")
    sock.recv(65536)
    reset(sock)


def reset_while_idle(address: Address) -> None:
    """Complete one request, then reset the idle keep-alive connection."""
    sock = connect(address)
    sock.sendall(GET_KEEP_ALIVE)
    outcome = receive(sock, ResponseParser())
    reset(sock)
    if not outcome.final:
        raise BadResponse(f"no answer before the reset: {outcome}")


def close_mid_body(address: Address) -> None:
    """Send a head promising 100 kB and 1 kB of body, then close normally (FIN)."""
    sock = connect(address)
    sock.sendall(b"POST /upload HTTP/1.1\r\nHost: hostile\r\nContent-Length: 100000\r\n\r\n"
                 + b"b" * 1000)
    sock.close()


RESET_KINDS: dict[str, Callable[[Address], None]] = {
    "before-request": reset_before_request,
    "mid-head": reset_mid_head,
    "mid-body": reset_mid_body,
    "mid-response": reset_mid_response,
    "idle": reset_while_idle,
}
# Not a reset, but the same question: a FIN in the middle of a body.
ALL_KINDS = {**RESET_KINDS, "fin-mid-body": close_mid_body}


def resets(count: int = 2000, loop: str = "uvloop",
           kinds: tuple[str, ...] = tuple(ALL_KINDS)) -> Result:
    """Reset ``count`` connections at each stage; nothing may be left behind.

    After each kind, the server's open fds (``/proc/PID/fd``), its asyncio
    task count and its open connection count must come back to where they
    were before it (within a few seconds: the server notices a reset on its
    next read or write).
    """
    result = Result(f"resets: {count} connections per kind ({loop})")
    with hostile_server(loop) as server:
        for kind in kinds:
            before = _figures(server)
            started = time.monotonic()
            for _ in range(count):
                ALL_KINDS[kind](server.address)
            elapsed = time.monotonic() - started
            time.sleep(0.5)  # the last connections may still wait in the accept queue

            def back(expected: tuple[int, int, int] = before) -> bool:
                return _figures(server) == expected
            settled = wait_until(back, 5.0, 0.1)
            after = _figures(server)
            result.figures[kind] = (f"{count} in {elapsed:.1f} s; fds/tasks/connections "
                                    f"before {before}, after {after}")
            result.check(settled, f"{kind}: left behind (fds, tasks, connections) "
                                  f"{before} -> {after}")
        result.check(_still_serves(server.address), "server no longer answers")
    return result


def _figures(server: ServerProcess) -> tuple[int, int, int]:
    stats = server.stats()
    return stats["fds"], stats["tasks"], stats["connections"]


# --- 5. SIGTERM under sustained load; SIGINT twice --------------------------------

@dataclasses.dataclass
class LoadCounts:
    """What the load clients saw."""

    complete: int = 0          # whole, valid responses with the right body
    cut_off: int = 0           # the connection ended inside a response
    invalid: int = 0           # bytes that are not a valid response, or a wrong body
    unanswered: int = 0        # a request sent, the connection closed before any reply byte
    closed_early: int = 0      # closed before the signal
    connect_failed: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


async def _converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop_at: float,
                    counts: LoadCounts, rng: random.Random) -> str:
    """POST bodies one at a time and check each echo; how the connection ended.

    ``"said close"``: a complete response with ``Connection: close``;
    ``"closed"``: closed (or reset) with a request sent and no reply byte;
    ``"cut off"``: closed inside a response; ``"invalid"``; ``"done"``.
    """
    parser = ResponseParser()
    try:
        while time.monotonic() < stop_at:
            body = rng.randbytes(rng.randrange(0, 2048))
            writer.write(b"POST /echo HTTP/1.1\r\nHost: load\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            responses: list[Response] = []
            while not responses:
                data = await asyncio.wait_for(reader.read(65536), 30)
                if not data:
                    return "cut off" if parser.mid_response else "closed"
                responses = parser.feed(data)
            response = responses[0]  # one request outstanding: at most one response
            if response.status != 200 or response.body != body or len(responses) > 1:
                counts.errors.append(f"{response.status} {response.body[:40]!r}")
                return "invalid"
            counts.complete += 1
            if response.closes:
                return "said close"
        return "done"
    except CutOff:
        return "cut off"
    except BadResponse as exc:
        counts.errors.append(repr(exc))
        return "invalid"
    except TimeoutError:
        counts.errors.append("no response within 30 s")
        return "invalid"
    except OSError:  # reset
        return "cut off" if parser.mid_response else "closed"


async def _load_client(address: Address, stop_at: float, signalled: asyncio.Event,
                       counts: LoadCounts, rng: random.Random) -> None:
    """One client: a keep-alive connection at a time, until the server goes away."""
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
        except (OSError, TimeoutError):
            counts.connect_failed += 1
            if signalled.is_set():
                return
            await asyncio.sleep(0.05)
            continue
        try:
            ending = await _converse(reader, writer, stop_at, counts, rng)
        finally:
            writer.close()
        if ending == "cut off":
            counts.cut_off += 1
        elif ending == "invalid":
            counts.invalid += 1
        elif ending == "closed":
            if signalled.is_set():
                counts.unanswered += 1
            else:
                counts.closed_early += 1
        if signalled.is_set() or ending in ("said close", "invalid"):
            return


async def _run_load(address: Address, connections: int, seconds: float,
                    server: ServerProcess, grace: float) -> tuple[LoadCounts, float | None, int]:
    counts = LoadCounts()
    signalled = asyncio.Event()
    stop_at = time.monotonic() + seconds + grace + 5
    rng = random.Random(20250101)
    clients = [asyncio.create_task(_load_client(address, stop_at, signalled, counts, rng))
               for _ in range(connections)]
    await asyncio.sleep(seconds)
    before_signal = counts.complete
    server.send_signal(signal.SIGTERM)
    sent_at = time.monotonic()
    signalled.set()
    exited_after: float | None = None
    while time.monotonic() - sent_at < grace + 5:
        if server.process is not None and server.process.poll() is not None:
            exited_after = time.monotonic() - sent_at
            break
        await asyncio.sleep(0.02)
    await asyncio.wait(clients, timeout=10)
    for client in clients:
        client.cancel()
    return counts, exited_after, before_signal


def sigterm_under_load(connections: int = 256, seconds: float = 5.0,
                       loop: str = "uvloop") -> Result:
    """SIGTERM the sample server while ``connections`` clients keep it busy.

    Every response any client got must be complete and valid (none cut off
    mid-response); the server must exit with status 0 within its grace
    period (10 s, ``Config.graceful_shutdown_timeout``).
    """
    result = Result(f"sigterm: sample server under {connections} connections for "
                    f"{seconds:g} s, then SIGTERM ({loop})")
    raise_fd_limit(connections + 1024)
    grace = 10.0
    with sample_server(loop) as server:
        counts, exited_after, before_signal = asyncio.run(
            _run_load(server.address, connections, seconds, server, grace))
        code = server.wait(5)
        served = re.search(r"served (\d+) requests", server.output)
        result.figures.update({
            "complete responses": counts.complete,
            "of which before SIGTERM": before_signal,
            "requests per second (client side)": round(before_signal / seconds),
            "cut off mid-response": counts.cut_off, "invalid": counts.invalid,
            "unanswered (closed before a reply byte)": counts.unanswered,
            "closed before the signal": counts.closed_early,
            "server says served": served[1] if served else "?",
            "exit status": str(code),
            "seconds from SIGTERM to exit": "-" if exited_after is None
            else round(exited_after, 2),
        })
        result.check(counts.complete > 0, "no response at all")
        result.check(counts.cut_off == 0, f"{counts.cut_off} responses cut off")
        result.check(counts.invalid == 0, f"{counts.invalid} invalid: {counts.errors[:3]}")
        result.check(counts.closed_early == 0, f"{counts.closed_early} closed before the signal")
        result.check(code == 0, f"exit status {code}")
        result.check(exited_after is not None and exited_after < grace,
                     f"exit took {exited_after} s (grace {grace} s)")
    return result


def sigint_twice(loop: str = "uvloop") -> Result:
    """One SIGINT starts a graceful stop that waits for a stuck request; a second forces exit.

    The request is stuck on purpose: its body never comes. After the first
    SIGINT the server must still be running (waiting for it) but have closed
    its idle connection; after the second it must exit at once.
    """
    result = Result(f"sigint twice: graceful stop, then forced ({loop})")
    with sample_server(loop) as server:
        stuck = connect(server.address)
        stuck.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        idle = connect(server.address)
        idle.sendall(GET_KEEP_ALIVE)
        answered = receive(idle, ResponseParser())
        time.sleep(0.2)
        server.send_signal(signal.SIGINT)
        idle_closed = receive(idle, ResponseParser(), until_close=True, timeout=2.0).closed
        still_running = server.wait(1.0) is None
        server.send_signal(signal.SIGINT)
        sent_at = time.monotonic()
        code = server.wait(5.0)
        forced_after = time.monotonic() - sent_at
        stuck_closed = receive(stuck, ResponseParser(), until_close=True, timeout=2.0).closed
        idle.close()
        stuck.close()
        result.figures.update({
            "idle connection answered, then closed by the first SIGINT":
                f"{bool(answered.final)}, {idle_closed}",
            "still running 1 s after the first SIGINT": str(still_running),
            "seconds from the second SIGINT to exit": round(forced_after, 2),
            "exit status": str(code),
        })
        result.check(bool(answered.final) and idle_closed, "idle connection not closed at once")
        result.check(still_running, "exited without waiting for the in-flight request")
        result.check(code is not None and forced_after < 2.0,
                     f"second SIGINT took {forced_after:.1f} s")
        result.check(code == 0, f"exit status {code}")
        result.check(stuck_closed, "the stuck connection was not closed")
    return result


# --- the command line ------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenario(s); exit status 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("scenario", choices=("idle", "flood", "slow-reader", "big-heads",
                                             "resets", "sigterm", "sigint-twice", "all"))
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--connections", type=int, default=None,
                        help="idle: 10000; sigterm: 256; big-heads: 100")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=1, help="flood: flooding connections")
    parser.add_argument("--count", type=int, default=2000, help="resets: per kind")
    args = parser.parse_args(argv)
    scenarios: dict[str, Callable[[], Result]] = {
        "idle": lambda: idle_connections(args.connections or 10_000, args.loop),
        "flood": lambda: pipeline_flood(args.seconds, args.clients, args.loop),
        "slow-reader": lambda: slow_reader(args.seconds, args.loop),
        "big-heads": lambda: big_heads(args.connections or 100, args.loop),
        "resets": lambda: resets(args.count, args.loop),
        "sigterm": lambda: sigterm_under_load(args.connections or 256, args.seconds, args.loop),
        "sigint-twice": lambda: sigint_twice(args.loop),
    }
    chosen = list(scenarios) if args.scenario == "all" else [args.scenario]
    print(f"target {LOCALHOST}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
    failed = False
    for name in chosen:
        result = scenarios[name]()
        print(result.report(), flush=True)
        failed = failed or not result.passed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
