"""Behind a reverse proxy: whose X-Forwarded-* headers to believe.

When aioweb runs behind nginx or a load balancer, the TCP peer is the proxy,
not the client. The proxy says who the client was in ``X-Forwarded-For`` and
which scheme it used in ``X-Forwarded-Proto``. Anyone can send those headers,
though, so they are applied to the ASGI scope's ``client`` and ``scheme`` only
when the peer is one of the trusted proxies (``--forwarded-allow-ips``).

This runs while :class:`aioweb.asgi.handler.AsgiHandler` builds a request's
scope, and only when ``--proxy-headers`` is on: with it off, there is no
per-request cost at all.
"""

from __future__ import annotations

import ipaddress

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = frozenset({"http", "https"})


class TrustedProxies:
    """A list of trusted peers: IP addresses, CIDR networks, ``*`` or ``unix:``.

    ``TrustedProxies("127.0.0.1, 10.0.0.0/8")`` trusts loopback and one
    private network; ``"*"`` trusts every peer (only safe when nothing but the
    proxy can reach the server); ``"unix:"`` trusts peers on a Unix socket,
    which have no address.
    """

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.trust_all = "*" in items
        self.trust_unix = "unix:" in items or self.trust_all
        self.networks: list[IpNetwork] = []
        self.hosts: set[str] = set()  # names that are not IP literals, matched as text
        for item in items:
            if item in ("*", "unix:"):
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.hosts.add(item)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        if self.trust_all or host in self.hosts:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def peer_trusted(self, peer: tuple[str, int] | None) -> bool:
        """Whether this TCP peer (None: a Unix socket peer) may set X-Forwarded-*."""
        return self.trust_unix if peer is None else peer[0] in self

    def client_from(self, forwarded_for: str) -> str | None:
        """The client's address from an ``X-Forwarded-For`` value.

        Each proxy appends the address it received the request from, so the
        list reads client, proxy 1, proxy 2, ... Walking it from the right,
        the first address we do not trust is the client (anything left of it
        could be forged by that client); if we trust them all, the leftmost.
        """
        hosts = [host.strip() for host in forwarded_for.split(",") if host.strip()]
        for host in reversed(hosts):
            if host not in self:
                return host
        return hosts[0] if hosts else None

    def apply(self, peer: tuple[str, int] | None, headers: list[tuple[bytes, bytes]],
              scheme: str) -> tuple[tuple[str, int] | None, str]:
        """The scope's (client, scheme) for a request from ``peer`` with these headers."""
        if not self.peer_trusted(peer):
            return peer, scheme
        client = peer
        for name, value in headers:
            if len(name) == 15 and name.lower() == b"x-forwarded-for":
                host = self.client_from(value.decode("latin-1"))
                if host is not None:
                    client = (host, 0)
            elif len(name) == 17 and name.lower() == b"x-forwarded-proto":
                # The last value is the one our own (trusted) proxy added.
                proto = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
                if proto in _SCHEMES:
                    scheme = proto
        return client, scheme
