"""The listening socket: where connections come in, all that wait at each wake-up.

Where it sits in a connection's life: before it. The kernel completes each TCP
handshake on its own and queues the connection (up to the listen backlog).
When the listening socket turns readable, :class:`Listener` takes every
queued connection off that queue and hands each to the event loop
(``loop.connect_accepted_socket``), which puts a transport on it and calls
``connection_made`` on a new :class:`HttpToolsConnection`.

Why not ``loop.create_server``, which does all this: under uvloop it accepts
*one* connection per turn of the event loop. libuv stopped accepting in a
loop (libuv pull request 3696) and relies on the listening socket being
reported again on the next turn. A turn of a busy server is long,
since it runs the callbacks of every connection that had bytes, so a burst of
256 new clients is taken in over 256 turns: measured, first answers 0.3-1.3 s
late while the clients already in are served in milliseconds
(``tests/test_accept.py``). asyncio's own loop accepts up to the backlog per
wake-up; this module does the same on both loops.

Doing it in Python costs more per connection than libuv's C (measured on
uvloop: 10,000 more user instructions per connection, after what is won back
below: no Task per connection, and no asking the transport for addresses
that accept() returned), but nothing waits in the queue any more: with a new
connection per request from 64 clients the sample server went from 3,800 to
6,500-7,800 requests a second.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import socket
import stat
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

# Makes the protocol for one accepted connection, given the client's address
# and ours (None for a Unix socket).
ConnectionFactory = Callable[[tuple[str, int] | None, tuple[str, int] | None], asyncio.Protocol]

log = logging.getLogger("aioweb")

# Out of file descriptors (or kernel memory): accepting again at once would
# fail again, in a busy loop. Wait for connections to close first; asyncio's
# loop waits one second too.
ACCEPT_RETRY_DELAY = 1.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


async def bind(host: str, port: int) -> list[socket.socket]:
    """Bound (not yet listening) sockets for ``host``: one per address it names
    (``localhost`` may be both ``127.0.0.1`` and ``::1``)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):  # each once, in order
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            # A restarted server may bind at once, while the last run's closed
            # connections still sit in TIME_WAIT on this port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # The IPv4 address of the same host has its own socket.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


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


def listening_socket_from_fd(fd: int) -> socket.socket:
    """The stream socket open as ``fd``, bound by whoever started this process
    (a supervisor, systemd's socket activation)."""
    try:
        sock = socket.socket(fileno=fd)  # family and type read from the socket itself
    except OSError as exc:
        raise OSError(exc.errno, f"--fd {fd} is not a socket ({exc.strerror})") from exc
    if sock.type != socket.SOCK_STREAM:
        sock.detach()  # not ours to close
        raise OSError(errno.ENOTSOCK, f"--fd {fd} is not a stream socket")
    return sock


class _AcceptedSocket(socket.socket):
    """An accepted connection's socket, its family and type kept as they are.

    ``socket.socket`` makes both an enum member on every read, about 7,000
    instructions each on CPython 3.11, and the loop reads them three or four
    times while it puts a transport on the socket: measured, a third of what
    accepting a connection cost.
    """

    __slots__ = ("_family", "_type")

    def __init__(self, family: socket.AddressFamily, kind: socket.SocketKind, proto: int,
                 fd: int) -> None:
        super().__init__(family, kind, proto, fd)
        self._family = family
        self._type = kind

    @property
    def family(self) -> socket.AddressFamily:
        return self._family

    @property
    def type(self) -> socket.SocketKind:
        return self._type


class Listener:
    """Accepts connections on one listening socket and hands them to the loop."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop,
                 new_connection: ConnectionFactory, backlog: int,
                 tls_options: Mapping[str, Any] | None = None,
                 max_handshakes: int | None = None) -> None:
        self.sock = sock
        self._loop = loop
        self._new_connection = new_connection
        self._backlog = backlog
        # With TLS (connect_accepted_socket's ssl arguments, see tls.py), the
        # loop's transport does the handshake before connection_made, and
        # encrypts and decrypts underneath: the connection sees the same
        # bytes as without it.
        self._tls_options = tls_options or {}
        # A connection counts against max_connections once its handshake is
        # done and connection_made runs; until then it is only a socket here.
        # Without this bound, clients that connect and never handshake would
        # each hold a descriptor for tls_handshake_timeout, as many as they
        # can open: past it, an accepted socket is closed before its handshake.
        self._max_handshakes = max_handshakes if tls_options else None
        # What every accepted socket shares with this one, read once: each
        # read of family or type builds an enum (see _AcceptedSocket).
        self._kind = (sock.family, sock.type, sock.proto)
        self._ip = sock.family in (socket.AF_INET, socket.AF_INET6)
        # Our address on every connection, when the socket is bound to one;
        # bound to all (0.0.0.0, ::), each connection is asked for its own.
        local = socket_address(sock.getsockname()) if self._ip else None
        self._local = local if local is not None and local[0] not in ("0.0.0.0", "::") else None
        # What the connections being handed to the loop wait for (their
        # connection_made, one loop turn away; with TLS, their handshake),
        # and the handing over that waits for it: see _hand_over.
        self._adopting: dict[asyncio.Future[object], Coroutine[Any, Any, object]] = {}
        self._retry: asyncio.TimerHandle | None = None
        self.closed = False

    def start(self) -> None:
        """Listen, and accept whenever the socket is readable."""
        self.sock.listen(self._backlog)
        self.sock.setblocking(False)
        self._loop.add_reader(self.sock.fileno(), self._accept_waiting)

    def _accept_waiting(self) -> None:
        # At most a backlog's worth per wake-up: the loop goes on serving the
        # connections it has while a flood keeps the queue full.
        listening = self.sock
        for _ in range(self._backlog):
            try:
                # The C call under sock.accept(): a bare fd. sock.accept() would
                # also read the enum properties and make a plain socket.socket.
                fd, peer = listening._accept()  # type: ignore[attr-defined]  # pylint: disable=protected-access
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty: wait for the next wake-up
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    # accept(2): an error pending on the new connection (the
                    # client gave up while queued, a network went down, a
                    # firewall said no) ends that connection, not the listener.
                    log.debug("accept failed: %s", exc)
                    continue
                log.error("cannot accept connections (%s); trying again in %.0f s",
                          exc.strerror, ACCEPT_RETRY_DELAY)
                self._loop.remove_reader(listening.fileno())
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            if self._max_handshakes is not None and len(self._adopting) >= self._max_handshakes:
                socket.close(fd)  # the client sees its handshake fail at once
                continue
            conn = _AcceptedSocket(*self._kind, fd)
            # Neither setblocking(False) nor TCP_NODELAY here: the loop's
            # transport sets both (asyncio's transports since Python 3.6,
            # uvloop's always; tests/test_accept.py checks TCP_NODELAY).
            # Nagle's algorithm matters: responses are written whole, and it
            # would only hold back the last segment of each until the ACK.
            if self._ip:
                addresses = (socket_address(peer),
                             self._local or socket_address(conn.getsockname()))
            else:
                addresses = (None, None)
            self._hand_over(self._loop.connect_accepted_socket(
                functools.partial(self._new_connection, *addresses), conn, **self._tls_options))

    def _hand_over(self, adopting: Coroutine[Any, Any, object]) -> None:
        """Run ``connect_accepted_socket`` step by step, as a Task would.

        Its first step makes the transport and schedules ``connection_made``;
        then it waits for that call, and its last step only returns. A Task
        would carry it (see ``eager.py`` for how a Task steps a coroutine),
        but would cost an allocation and a loop turn of its own per
        connection, and outlive ``connection_made``: here each step runs at
        once, and the next when the future it waits on is done.
        """
        try:
            waiting_on = adopting.send(None)
        except StopIteration:
            return  # the transport is up and connection_made has run
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # The loop could not put a transport on it (the client reset it
            # first): nothing was served on it, nothing to answer.
            log.debug("an accepted connection was lost before it began: %r", exc)
            return
        if waiting_on is None:  # a bare yield: go on in the next turn
            self._loop.call_soon(self._hand_over, adopting)
            return
        self._adopting[waiting_on] = adopting
        waiting_on.add_done_callback(self._waited)

    def _waited(self, done: asyncio.Future[object]) -> None:
        adopting = self._adopting.pop(done, None)
        if adopting is not None:  # else abandoned (see abandon_handshakes)
            self._hand_over(adopting)

    def _resume(self) -> None:
        self._retry = None
        if not self.closed:
            self._loop.add_reader(self.sock.fileno(), self._accept_waiting)

    def close(self) -> None:
        """Accept no more: stop watching the socket and close it."""
        if self.closed:
            return
        self.closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    async def wait_closed(self, timeout: float) -> None:
        """Wait until the connections accepted before close() have their
        transports, at most ``timeout`` (a TLS handshake may take that long);
        then abandon those still waiting."""
        if self._adopting:
            await asyncio.wait(list(self._adopting), timeout=timeout)
        self.abandon_handshakes()

    def abandon_handshakes(self) -> None:
        """Give up the connections still being handed over, closing them.

        Only a TLS handshake makes that take more than a loop turn. Closing
        the coroutine that waits for it closes the transport under it (the
        loops' ``connect_accepted_socket`` does so on any exception there,
        GeneratorExit included), and nothing of it is left behind.
        """
        adopting, self._adopting = self._adopting, {}
        for waiting in adopting.values():
            waiting.close()


def socket_address(value: object) -> tuple[str, int] | None:
    """(host, port) of a socket address; IPv6's flow and scope ids left out."""
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
