"""What trace mode costs when it is off: N requests through one connection, no sockets.

Used by the trace section of ``docs/walkthrough.md``. Run under callgrind, it
gives instruction counts, which do not depend on what else the machine is
doing (unlike wall-clock time)::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python tests/docs/trace_cost.py --requests 2000

Running it for two values of ``--requests`` and dividing the difference of the
totals by the difference of the counts cancels the start-up (interpreter,
imports) and leaves the cost of one request.

``--strip-guards DEST`` makes the comparison copy instead: the ``aioweb``
package copied to ``DEST/aioweb`` with every ``if self._debug:`` block of
``aioweb/server/connection.py`` and ``transport_control.py`` removed. Run the script with
``PYTHONPATH=DEST`` to measure that copy (the script itself never imports
from the repository by path, only ``aioweb``).

What it runs: a :class:`ServerState` and an :class:`HttpToolsConnection`, as
``loop.create_server`` would make them, given a fake transport that only
counts the bytes written; then ``data_received`` once per request, each time
with the same small GET. The handler answers ``b"hello"`` without waiting, so
each request is handled eagerly inside ``data_received`` (no Task, no loop
iteration) and everything measured is per-request Python work.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

# The modules whose trace guards --strip-guards removes: the connection and its base.
TRACED_MODULES = ("connection.py", "transport_control.py")

REQUEST = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nUser-Agent: trace-cost\r\n\r\n"


class CountingTransport:
    """Just enough of ``asyncio.Transport`` for :class:`HttpToolsConnection`."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        """Count the bytes a response would send."""
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """No socket, no addresses: the connection skips TCP_NODELAY."""
        del name
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Nothing is ever buffered here."""
        del high, low

    def pause_reading(self) -> None:
        """Never needed: each request is answered inside data_received."""

    def resume_reading(self) -> None:
        """Never needed either."""

    def is_closing(self) -> bool:
        """Whether close() was called."""
        return self.closed

    def close(self) -> None:
        """Remember the close (a request that is refused would cause one)."""
        self.closed = True


async def hello(request: object) -> bytes:
    """The cheapest handler: no body to read, no wait."""
    del request
    return b"hello"


def run(requests: int, debug: bool) -> int:
    """Feed ``requests`` GETs through one connection; return the bytes written."""
    # Imported here so that PYTHONPATH decides which copy of aioweb is measured.
    # pylint: disable=import-outside-toplevel
    from aioweb import Config
    from aioweb.server.connection import HttpToolsConnection
    from aioweb.server.container import ServerState

    loop = asyncio.new_event_loop()
    try:
        state = ServerState(Config(debug=debug), hello, loop)
        connection = HttpToolsConnection(state)
        transport = CountingTransport()
        connection.connection_made(transport)  # type: ignore[arg-type]
        for _ in range(requests):
            connection.data_received(REQUEST)
        if transport.closed or state.requests_served != requests:
            raise RuntimeError(f"served {state.requests_served} of {requests} requests")
        return transport.written
    finally:
        loop.close()


# --- the comparison copy ---------------------------------------------------

def _is_debug_guard(node: ast.AST) -> bool:
    """``if self._debug:`` or ``if self._debug and ...:`` with no else branch."""
    if not isinstance(node, ast.If) or node.orelse:
        return False
    test = node.test
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        test = test.values[0]
    return (isinstance(test, ast.Attribute) and test.attr == "_debug"
            and isinstance(test.value, ast.Name) and test.value.id == "self")


def strip_guards(source: str) -> tuple[str, int]:
    """``source`` without its ``if self._debug:`` blocks, and how many were removed.

    A block becomes blank lines, so line numbers do not move; a block that was
    the only statement of its body becomes ``pass``, so the body stays valid.
    """
    lines = source.splitlines(keepends=True)
    removed: list[tuple[ast.If, bool]] = []  # (guard, whether it was alone in its body)
    for parent in ast.walk(ast.parse(source)):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(parent, field, None)
            if isinstance(body, list):
                removed.extend((node, len(body) == 1) for node in body if _is_debug_guard(node))
    for node, alone in sorted(removed, key=lambda item: item[0].lineno, reverse=True):
        assert node.end_lineno is not None
        indent = lines[node.lineno - 1][:node.col_offset]
        span = node.end_lineno - node.lineno + 1
        first = indent + "pass\n" if alone else "\n"
        lines[node.lineno - 1:node.end_lineno] = [first] + ["\n"] * (span - 1)
    return "".join(lines), len(removed)


def make_stripped_copy(destination: Path) -> int:
    """Copy the aioweb package to ``destination/aioweb``, trace guards removed."""
    import aioweb  # pylint: disable=import-outside-toplevel
    source_dir = Path(aioweb.__file__).resolve().parent
    target_dir = destination / "aioweb"
    if target_dir.exists():
        shutil.rmtree(target_dir)
    shutil.copytree(source_dir, target_dir, ignore=shutil.ignore_patterns("__pycache__"))
    count = 0
    for name in TRACED_MODULES:
        module = target_dir / "server" / name
        stripped, removed = strip_guards(module.read_text(encoding="utf-8"))
        module.write_text(stripped, encoding="utf-8")
        count += removed
    return count


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, then measure or make the copy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests to feed (2000)")
    parser.add_argument("--trace", action="store_true",
                        help="trace on (Config(debug=True)), its lines written to /dev/null")
    parser.add_argument("--strip-guards", type=Path, metavar="DEST",
                        help="instead of measuring, write DEST/aioweb without the trace guards")
    args = parser.parse_args(argv)
    if args.strip_guards is not None:
        count = make_stripped_copy(args.strip_guards)
        print(f"{args.strip_guards / 'aioweb'}: removed {count} 'if self._debug:' blocks")
        return 0
    if args.trace:
        # Trace on as the sample server's --trace runs it: every line is
        # formatted and written, here to /dev/null.
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            logging.basicConfig(level=logging.DEBUG, format="%(message)s",
                                handlers=[logging.StreamHandler(devnull)])
            written = run(args.requests, True)
    else:
        written = run(args.requests, False)
    print(f"{args.requests} requests, {written} bytes written, by {sys.modules['aioweb'].__file__}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
