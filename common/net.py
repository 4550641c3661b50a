"""Client addresses behind trusted proxies.

Only a peer inside ``AUTHSITE_TRUSTED_PROXIES`` may speak for the client
through X-Forwarded-*; from anyone else those headers are dropped before any
view, rate limit or audit record sees them (RFC 9700 §4.13, ASVS 4.1.3).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.utils.ipv6 import clean_ipv6_address

from common.conf import authsite_settings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)


@lru_cache(maxsize=32)
def parse_networks(networks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def in_networks(address: str, networks: tuple[str, ...]) -> bool:
    ip = parse_ip(address)
    return ip is not None and any(ip in net for net in parse_networks(networks))


def resolve_client_ip(meta: dict, trusted_proxies: tuple[str, ...]) -> str:
    """Return the client address, stripping forwarding headers from untrusted peers.

    Walks X-Forwarded-For from the right, skipping trusted proxies. An entry
    that is not an IP address stops the walk at the proxy that forwarded it,
    so a forged ``X-Forwarded-For: a`` can never make two requests look like
    they come from different clients.
    """
    peer = meta.get("REMOTE_ADDR") or ""
    if not trusted_proxies or not in_networks(peer, trusted_proxies):
        for header in FORWARDING_HEADERS:
            meta.pop(header, None)
        return peer
    client = peer
    for hop in reversed(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        if not hop.strip():
            continue
        ip = parse_ip(hop)
        if ip is None:
            break
        client = str(ip)
        if not in_networks(client, trusted_proxies):
            break
    return client


def normalise_ip(value: str | None) -> str | None:
    """The address in the one canonical form authsite stores, hashes and compares
    (IPv6 compressed as the database stores it), or ``None`` when there is none."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return clean_ipv6_address(str(address)) if address.version == 6 else str(address)


def client_ip(request) -> str | None:
    """The address of the client behind ``request``, or ``None`` when there is none.

    ``RequestContextMiddleware`` resolves it once per request (forwarding headers
    vetted against ``AUTHSITE_TRUSTED_PROXIES``); a request that did not pass the
    middleware (a test client, a direct call) is resolved the same way here.
    """
    if request is None:
        return None
    resolved = getattr(request, "client_ip", None)
    if resolved is None:
        meta = getattr(request, "META", None) or {}
        resolved = resolve_client_ip(dict(meta), tuple(authsite_settings.TRUSTED_PROXIES))
    return normalise_ip(resolved)
