"""TLS: the context every accepted connection is wrapped in (``--ssl-certfile``).

Where it sits in a connection's life: between the accept and the first byte
of the request. Given a context, the event loop's transport (asyncio's, or
uvloop's) does the TLS handshake before it calls ``connection_made``, within
``Config.tls_handshake_timeout``, and then decrypts what it reads and
encrypts what it writes. Everything above it, the reader, the phases, the
handlers, sees the same plaintext bytes as on a plain connection; only the
scheme differs (``Request.scheme``, and the ASGI scope's, say ``"https"``).

A handshake that fails (a plain HTTP request on the TLS port, an unknown
certificate authority, no protocol version in common) ends the connection
before it began: nothing was read, nothing can be answered.
"""

from __future__ import annotations

import ssl
from typing import Any

from aioweb.config import Config

# What --ssl-cert-reqs names: whether clients must show a certificate
# (mutual TLS), checked against --ssl-ca-certs.
CLIENT_CERTIFICATES = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
                       "required": ssl.CERT_REQUIRED}


def server_context(certfile: str, keyfile: str | None = None, password: str | None = None,
                   ca_certs: str | None = None, client_certificates: str = "none",
                   ciphers: str | None = None) -> ssl.SSLContext:
    """A server-side context with the certificate chain in ``certfile`` (and its
    key, in ``keyfile`` or in ``certfile`` itself); ``ssl.SSLError`` or
    ``OSError`` when they cannot be loaded."""
    # Python's defaults for a server: TLS 1.2 and up, no compression (CRIME),
    # the ciphers OpenSSL's security level allows.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile, password)
    if ca_certs is not None:
        context.load_verify_locations(ca_certs)
    context.verify_mode = CLIENT_CERTIFICATES[client_certificates]
    if ciphers is not None:
        context.set_ciphers(ciphers)
    # Only HTTP/1.1 is spoken here: a client that offers HTTP/2 by ALPN (as
    # browsers and curl do) must not be told it may use it.
    context.set_alpn_protocols(["http/1.1"])
    return context


def tls_options(context: ssl.SSLContext, config: Config) -> dict[str, Any]:
    """The ``loop.connect_accepted_socket`` arguments that put TLS on a connection."""
    return {
        "ssl": context,
        "ssl_handshake_timeout": config.tls_handshake_timeout,
        # Closing, the transport sends TLS's close_notify and waits for the
        # client's; a client that read the answer and went quiet would keep
        # the connection (and a graceful stop) waiting for the loop's default
        # 30 s. Waiting as long as the linger after an error answer is enough
        # for one that replies, and RFC 8446 §6.1 does not require a reply
        # before closing.
        "ssl_shutdown_timeout": config.linger_timeout,
    }
