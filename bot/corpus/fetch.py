"""Fetch a URL for ingestion: HTTP(S) only, a timeout, a size cap, and no way into private networks.

A chat user can paste any URL, so by default the host's every address is checked and loopback,
private, link-local, carrier-grade NAT, multicast, reserved and unspecified addresses are refused,
for the first request and for every redirect (followed by hand, at most five).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot.errors import BadInput

MAX_REDIRECTS = 5
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, 6to4 or NAT64 (well-known prefix)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_is_public(addr: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private, link-local etc.

    An IPv6 address that carries an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``,
    NAT64 ``64:ff9b::/96``) is judged by the IPv4 address it leads to.
    """
    ip = ipaddress.ip_address(addr)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:  # fec0::/10, deprecated but still routed on some networks
            return False
        ip = _embedded_ipv4(ip) or ip
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    ) and ip.is_global


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise BadInput unless ``url`` is http(s) and (unless allowed) resolves only to public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise BadInput(f"{url}: only http and https links can be fetched")
    host = parts.hostname
    if not host:
        raise BadInput(f"{url}: the link has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadInput(f"{url}: the host {host} cannot be resolved") from exc
    for info in infos:
        addr = info[4][0]
        if not address_is_public(addr):
            raise BadInput(f"{url}: refused, {host} points at a private or local address ({addr})")


@dataclass
class Fetched:
    url: str
    content: bytes
    content_type: str


def fetch(url: str, *, timeout_s: float, max_bytes: int, allow_private: bool) -> Fetched:
    """GET ``url`` (following up to five checked redirects) within ``timeout_s`` and ``max_bytes``.

    ``timeout_s`` bounds each network wait (connect, first byte, next block) and also the whole
    download, so that a server trickling a byte at a time cannot hold the caller for long.
    """
    current = url
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=timeout_s, follow_redirects=False, headers={"User-Agent": "analyst-bot/0.1"}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, allow_private=allow_private)
            try:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise BadInput(f"{url}: redirect without a location")
                        current = urljoin(current, location)
                        continue
                    if resp.status_code >= 400:
                        raise BadInput(f"{url}: the server answered HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise BadInput(f"{url}: too large ({int(declared):,} bytes; the limit is {max_bytes:,})")
                    body = bytearray()
                    for block in resp.iter_bytes():
                        body.extend(block)
                        if len(body) > max_bytes:
                            raise BadInput(f"{url}: too large (over {max_bytes:,} bytes)")
                        if time.monotonic() > deadline:
                            raise BadInput(f"{url}: the download did not finish within {timeout_s:g} s")
                    return Fetched(str(resp.url), bytes(body), resp.headers.get("content-type", ""))
            except httpx.TimeoutException as exc:
                raise BadInput(f"{url}: no answer within {timeout_s:g} s") from exc
            except httpx.HTTPError as exc:
                raise BadInput(f"{url}: cannot be fetched ({type(exc).__name__})") from exc
    raise BadInput(f"{url}: too many redirects")
