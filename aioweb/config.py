"""Every limit, timeout and default in one place, each next to its reason.

A server's defaults are its security policy: each number here bounds what one
client can make the server hold (memory) or wait for (time). Change them with
``dataclasses.replace(Config(), ...)`` or keyword arguments to ``Config``.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    """The knobs of one container."""

    # --- where to listen -------------------------------------------------
    host: str = "127.0.0.1"
    # 8888: the original async-web-container's port, kept so its clients work.
    port: int = 8888
    # The kernel's queue of connections not yet accepted. 2048 absorbs a burst
    # of thousands of clients connecting at once (the kernel clamps it to
    # net.core.somaxconn); Python's default of 100 drops SYNs under such load.
    backlog: int = 2048

    # --- limits on what a client may send ---------------------------------
    # Request target length. 8 KiB is what browsers and proxies (nginx's
    # large_client_header_buffers) accept; longer ones get 414.
    max_url_size: int = 8 * 1024
    # The whole request head (request line + headers). 64 KiB is generous for
    # big cookies yet bounds a slow-drip client's buffer; past it: 431.
    max_head_size: int = 64 * 1024
    # Header count: 100, as h11 and most servers; a flood of tiny headers
    # costs parsing time far beyond its byte size. Past it: 431.
    max_header_count: int = 100
    # Body size for a request. 1 MiB matches nginx's client_max_body_size, so
    # putting aioweb behind nginx changes nothing; past it: 413.
    max_body_size: int = 1024 * 1024
    # Pipelined requests waiting behind the one being handled. Past this,
    # reading stops until they are answered: a client that pipelines without
    # reading responses cannot make the server queue unbounded work.
    max_pipeline_depth: int = 16
    # Unread request-body bytes buffered for a handler before reading pauses
    # (flow control). 64 KiB is one TCP window's worth: enough to keep an
    # upload streaming, small enough to hold per connection by the thousand.
    body_buffer_size: int = 64 * 1024
    # Unsent response bytes in the transport before a streaming response
    # waits (write high-water mark). Same reasoning as body_buffer_size.
    write_buffer_size: int = 64 * 1024

    # --- limits on the load one process takes -----------------------------
    # Connections open at once; one more is answered 503 (Service Unavailable)
    # and closed, no handler called. None: bounded only by the process's file
    # descriptors (ulimit -n), at which accepting pauses (listener.py). Set it
    # below that to answer a flood rather than leave it queued. Connections
    # lingering after a refusal count until they close (linger_timeout). With
    # TLS, a connection counts from the end of its handshake; the handshakes
    # in progress on each listening socket are bounded by this number too
    # (past it, a socket is closed before its handshake: no 503 can be sent
    # before one), each for at most tls_handshake_timeout.
    max_connections: int | None = None
    # Requests served before the container stops itself, gracefully, as on
    # SIGTERM. None: never. Under --workers the supervisor starts a fresh
    # worker in its place, so memory an app leaks cannot grow without bound
    # (gunicorn's max_requests). Checked at the timer's tick: a tick's worth of
    # requests more may be served.
    max_requests: int | None = None

    # --- timeouts (seconds) ----------------------------------------------
    # A new connection that sends nothing is closed after this: it holds a
    # file descriptor and would otherwise hold it forever.
    first_byte_timeout: float = 10.0
    # From the first byte of a request head to its last. Counted from the
    # first byte, never reset by later ones, so dripping one byte a second
    # (slowloris) does not keep a connection alive. Answered with 408.
    head_timeout: float = 10.0
    # An idle keep-alive connection between requests; 5 s as uvicorn, short
    # enough that idle clients do not pile up, long enough for a browser's
    # next click to reuse the connection.
    keep_alive_timeout: float = 5.0
    # A handler waiting for request body bytes that do not come (a slow-drip
    # upload, "R.U.D.Y."): after this long without a byte, the body read fails
    # with 408 and the connection closes (nginx's client_body_timeout).
    body_timeout: float = 30.0
    # A response the client does not read: after this long with the
    # transport's buffer full and no progress, the connection is aborted
    # (nginx's send_timeout), so a stalled reader cannot pin a handler forever.
    send_timeout: float = 30.0
    # After an error response the server half-closes and reads (discarding)
    # this long before closing, so the client reads the error instead of a
    # reset caused by the body it was still sending (nginx's lingering close).
    linger_timeout: float = 2.0
    # With TLS (HttpToolsContainer's tls=): how long a client may take from
    # connecting to the end of its TLS handshake, a few round trips. A client
    # that connects and never completes it would hold a socket, and the
    # loop's default waits a whole minute (asyncio's and uvloop's 60 s).
    tls_handshake_timeout: float = 10.0
    # Graceful shutdown: how long in-flight requests may take to finish.
    graceful_shutdown_timeout: float = 10.0

    # --- responses ----------------------------------------------------------
    # gzip compressible responses (text, JSON, JS, XML, SVG) when the client
    # accepts it. Bodies under gzip_min_size go plain: below about one packet,
    # compression saves no round trip and costs CPU.
    gzip: bool = True
    gzip_min_size: int = 1400
    # Level 6 is zlib's default: most of level 9's gain for a third of its CPU.
    gzip_level: int = 6
    # The Server header's value; "" sends none (for those who would rather
    # not say what they run). A handler's own Server line replaces it.
    server_header: str = "aioweb"
    # RFC 9110 §6.6.1: an origin server with a clock sends Date; turn it off
    # only behind a proxy that adds its own. A handler's own Date replaces it.
    date_header: bool = True
    # Header lines for every response, refusals included (the CLI's
    # --header): security headers, say. A Server or Date among them
    # replaces the container's; the others are sent beside a handler's own.
    default_headers: tuple[tuple[str, str], ...] = ()

    # --- scheduling -------------------------------------------------------
    # Run handlers eagerly (see aioweb/server/eager.py). False starts every
    # request in its own Task, the classic way: slower, but asyncio.current_task()
    # works from a handler's first line on Python 3.11.
    eager_handlers: bool = True
    # Log each connection's and request's steps (the sample server's --debug).
    debug: bool = False

    def timer_tick(self) -> float:
        """How often deadlines are checked and the Date header refreshed.

        A quarter of the shortest timeout, clamped to 50 ms..0.5 s so the
        Date header is never a second stale. A phase's timeout is armed at
        the first tick in it and fires at the tick after it passes: one to
        two ticks late, at most half of the timeout.
        """
        shortest = min(self.first_byte_timeout, self.head_timeout, self.keep_alive_timeout,
                       self.linger_timeout, self.body_timeout, self.send_timeout)
        return max(0.05, min(0.5, shortest / 4))
