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

The flags (``options.py``) are uvicorn's where the idea is the same. Differences: proxy
headers are off unless ``--proxy-headers`` (trusting a header anyone can send
should be a decision), and the limits map onto :class:`aioweb.Config`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import socket
import sys

from aioweb import __version__
from aioweb.asgi.access_log import AccessLog
from aioweb.asgi.handler import AsgiHandler
from aioweb.asgi.lifespan import Lifespan, LifespanFailed, LifespanMode
from aioweb.asgi.loader import (Interface, LoadError, asgi_handlers_in, detect_interface,
                                load_app)
from aioweb.asgi.proxy import TrustedProxies
from aioweb.contract import Handler, HandlerFunction
from aioweb.options import (build_parser, configure_logging, make_config, read_env_file,
                            tls_context)
from aioweb.server.container import HttpToolsContainer
from aioweb.server.lifecycle import new_event_loop, serve_until_signalled
from aioweb.server.listener import bind_unix_socket, listening_socket_from_fd, socket_address
from aioweb.supervisor import (Supervisor, bind_listening, tell_supervisor_ready,
                               watching_supervisor, worker_command)

log = logging.getLogger("aioweb")

EXIT_LOAD_FAILED = 1
EXIT_STARTUP_FAILED = 3


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


def set_up_process(args: argparse.Namespace) -> bool:
    """Logging, then the environment (--env-file), as the flags say, before
    the app is imported; False, having said why, when either cannot be."""
    try:
        configure_logging(args.log_config, args.log_level)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        # What logging.config raises for a file that is not there or not a
        # configuration (an ImportError is a ValueError's cause there, too).
        print(f"aioweb: could not load the log config {args.log_config}: {exc}",
              file=sys.stderr)
        return False
    if args.env_file is not None:
        try:
            for name, value in read_env_file(args.env_file).items():
                os.environ.setdefault(name, value)  # what the environment says wins
        except (OSError, ValueError) as exc:
            log.error("could not read the env file: %s", exc)
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.ssl_certfile is None and (args.ssl_keyfile or args.ssl_ca_certs):
        parser.error("--ssl-keyfile and --ssl-ca-certs need --ssl-certfile")
    if not set_up_process(args):
        return EXIT_LOAD_FAILED
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
                                    [os.path.abspath(path) for path in reload_dirs],
                                    reload_include=args.reload_include,
                                    reload_exclude=args.reload_exclude)
            return await supervisor.run(f"aioweb {__version__} serving {args.app} on {where}")
        finally:
            for sock in sockets:
                sock.close()
            if args.uds and not args.fd:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(args.uds)

    return asyncio.run(bind_and_supervise())
