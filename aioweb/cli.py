"""The ``aioweb`` command: serve an ASGI app or a native handler, uvicorn-style.

    aioweb main:app [--host 127.0.0.1] [--port 8000] [--uds PATH] ...
    python -m aioweb main:app ...

What it does, in order — the frame around every request's life:

1. import the app (``loader.py``) and tell ASGI from native (``--interface``);
2. wrap it: an ASGI app in an :class:`AsgiHandler`; the access log around
   everything, only when it is on (``--no-access-log`` costs nothing);
3. run each ASGI app's lifespan startup; if one fails, exit 3 without
   ever listening;
4. listen (TCP, or a Unix socket with ``--uds``), log where, serve until
   SIGINT/SIGTERM, shut down gracefully;
5. run the lifespan shutdowns, exit 0.

The flags are uvicorn's where the idea is the same. Differences: proxy
headers are off unless ``--proxy-headers`` (trusting a header anyone can send
should be a decision), and the limits map onto :class:`aioweb.Config`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import importlib.util
import logging
import os
import platform
import socket
import stat
import sys
from importlib.metadata import PackageNotFoundError, version

from aioweb import __version__
from aioweb.asgi.access_log import AccessLog
from aioweb.asgi.handler import AsgiHandler
from aioweb.asgi.lifespan import Lifespan, LifespanFailed, LifespanMode
from aioweb.asgi.loader import (Interface, LoadError, asgi_handlers_in, detect_interface,
                                load_app)
from aioweb.asgi.proxy import TrustedProxies
from aioweb.config import Config
from aioweb.contract import Handler, HandlerFunction
from aioweb.server.container import HttpToolsContainer
from aioweb.server.lifecycle import new_event_loop, serve_until_signalled

log = logging.getLogger("aioweb")

EXIT_LOAD_FAILED = 1
EXIT_STARTUP_FAILED = 3
LOG_LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING,
              "info": logging.INFO, "debug": logging.DEBUG, "trace": logging.DEBUG}


def version_line() -> str:
    """What ``--version`` prints: aioweb's version and what it runs on."""
    python = f"{platform.python_implementation()} {platform.python_version()}"
    libraries = []
    for package in ("httptools", "uvloop"):
        with contextlib.suppress(PackageNotFoundError):
            libraries.append(f"{package} {version(package)}")
    return f"aioweb {__version__} with {', '.join([python, *libraries])} on {platform.system()}"


# The flags that set one Config field each: flag, field, what it bounds.
# Each default's reason is next to the field in aioweb/config.py.
CONFIG_FLAGS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "timeouts (seconds)": (
        ("--timeout-keep-alive", "keep_alive_timeout", "an idle keep-alive connection"),
        ("--timeout-graceful-shutdown", "graceful_shutdown_timeout",
         "in-flight requests (and ASGI lifespan shutdown) at shutdown"),
        ("--timeout-first-byte", "first_byte_timeout", "a new connection's first byte"),
        ("--timeout-head", "head_timeout", "a whole request head"),
        ("--timeout-body", "body_timeout", "a request body that stalls"),
        ("--timeout-send", "send_timeout", "a client that stops reading the response"),
    ),
    "limits": (
        ("--backlog", "backlog", "connections waiting to be accepted"),
        ("--limit-body-size", "max_body_size", "request body bytes (413)"),
        ("--limit-head-size", "max_head_size", "request head bytes (431)"),
        ("--limit-url-size", "max_url_size", "request target bytes (414)"),
        ("--limit-header-count", "max_header_count", "request headers (431)"),
        ("--limit-pipeline-depth", "max_pipeline_depth", "pipelined requests queued"),
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line, flag by flag."""
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="aioweb", description="Serve an ASGI application or a native aioweb handler.")
    add = parser.add_argument
    add("app", help='the application, as "module:attribute"')
    add("--version", action="version", version=version_line())
    add("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    add("--port", type=int, default=8000, help="port to bind (8000; 0 picks a free one)")
    add("--uds", metavar="PATH", help="bind to this Unix domain socket instead")
    add("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
        help="event loop (auto: uvloop when installed)")
    add("--interface", choices=("auto", "asgi", "native"), default="auto",
        help="how to call the app (auto: from its signature)")
    add("--root-path", default="", help="ASGI root_path, for an app mounted below a URL prefix")
    add("--lifespan", choices=("auto", "on", "off"), default="auto",
        help="ASGI lifespan events (auto: when the app supports them)")
    add("--factory", action="store_true", help="the attribute is a factory: call it for the app")
    add("--app-dir", default=".", help="directory put first on sys.path (.)")
    add("--log-level", choices=tuple(LOG_LEVELS), default="info", help="log level (info)")
    add("--access-log", action=argparse.BooleanOptionalAction, default=True,
        help="one log line per response (on)")
    add("--proxy-headers", action=argparse.BooleanOptionalAction, default=False,
        help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips (off)")
    add("--forwarded-allow-ips", default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="comma-separated IPs/CIDRs to trust, '*' for all, 'unix:' for Unix socket peers")
    add("--eager", action="store_true",
        help="run an ASGI app without a Task of its own until it first waits: only for a raw "
             "app that needs no current Task before then (not for Starlette, FastAPI, Django: "
             "on Python 3.11 anyio's task groups and timeouts need one, and fail with a 500)")
    add("--gzip", action=argparse.BooleanOptionalAction, default=None,
        help="gzip compressible responses for clients that accept it (default: on for "
             "native handlers; off for ASGI apps, which decide for themselves, e.g. with "
             "GZipMiddleware)")
    for title, flags in CONFIG_FLAGS.items():
        group = parser.add_argument_group(title)
        for flag, field, meaning in flags:
            default = getattr(defaults, field)
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            group.add_argument(flag, type=type(default), dest=field, default=default,
                               metavar="N", help=f"{meaning} ({shown}; Config.{field})")
    return parser


def make_config(args: argparse.Namespace, interface: Interface) -> Config:
    """The container's Config from the flags."""
    gzip = args.gzip if args.gzip is not None else interface == "native" and Config().gzip
    fields = {field: getattr(args, field)
              for flags in CONFIG_FLAGS.values() for _, field, _ in flags}
    return dataclasses.replace(Config(), host=args.host, port=args.port, gzip=gzip,
                               debug=args.log_level == "trace", **fields)


def build_handler(app: object, interface: Interface, args: argparse.Namespace
                  ) -> tuple[Handler | HandlerFunction, list[AsgiHandler]]:
    """The handler the container calls, and the ASGI handlers whose lifespans run."""
    proxies = TrustedProxies(args.forwarded_allow_ips) if args.proxy_headers else None
    handler: Handler | HandlerFunction
    if interface == "asgi":
        asgi = AsgiHandler(app, args.root_path, proxies=proxies,  # type: ignore[arg-type]
                           eager=args.eager)
        handler, found = asgi, [asgi]
    else:
        if not isinstance(app, Handler) and not callable(app):
            raise LoadError(f"{app!r} is not a handler")
        handler = app
        found = list(asgi_handlers_in(app))
        for inner in found:  # the flags reach the ASGI apps inside a native router too
            inner.root_path = inner.root_path or args.root_path.rstrip("/")
            inner.proxies = inner.proxies or proxies
            inner.runs_eagerly = inner.runs_eagerly or args.eager
    log.debug("serving %r as %s", app, interface)
    if args.access_log:
        handler = AccessLog(handler)
    return handler, found


def bind_unix_socket(path: str) -> socket.socket:
    """A bound AF_UNIX socket at ``path``, replacing a stale socket file left by a dead server."""
    if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                raise
            os.unlink(path)  # nobody listens there: a leftover
        else:
            raise OSError(errno.EADDRINUSE, f"another server listens on {path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o666)  # as uvicorn: the proxy in front usually runs as another user
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve(container: HttpToolsContainer, lifespans: list[Lifespan],
                args: argparse.Namespace) -> int:
    """Lifespan startup, serve until signalled, lifespan shutdown; the exit status."""
    started: list[Lifespan] = []
    try:
        for lifespan in lifespans:
            await lifespan.startup()
            started.append(lifespan)
    except LifespanFailed as exc:
        log.error("%s; exiting", exc)
        await _shut_down(started, args.graceful_shutdown_timeout)
        return EXIT_STARTUP_FAILED

    def announce(server: HttpToolsContainer) -> None:
        if args.uds:
            where = f"unix:{args.uds}"
        else:
            host, port = server.address
            where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        log.info("aioweb %s serving %s on %s (press CTRL+C to quit)", __version__, args.app, where)

    try:
        await serve_until_signalled(container, on_started=announce)
    except OSError as exc:  # the address is taken, say
        log.error("could not listen: %s", exc)
        await _shut_down(started, args.graceful_shutdown_timeout)
        return EXIT_LOAD_FAILED
    return await _shut_down(started, args.graceful_shutdown_timeout)


async def _shut_down(lifespans: list[Lifespan], timeout: float) -> int:
    status = 0
    for lifespan in reversed(lifespans):
        try:
            await lifespan.shutdown(timeout)
        except LifespanFailed as exc:
            log.error("%s", exc)
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=LOG_LEVELS[args.log_level], stream=sys.stderr,
                        format="%(levelname)s: %(message)s")
    if args.app_dir:
        sys.path.insert(0, os.path.abspath(args.app_dir))
    try:
        app = load_app(args.app, args.factory, app_dir=None)
        interface: Interface = (detect_interface(app) if args.interface == "auto"
                                else args.interface)
        handler, asgi_handlers = build_handler(app, interface, args)
    except LoadError as exc:
        log.error("error loading %s: %s", args.app, exc)
        return EXIT_LOAD_FAILED
    except ImportError as exc:  # the module itself imports something missing
        log.error("error loading %s", args.app, exc_info=exc)
        return EXIT_LOAD_FAILED
    mode: LifespanMode = args.lifespan
    lifespans = [Lifespan(inner.app, mode, inner.state) for inner in asgi_handlers]
    try:
        sock = bind_unix_socket(args.uds) if args.uds else None
    except OSError as exc:
        log.error("could not bind %s: %s", args.uds, exc)
        return EXIT_LOAD_FAILED
    container = HttpToolsContainer(handler, make_config(args, interface), sock=sock)
    use_uvloop = args.loop == "uvloop" or (
        args.loop == "auto" and importlib.util.find_spec("uvloop") is not None)
    loop = new_event_loop(use_uvloop)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(serve(container, lifespans, args))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        if args.uds:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.uds)
