"""The sample server: every request is answered with its own body.

    python3 sample_server.py [--uvloop] [--host H] [--port P] [--debug | --trace]

A GET gets an empty 200; a POST gets back what it sent. On exit (Ctrl-C or
SIGTERM) it prints how many requests it served. It is the server that
``client.go``/``client.py`` and ``make bench`` measure.
"""

from __future__ import annotations

import argparse
import logging

from aioweb import Config, HttpToolsContainer, Request
from aioweb.server.lifecycle import run_until_signalled


async def echo(request: Request) -> bytes:
    """Answer with the request's own body."""
    return await request.body()


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, serve until signalled, report the count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--uvloop", action="store_true", help="use uvloop's event loop")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8888, help="port to bind (8888; 0 picks one)")
    parser.add_argument("--debug", "--trace", action="store_true", dest="debug",
                        help="trace each connection's and request's steps, in order")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.debug:  # only aioweb's own story, not asyncio's chatter
        trace = logging.getLogger("aioweb.trace")
        trace.setLevel(logging.DEBUG)
        trace.propagate = False
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        trace.addHandler(handler)
    container = HttpToolsContainer(echo, Config(host=args.host, port=args.port, debug=args.debug))

    def started(server: HttpToolsContainer) -> None:
        host, port = server.address
        print(f"aioweb sample server listening on http://{host}:{port}/", flush=True)

    run_until_signalled(container, args.uvloop, on_started=started)
    print(f"served {container.requests_served} requests", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
