"""Fetch a URL for ingestion: HTTP(S) only, a timeout, a size cap, and no way into private networks.

A chat user can paste any URL, so by default the host's every address is checked and loopback,
private, link-local, carrier-grade NAT, multicast, reserved and unspecified addresses are refused,
for the first request and for every redirect (at most five; httpx follows them, and a request
event hook checks each hop before it connects).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
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
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port out of range or not a number
    except ValueError as exc:
        raise BadInput(f"{url}: not a valid link ({exc})") from exc
    if parts.scheme not in {"http", "https"}:
        raise BadInput(f"{url}: only http and https links can be fetched")
    host = parts.hostname
    if not host:
        raise BadInput(f"{url}: the link has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadInput(f"{url}: the host {host} cannot be resolved") from exc
    for info in infos:
        addr = str(info[4][0])  # an IPv4 or IPv6 socket address starts with the address text
        if not address_is_public(addr):
            raise BadInput(f"{url}: refused, {host} points at a private or local address ({addr})")


@dataclass
class Fetched:
    url: str
    content: bytes
    content_type: str


class _Deadline:
    """One deadline for a whole fetch, enforced by closing its sockets when it passes.

    httpx's timeout bounds each wait (connect, each read), so a server that sends its headers a
    byte at a time never trips it. httpcore reports each new TCP connection through the ``trace``
    request extension (which httpx carries over to every redirect hop); a timer shuts those
    sockets down when the deadline passes, and the blocked read returns at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict) -> None:
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def fetch(url: str, *, timeout_s: float, max_bytes: int, allow_private: bool) -> Fetched:
    """GET ``url`` (following up to five redirects, each hop's address checked) within ``timeout_s``
    and ``max_bytes``.

    ``timeout_s`` bounds each network wait (connect, first byte, next block) and, as one deadline,
    the whole fetch: a server that trickles its headers or its body a byte at a time cannot hold
    the caller longer than that.
    """

    def check_redirect(response: httpx.Response) -> None:  # the next hop, as the server wrote it
        location = response.headers.get("location")
        if response.is_redirect and location:
            check_url(urljoin(str(response.request.url), location), allow_private=allow_private)

    def check_request(request: httpx.Request) -> None:  # every request, as httpx will send it
        check_url(str(request.url), allow_private=allow_private)

    check_url(url, allow_private=allow_private)  # a clear reason before any client is built
    headers = {"User-Agent": "analyst-bot/0.1"}
    got_headers = False
    with (
        _Deadline(timeout_s) as deadline,
        httpx.Client(
            timeout=timeout_s,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers=headers,
            event_hooks={"request": [check_request], "response": [check_redirect]},
        ) as client,
    ):
        try:
            with client.stream("GET", url, extensions={"trace": deadline.trace}) as resp:
                got_headers = True
                if 300 <= resp.status_code < 400:  # httpx followed every redirect that had a location
                    raise BadInput(f"{url}: redirect without a location")
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
                    if deadline.expired:
                        break
                if deadline.expired:
                    raise BadInput(f"{url}: the download did not finish within {timeout_s:g} s")
                return Fetched(str(resp.url), bytes(body), resp.headers.get("content-type", ""))
        except httpx.TooManyRedirects as exc:
            raise BadInput(f"{url}: too many redirects") from exc
        except httpx.InvalidURL as exc:
            raise BadInput(f"{url}: not a valid link ({exc})") from exc
        except httpx.TimeoutException as exc:
            raise BadInput(f"{url}: no answer within {timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            if deadline.expired:
                what = "the download did not finish" if got_headers else "no answer"
                raise BadInput(f"{url}: {what} within {timeout_s:g} s") from exc
            raise BadInput(f"{url}: cannot be fetched ({type(exc).__name__})") from exc
