"""The ``aioweb`` command: serve an ASGI app or a native handler, uvicorn-style.

    aioweb main:app [--host 127.0.0.1] [--port 8000] [--uds PATH] ...
    python -m aioweb main:app ...

What it does, in order — the frame around every request's life:

1. import the app (``loader.py``) and tell ASGI from native (``--interface``);
2. wrap it: an ASGI app in an :class:`AsgiHandler`; the access log around
   everything, only when it is on (``--no-access-log`` costs nothing);
3. run each ASGI app's lifespan startup; if one fails, exit 3 without
   ever listening;
4. listen (TCP, or a Unix socket with ``--uds``; HTTPS with ``--ssl-certfile``),
   log where, serve until SIGINT/SIGTERM, shut down gracefully;
5. run the lifespan shutdowns, exit 0.

With ``--workers N`` (N > 1) or ``--reload`` the process does none of that
itself: it binds, and runs N processes that each do steps 1-5 on its socket
(``supervisor.py``), started anew when the code changes (``reloader.py``).

The flags are uvicorn's where the idea is the same. Differences: proxy
headers are off unless ``--proxy-headers`` (trusting a header anyone can send
should be a decision), and the limits map onto :class:`aioweb.Config`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import logging
import os
import platform
import socket
import ssl
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
from aioweb.errors import ResponseHeaderError
from aioweb.http11.writer import CommonHeaders
from aioweb.server.container import HttpToolsContainer
from aioweb.server.lifecycle import new_event_loop, serve_until_signalled
from aioweb.server.listener import bind_unix_socket, listening_socket_from_fd, socket_address
from aioweb.server.tls import CLIENT_CERTIFICATES, server_context
from aioweb.supervisor import (Supervisor, bind_listening, tell_supervisor_ready,
                               watching_supervisor, worker_command)

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
        ("--timeout-tls-handshake", "tls_handshake_timeout", "a TLS client's handshake"),
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
    add("--workers", type=int, default=1, metavar="N",
        help="worker processes sharing the socket (1: this process serves; more: it "
             "starts and watches them, see aioweb/supervisor.py)")
    add("--reload", action=argparse.BooleanOptionalAction, default=False,
        help="restart the server when a .py file under --reload-dir changes (for "
             "development; see aioweb/reloader.py)")
    add("--reload-dir", action="append", metavar="DIR",
        help="a directory to watch with --reload (repeatable; default: --app-dir)")
    add("--fd", type=int, action="append", metavar="FD",
        help="serve the listening socket open as this file descriptor, bound by whoever "
             "started the process (repeatable; --host, --port and --uds then only name it)")
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
    add("--server-header", action=argparse.BooleanOptionalAction, default=True,
        help="send Server: aioweb (on; an app's own Server line replaces it)")
    add("--date-header", action=argparse.BooleanOptionalAction, default=True,
        help="send Date (on, as RFC 9110 asks of a server with a clock; an app's own "
             "replaces it)")
    add("--header", action="append", type=header_pair, dest="headers", metavar="NAME:VALUE",
        help="a header line for every response (repeatable); Server:NAME replaces aioweb's")
    add("--limit-concurrency", type=int, dest="max_connections", metavar="N",
        help="connections open at once; past it, 503 (none; Config.max_connections)")
    add("--limit-max-requests", type=int, dest="max_requests", metavar="N",
        help="requests served before the process stops gracefully, to be replaced by a "
             "fresh one under --workers (none; Config.max_requests)")
    tls = parser.add_argument_group("TLS (HTTPS; see aioweb/server/tls.py)")
    tls.add_argument("--ssl-certfile", metavar="PATH",
                     help="the server's certificate chain (PEM): serve HTTPS")
    tls.add_argument("--ssl-keyfile", metavar="PATH",
                     help="its private key (PEM), unless the certfile holds it")
    tls.add_argument("--ssl-keyfile-password", metavar="PASSWORD",
                     help="the password of an encrypted private key")
    tls.add_argument("--ssl-ca-certs", metavar="PATH",
                     help="certificate authorities that client certificates are checked against")
    tls.add_argument("--ssl-cert-reqs", type=client_certificates, default="none",
                     metavar="{none,optional,required}",
                     help="whether clients must show a certificate (none; uvicorn's 0, 1, 2 "
                          "work too)")
    tls.add_argument("--ssl-ciphers", metavar="LIST",
                     help="OpenSSL cipher list (Python's defaults for TLS 1.2; TLS 1.3's are "
                          "OpenSSL's)")
    for title, flags in CONFIG_FLAGS.items():
        group = parser.add_argument_group(title)
        for flag, field, meaning in flags:
            default = getattr(defaults, field)
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            group.add_argument(flag, type=type(default), dest=field, default=default,
                               metavar="N", help=f"{meaning} ({shown}; Config.{field})")
    return parser


def client_certificates(value: str) -> str:
    """--ssl-cert-reqs: a name of tls.CLIENT_CERTIFICATES, or uvicorn's number for it."""
    names = list(CLIENT_CERTIFICATES)
    if value.isdigit() and int(value) < len(names):
        return names[int(value)]
    if value not in names:
        raise argparse.ArgumentTypeError(f"not one of {', '.join(names)}: {value!r}")
    return value


def header_pair(value: str) -> tuple[str, str]:
    """--header: "Name: value" as a pair, checked as a response header is."""
    name, colon, header_value = value.partition(":")
    pair = (name.strip(), header_value.strip())
    try:
        if not colon:
            raise ResponseHeaderError("no colon between name and value")
        CommonHeaders("", defaults=[pair])
    except ResponseHeaderError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None
    return pair


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS flags' context, or None without --ssl-certfile; OSError
    (ssl.SSLError is one) when the files cannot be loaded."""
    if args.ssl_certfile is None:
        return None
    return server_context(args.ssl_certfile, args.ssl_keyfile, args.ssl_keyfile_password,
                          args.ssl_ca_certs, args.ssl_cert_reqs, args.ssl_ciphers)


def make_config(args: argparse.Namespace, interface: Interface) -> Config:
    """The container's Config from the flags."""
    gzip = args.gzip if args.gzip is not None else interface == "native" and Config().gzip
    fields = {field: getattr(args, field)
              for flags in CONFIG_FLAGS.values() for _, field, _ in flags}
    return dataclasses.replace(Config(), host=args.host, port=args.port, gzip=gzip,
                               debug=args.log_level == "trace",
                               max_connections=args.max_connections,
                               max_requests=args.max_requests,
                               server_header="aioweb" if args.server_header else "",
                               date_header=args.date_header,
                               default_headers=tuple(args.headers or ()), **fields)


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


def listening_url(host: str, port: int, unix: bool, tls: bool = False) -> str:
    """Where a server listens, as its startup line says it."""
    if unix:
        return f"unix:{host}"  # a Unix socket's address is its path (see Container.address)
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def serve(container: HttpToolsContainer, lifespans: list[Lifespan],
                args: argparse.Namespace, unix: bool) -> int:
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
        host, port = server.address
        url = listening_url(host, port, unix, tls=args.ssl_certfile is not None)
        log.info("aioweb %s (pid %d) serving %s on %s (press CTRL+C to quit)", __version__,
                 os.getpid(), args.app, url)
        tell_supervisor_ready()

    supervisor_gone = asyncio.Event()
    try:
        with watching_supervisor(supervisor_gone):
            await serve_until_signalled(container, on_started=announce,
                                        stop_requested=supervisor_gone)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.ssl_certfile is None and (args.ssl_keyfile or args.ssl_ca_certs):
        parser.error("--ssl-keyfile and --ssl-ca-certs need --ssl-certfile")
    logging.basicConfig(level=LOG_LEVELS[args.log_level], stream=sys.stderr,
                        format="%(levelname)s: %(message)s")
    if args.workers > 1 or args.reload:
        return supervise(args, sys.argv[1:] if argv is None else argv)
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
        tls = tls_context(args)
    except OSError as exc:
        log.error("could not load the TLS certificate or key: %s", exc)
        return EXIT_LOAD_FAILED
    try:
        if args.fd:
            sockets = [listening_socket_from_fd(fd) for fd in args.fd]
        else:
            sockets = [bind_unix_socket(args.uds)] if args.uds else []
    except OSError as exc:
        log.error("could not listen: %s", exc)
        return EXIT_LOAD_FAILED
    unix = bool(sockets) and sockets[0].family == socket.AF_UNIX
    container = HttpToolsContainer(handler, make_config(args, interface), sockets=sockets,
                                   tls=tls)
    use_uvloop = args.loop == "uvloop" or (
        args.loop == "auto" and importlib.util.find_spec("uvloop") is not None)
    loop = new_event_loop(use_uvloop)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(serve(container, lifespans, args, unix))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        if args.uds and not args.fd:  # the socket file is ours to remove
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.uds)


def supervise(args: argparse.Namespace, argv: list[str]) -> int:
    """``--workers N`` or ``--reload``: bind here, serve in N worker processes
    (see supervisor.py), restarted when the code changes with ``--reload``."""
    async def bind_and_supervise() -> int:
        try:
            sockets = ([listening_socket_from_fd(fd) for fd in args.fd] if args.fd else
                       await bind_listening(args.host, args.port, args.uds, args.backlog))
        except OSError as exc:
            log.error("could not listen: %s", exc)
            return EXIT_LOAD_FAILED
        fds = [sock.fileno() for sock in sockets]
        address = socket_address(sockets[0].getsockname())
        where = (listening_url(*address, unix=False, tls=args.ssl_certfile is not None)
                 if address is not None
                 else listening_url(str(sockets[0].getsockname()), 0, unix=True))
        try:
            reload_dirs = (args.reload_dir or [args.app_dir]) if args.reload else []
            supervisor = Supervisor(worker_command(argv, [] if args.fd else fds), fds,
                                    args.workers, args.graceful_shutdown_timeout,
                                    [os.path.abspath(path) for path in reload_dirs])
            return await supervisor.run(f"aioweb {__version__} serving {args.app} on {where}")
        finally:
            for sock in sockets:
                sock.close()
            if args.uds and not args.fd:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(args.uds)

    return asyncio.run(bind_and_supervise())
