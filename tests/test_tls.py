"""HTTPS on the wire: the same HTTP/1.1 over TLS (``HttpToolsContainer(tls=...)``).

The certificates are made for each test session by ``trustme`` (the
``certificate_authority`` and ``tls_files`` fixtures of ``tests/conftest.py``):
a certificate authority of its own, which the clients trust, and a server
certificate for 127.0.0.1 that it issued.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from aioweb import Request, Response
from aioweb.server.tls import server_context

BIG = 4 * 1024 * 1024  # far past the write buffer: the response waits on drain


@pytest.fixture(name="server_tls")
def server_tls_fixture(tls_files: dict[str, Path], tmp_path: Path) -> ssl.SSLContext:
    """The server's context, made by aioweb's own server_context() from one file that
    holds the key and the certificate (the CLI's tests give them as two)."""
    both = tmp_path / "key-and-cert.pem"
    both.write_bytes(tls_files["key"].read_bytes() + tls_files["cert"].read_bytes())
    return server_context(str(both))


@pytest.fixture(name="client_tls")
def client_tls_fixture(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """A client context that trusts the CA, and checks the server's name."""
    context = ssl.create_default_context()
    certificate_authority.configure_trust(context)
    return context


async def scheme_and_body(request: Request) -> Response | bytes:
    """``/big``: 4 MiB streamed; anything else: the scheme and the request's body."""
    if request.path == "/big":
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(BIG // 65536):
                yield b"x" * 65536
        return Response(chunks())
    return request.scheme.encode() + b" " + await request.body()


def assert_closed_by_server(sock: socket.socket) -> None:
    """The server ended this connection: nothing more to read (or a reset,
    when it aborted rather than closed: as good)."""
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


def test_https_with_httpx(serve: Callable[..., Any], server_tls: ssl.SSLContext,
                          client_tls: ssl.SSLContext) -> None:
    """GET, POST and a 4 MiB streamed response over one kept-alive TLS connection;
    Request.scheme says https."""
    server = serve(scheme_and_body, tls=server_tls)
    host, port = server.address
    with httpx.Client(verify=client_tls, base_url=f"https://{host}:{port}") as client:
        assert client.get("/").text == "https "
        assert client.post("/", content=b"over tls").text == "https over tls"
        big = client.get("/big")
        assert big.status_code == 200 and len(big.content) == BIG
        assert big.headers["transfer-encoding"] == "chunked"
    assert server.requests_served == 3


def test_pipelined_requests_over_tls(serve: Callable[..., Any], connect: Callable[..., Any],
                                     server_tls: ssl.SSLContext,
                                     client_tls: ssl.SSLContext) -> None:
    """Three requests in one TLS write: three answers, in order; ALPN chose http/1.1."""
    server = serve(scheme_and_body, tls=server_tls)
    client_tls.set_alpn_protocols(["h2", "http/1.1"])
    client = connect(server.address, tls=client_tls)
    assert client.sock.selected_alpn_protocol() == "http/1.1"
    client.send(b"".join(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n%d" % i
                         for i in range(3)))
    assert [r.body for r in client.read_responses(3)] == [b"https 0", b"https 1", b"https 2"]


def test_bad_request_over_tls_is_refused_and_closed(serve: Callable[..., Any],
                                                    connect: Callable[..., Any],
                                                    server_tls: ssl.SSLContext,
                                                    client_tls: ssl.SSLContext) -> None:
    """A malformed request inside TLS: 400 and the connection closes (a TLS transport
    cannot half-close, so the linger is a plain close after the answer)."""
    server = serve(scheme_and_body, tls=server_tls)
    client = connect(server.address, tls=client_tls)
    client.send(b"NOT A REQUEST\r\n\r\n")
    response = client.read_response()
    assert response.status == 400 and response.closes
    assert client.wait_closed()


def test_plain_http_on_the_tls_port(serve: Callable[..., Any], connect: Callable[..., Any],
                                    poll: Callable[..., bool], server_tls: ssl.SSLContext,
                                    client_tls: ssl.SSLContext) -> None:
    """A plain-text request where TLS is expected fails the handshake: the connection is
    closed unanswered, nothing is left open, and the server goes on serving."""
    server = serve(scheme_and_body, tls=server_tls)
    plain = connect(server.address)
    plain.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert plain.wait_closed()
    assert not plain.pending.startswith(b"HTTP/")
    assert poll(lambda: server.connection_count == 0)
    client = connect(server.address, tls=client_tls)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().body == b"https "


def test_a_client_that_never_handshakes_is_closed(serve: Callable[..., Any],
                                                  server_tls: ssl.SSLContext) -> None:
    """Connected, then silent: closed at tls_handshake_timeout (no connection_made yet,
    so first_byte_timeout, far longer here, plays no part)."""
    server = serve(scheme_and_body, tls=server_tls, tls_handshake_timeout=0.3,
                   first_byte_timeout=30.0)
    with socket.create_connection(server.address, timeout=5) as silent:
        started = time.monotonic()
        assert_closed_by_server(silent)
        assert 0.25 < time.monotonic() - started < 3


def test_handshakes_past_max_connections_are_closed_at_once(
        serve: Callable[..., Any], server_tls: ssl.SSLContext,
        client_tls: ssl.SSLContext) -> None:
    """max_connections=2 bounds the handshakes in progress too: two sockets that never
    handshake hold both places, a third is closed at once instead of waiting out
    tls_handshake_timeout; once they go, a real client is served."""
    server = serve(scheme_and_body, tls=server_tls, max_connections=2,
                   tls_handshake_timeout=30.0)
    silent = [socket.create_connection(server.address, timeout=5) for _ in range(2)]
    try:
        time.sleep(0.3)  # both accepted: their handshakes have begun, on the server's side
        with socket.create_connection(server.address, timeout=5) as third:
            started = time.monotonic()
            assert_closed_by_server(third)
            assert time.monotonic() - started < 2
        silent[0].settimeout(0.2)
        with pytest.raises(TimeoutError):  # the first two are still waited for
            silent[0].recv(1)
    finally:
        for sock in silent:
            sock.close()
    time.sleep(0.3)  # their handshakes fail on the server's side: the places are free
    host, port = server.address
    with httpx.Client(verify=client_tls, base_url=f"https://{host}:{port}") as client:
        assert client.get("/").text == "https "


def test_stop_does_not_wait_for_a_stalled_handshake(serve: Callable[..., Any],
                                                    server_tls: ssl.SSLContext) -> None:
    """stop() while a client sits in its TLS handshake: once the grace period is over the
    connection is closed, instead of the stop waiting out tls_handshake_timeout (10 s)."""
    server = serve(scheme_and_body, tls=server_tls)
    with socket.create_connection(server.address, timeout=5) as silent:
        time.sleep(0.2)  # accepted: its handshake has begun, on the server's side
        started = time.monotonic()
        assert server.stop(grace_period=0.5) == 0
        assert time.monotonic() - started < 3
        assert_closed_by_server(silent)


def test_client_certificates_required(serve: Callable[..., Any], connect: Callable[..., Any],
                                      certificate_authority: trustme.CA,
                                      tls_files: dict[str, Path],
                                      client_tls: ssl.SSLContext) -> None:
    """client_certificates="required" (mutual TLS): a client with a certificate the CA
    issued is served; one without is refused in the handshake."""
    context = server_context(str(tls_files["cert"]), str(tls_files["key"]),
                             ca_certs=str(tls_files["ca"]),
                             client_certificates="required")
    server = serve(scheme_and_body, tls=context)
    with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError)):
        anonymous = connect(server.address, tls=client_tls)
        # TLS 1.3: the client's handshake ends before the server has checked it, so
        # the refusal comes with the first read.
        anonymous.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        anonymous.read_response()
    certificate_authority.issue_cert("client@example.org").configure_cert(client_tls)
    client = connect(server.address, tls=client_tls)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert client.read_response().body == b"https "


def test_server_context_refuses_a_key_that_does_not_load(tmp_path: Path,
                                                         tls_files: dict[str, Path]) -> None:
    """A missing file or one without a key: an OSError (ssl.SSLError is one) to report."""
    with pytest.raises(OSError):
        server_context(str(tmp_path / "missing.pem"))
    with pytest.raises(ssl.SSLError):
        server_context(str(tls_files["ca"]))  # a certificate, but no private key


def test_graceful_stop_with_a_tls_request_in_flight(serve: Callable[..., Any],
                                                    connect: Callable[..., Any],
                                                    make_event: Callable[[], Any],
                                                    server_tls: ssl.SSLContext,
                                                    client_tls: ssl.SSLContext) -> None:
    """stop() while a handler runs on a TLS connection: it finishes, its answer says
    Connection: close, then the connection closes, and stop() leaves nothing open."""
    entered = make_event()

    async def working(_request: Request) -> bytes:
        entered.set()
        await asyncio.sleep(0.3)
        return b"finished"

    server = serve(working, tls=server_tls)
    client = connect(server.address, tls=client_tls)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert entered.wait()
    stopping = server.begin_stop(grace_period=5)
    response = client.read_response()
    assert (response.status, response.body) == (200, b"finished")
    assert response.closes
    assert client.wait_closed()  # the server's close_notify
    client.close()  # as clients do then: the server's side ends
    assert stopping.result(timeout=3) == 0


def test_a_client_that_never_answers_close_notify_is_let_go(
        serve: Callable[..., Any], connect: Callable[..., Any], poll: Callable[..., bool],
        server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    """Connection: close over TLS: the server sends close_notify and waits for the
    client's at most linger_timeout, not the loop's 30 s, for a client that read the
    answer and went quiet with its socket open."""
    server = serve(scheme_and_body, tls=server_tls, linger_timeout=0.5)
    client = connect(server.address, tls=client_tls)
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert client.read_response().closes
    started = time.monotonic()
    assert poll(lambda: server.connection_count == 0, 5)
    assert time.monotonic() - started < 3
