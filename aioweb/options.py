"""The command line's flags, and what they make: the Config, the TLS context,
the logging and the environment.

Where it sits: before any request, ``aioweb/cli.py`` parses its arguments
with :func:`build_parser` and turns them into the container's
:class:`aioweb.Config` (:func:`make_config`) and an ``ssl.SSLContext``
(:func:`tls_context`), and sets up logging (:func:`configure_logging`) and the
environment (:func:`read_env_file`). The flags are uvicorn's where the idea is the same;
each one that sets a Config field names it in ``--help``, and the reason for
its default sits next to the field in ``aioweb/config.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import logging
import logging.config
import os
import platform
import re
import ssl
import sys
from importlib.metadata import PackageNotFoundError, version

from aioweb import __version__
from aioweb.asgi.loader import Interface
from aioweb.config import Config
from aioweb.errors import ResponseHeaderError
from aioweb.http11.writer import CommonHeaders
from aioweb.server.tls import CLIENT_CERTIFICATES, server_context

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
        help="restart the server when a watched file under --reload-dir changes (for "
             "development; see aioweb/reloader.py)")
    add("--reload-dir", action="append", metavar="DIR",
        help="a directory to watch with --reload (repeatable; default: --app-dir)")
    add("--reload-include", action="append", metavar="GLOB", default=[],
        help="with --reload, watch the files this matches too, by name or path below "
             "the directory, e.g. '*.html' (repeatable; .py files are always watched)")
    add("--reload-exclude", action="append", metavar="GLOB", default=[],
        help="with --reload, not the files or directories this matches (repeatable)")
    add("--fd", type=int, action="append", metavar="FD",
        help="serve the listening socket open as this file descriptor, bound by whoever "
             "started the process (repeatable; --host, --port and --uds then only name it)")
    add("--root-path", default="", help="ASGI root_path, for an app mounted below a URL prefix")
    add("--lifespan", choices=("auto", "on", "off"), default="auto",
        help="ASGI lifespan events (auto: when the app supports them)")
    add("--factory", action="store_true", help="the attribute is a factory: call it for the app")
    add("--app-dir", default=".", help="directory put first on sys.path (.)")
    add("--env-file", metavar="PATH",
        help="set environment variables from this KEY=VALUE file before the app is "
             "imported (variables already set win; see read_env_file)")
    add("--log-level", choices=tuple(LOG_LEVELS), default=None,
        help="log level (info; with --log-config, what the file says)")
    add("--log-config", metavar="PATH",
        help="logging configuration: .json or .yaml (needs PyYAML) for logging.config's "
             "dictConfig, else an .ini file for fileConfig; the loggers are aioweb, "
             "aioweb.asgi (app faults) and aioweb.access")
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
    if not colon:
        raise argparse.ArgumentTypeError(f"{value!r}: no colon between name and value")
    try:
        CommonHeaders("", defaults=[pair])  # refused as Config.default_headers would be
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


def configure_logging(log_config: str | None, log_level: str | None) -> None:
    """Logging as the flags ask: to stderr at ``--log-level`` (info), or as
    the ``--log-config`` file says, with ``--log-level``, when given, setting
    the aioweb loggers' level on top (as uvicorn does)."""
    if log_config is None:
        logging.basicConfig(level=LOG_LEVELS[log_level or "info"], stream=sys.stderr,
                            format="%(levelname)s: %(message)s")
        return
    if log_config.endswith((".json", ".yaml", ".yml")):
        with open(log_config, encoding="utf-8") as file:
            if log_config.endswith(".json"):
                settings = json.load(file)
            else:
                try:
                    yaml = importlib.import_module("yaml")  # not a dependency of aioweb
                except ImportError:
                    raise RuntimeError("a YAML log config needs PyYAML "
                                       "(pip install pyyaml)") from None
                settings = yaml.safe_load(file)
        logging.config.dictConfig(settings)
    else:
        if not os.path.exists(log_config):  # fileConfig's own error would say "no section"
            raise FileNotFoundError(f"no such file: {log_config!r}")
        logging.config.fileConfig(log_config, disable_existing_loggers=False)
    if log_level is not None:
        logging.getLogger("aioweb").setLevel(LOG_LEVELS[log_level])


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def read_env_file(path: str) -> dict[str, str]:
    """The variables of a ``.env`` file, as ``--env-file`` reads it: one
    ``KEY=VALUE`` a line, ``export`` before it allowed, ``#`` comments; a value
    in single quotes as it is, in double quotes with ``\\n``-style escapes,
    bare up to a `` #`` comment. No ``${VAR}`` expansion (python-dotenv, which
    uvicorn's flag uses, has it). ValueError names a line it cannot read."""
    variables = {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("export "):
                text = text[len("export "):].lstrip()
            name, equals, value = text.partition("=")
            name, value = name.strip(), value.strip()
            if not equals or not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{path}, line {number}: not KEY=VALUE: {line.rstrip()!r}")
            variables[name] = _env_value(value, f"{path}, line {number}")
    return variables


# A quoted value: '...' as it is; "..." where a backslash escapes what follows.
_QUOTED = re.compile(r"'([^']*)'" "|" r'"((?:[^"\\]|\\.)*)"')


def _env_value(value: str, where: str) -> str:
    if value[:1] not in ("'", '"'):
        return value.split(" #", 1)[0].rstrip()
    quoted = _QUOTED.match(value)
    if quoted is None:
        raise ValueError(f"{where}: the {value[0]} quote is not closed")
    single, double = quoted.groups()
    if single is not None:
        return single
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), double)
