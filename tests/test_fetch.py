"""Fetching links for ingestion: scheme and address checks, timeout, size cap, redirects.

Refusals of private and public ranges are tested by *classifying* addresses (no connection is made to
them). Real fetches go to a small ``http.server`` on 127.0.0.1 that this module starts and stops.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.corpus.fetch import address_is_public, check_url, fetch
from bot.errors import BadInput
from bot.ingest import ingest_items, is_url

# --------------------------------------------------------------------------------------------
# address classification (no connection)

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above it
    "172.15.255.255",
    "172.32.0.0",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82a::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "2002:808:808::1",  # 6to4 of a public address
    "64:ff9b::808:808",  # NAT64 of a public address
]
NOT_PUBLIC = [
    # loopback
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    # private
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    # link-local, including the cloud metadata address
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "fe80::1%eth0",
    # carrier-grade NAT
    "100.64.0.1",
    "100.127.255.254",
    # unspecified, "this network", multicast, broadcast, reserved, documentation, benchmarking
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.0.1",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",
    "2001:db8::1",
    # IPv6 local ranges
    "fc00::1",
    "fd12:3456:789a::1",
    "fec0::1",  # site-local (deprecated)
    # IPv6 forms that lead to a private IPv4 address
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:100.64.0.1",
    "::ffff:192.168.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "::7f00:1",  # IPv4-compatible (deprecated)
]


@pytest.mark.parametrize("addr", PUBLIC)
def test_public_addresses(addr):
    assert address_is_public(addr) is True


@pytest.mark.parametrize("addr", NOT_PUBLIC)
def test_local_and_private_addresses(addr):
    assert address_is_public(addr) is False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8000/admin",
        "http://localhost/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.1.2.3/internal",
        "https://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/",
        "http://[fd00::1]/",
        "http://[fe80::1%25eth0]/",
        "http://0.0.0.0:9000/",
        "http://2130706433/",  # 127.0.0.1 written as one number
        "http://0x7f.0.0.1/",  # ... and in hex
    ],
)
def test_check_url_refuses_local_addresses(url):
    with pytest.raises(BadInput, match="private or local address|cannot be resolved") as err:
        check_url(url, allow_private=False)
    assert "\n" not in err.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file.txt",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:,hi",
    ],
)
def test_check_url_refuses_other_schemes(url):
    for allow in (False, True):
        with pytest.raises(BadInput, match="only http and https"):
            check_url(url, allow_private=allow)


def test_check_url_needs_a_host():
    with pytest.raises(BadInput, match="no host"):
        check_url("http:///path-only", allow_private=True)


def test_check_url_allows_literal_public_address_and_local_when_allowed():
    check_url("http://8.8.8.8/", allow_private=False)  # a literal: classified without any lookup
    check_url("http://[2606:4700:4700::1111]/", allow_private=False)
    check_url("http://127.0.0.1:1/", allow_private=True)


def test_is_url():
    assert is_url("https://example.com/a") and is_url("ftp://example.com/a") and is_url("file:///etc/passwd")
    assert not is_url("knowledge/kaz.md") and not is_url("/abs/path.md") and not is_url("notes:2022.md")


# --------------------------------------------------------------------------------------------
# a real server on 127.0.0.1

ARTICLE = b"""<!doctype html><html><head><title>Transnistria garrison | Local Wire</title>
<meta name="date" content="2024-02-28"></head><body>
<nav><a href="/">Home</a> <a href="/sub">Subscribe now</a></nav>
<article><h1>Transnistria garrison</h1>
<p>The Operational Group of Russian Forces in Transnistria still guards the Cobasna ammunition depot,
one of the largest in Europe, with about 1,500 soldiers according to Moldovan officials.</p>
<p>Tiraspol asked Moscow for protection on 28 February, citing economic pressure from Chisinau,
but the Kremlin answered only that the protection of residents was a priority.</p>
</article><footer>Copyright Local Wire. Cookie settings.</footer></body></html>"""


class Handler(BaseHTTPRequestHandler):
    stop: threading.Event
    hits: list[str]

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def _send(
        self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8", length: bool = True
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        path = self.path
        try:
            if path == "/article.html":
                self._send(200, ARTICLE)
            elif path == "/plain.txt":
                self._send(
                    200, b"Cobasna note\n\nThe depot at Cobasna holds about 20,000 tonnes.\n", "text/plain"
                )
            elif path == "/slow":  # no answer at all for a long time
                self.stop.wait(10)
                self._send(200, ARTICLE)
            elif path == "/trickle":  # headers at once, then one byte every 0.1 s
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                for i in range(100):
                    if self.stop.wait(0.1):
                        break
                    self.wfile.write(ARTICLE[i : i + 1])
                    self.wfile.flush()
            elif path == "/drip-headers":  # the status line and headers one byte every 0.1 s
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"x" * 60 + b"\r\n\r\n"
                for i in range(len(head)):
                    if self.stop.wait(0.1):
                        break
                    self.wfile.write(head[i : i + 1])
                    self.wfile.flush()
                self.close_connection = True
            elif path == "/big-declared":
                self._send(200, b"x" * 10_000, "text/plain")
            elif path == "/big-streamed":  # no Content-Length: the cap must hold while reading
                self._send(200, b"<p>" + b"word " * 4_000 + b"</p>", length=False)
            elif path == "/to-article":
                self.send_response(302)
                self.send_header("Location", "/article.html")
                self.end_headers()
            elif path == "/to-trickle":
                self.send_response(302)
                self.send_header("Location", "/trickle")
                self.end_headers()
            elif path == "/to-file":
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.end_headers()
            elif path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.end_headers()
            elif path == "/binary":
                self._send(200, b"\x00\x01\x02" * 100, "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout or size cap): expected


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    stop = threading.Event()
    hits: list[str] = []
    handler = type("TestHandler", (Handler,), {"stop": stop, "hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def local(settings):
    """Settings that allow fetching from this machine, with short limits."""
    return settings.model_copy(
        update={"fetch_allow_private": True, "fetch_timeout_s": 0.5, "fetch_max_bytes": 5_000}
    )


def test_html_page_is_fetched_and_ingested(server, local, store):
    base, _ = server
    [o] = ingest_items(store, [f"{base}/article.html"], local)
    assert o.status == "added", o.reason
    assert o.name == f"{base}/article.html"
    [info] = store.documents()
    assert info.title == "Transnistria garrison"
    assert info.url == f"{base}/article.html"
    assert info.origin == f"{base}/article.html"
    [top] = store.search("Cobasna ammunition depot soldiers", k=1)
    assert "Operational Group of Russian Forces" in top.text
    assert top.url == f"{base}/article.html" and top.date is not None and top.date.isoformat() == "2024-02-28"
    for p in store.search("Home Subscribe Copyright Cookie", k=5):
        assert "Subscribe" not in p.text and "Cookie" not in p.text
    # the same link again: unchanged
    assert ingest_items(store, [f"{base}/article.html"], local)[0].status == "skipped"


def test_plain_text_and_redirect_are_followed(server, local, store):
    base, _ = server
    got = fetch(f"{base}/to-article", timeout_s=2, max_bytes=100_000, allow_private=True)
    assert got.url == f"{base}/article.html" and got.content == ARTICLE
    [o] = ingest_items(store, [f"{base}/plain.txt"], local)
    assert o.status == "added", o.reason
    assert store.documents()[0].title == "Cobasna note"


def test_slow_server_times_out(server, local, store):
    base, _ = server
    [o] = ingest_items(store, [f"{base}/slow"], local)
    assert o.status == "failed"
    assert o.reason == f"{base}/slow: no answer within 0.5 s"


def test_trickling_server_hits_the_overall_deadline(server, local, store):
    base, _ = server
    [o] = ingest_items(store, [f"{base}/trickle"], local)
    assert o.status == "failed"
    assert o.reason == f"{base}/trickle: the download did not finish within 0.5 s"


def test_server_dripping_its_headers_hits_the_overall_deadline(server, local, store):
    # each byte arrives well within the read timeout: only one deadline for the whole fetch stops it
    base, _ = server
    t0 = time.monotonic()
    [o] = ingest_items(store, [f"{base}/drip-headers"], local)
    elapsed = time.monotonic() - t0
    assert o.status == "failed"
    assert o.reason == f"{base}/drip-headers: no answer within 0.5 s"
    assert elapsed < 2.0, f"held for {elapsed:.1f} s against a 0.5 s timeout"


def test_redirect_hops_share_the_one_deadline(server, local):
    # a redirect to a trickling body: the deadline runs from the first request, not per hop
    base, _ = server
    t0 = time.monotonic()
    with pytest.raises(BadInput, match="did not finish within 0.5 s"):
        fetch(f"{base}/to-trickle", timeout_s=0.5, max_bytes=100_000, allow_private=True)
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize(
    "url",
    ["http://example.com:99999/", "http://example.com:port/", "http://[::1/"],
)
def test_malformed_links_get_a_reason(url, settings, store):
    [o] = ingest_items(store, [url], settings)
    assert o.status == "failed"
    assert o.reason.startswith(f"{url}: not a valid link"), o.reason


def test_declared_oversized_body_is_refused(server, local, store):
    base, _ = server
    [o] = ingest_items(store, [f"{base}/big-declared"], local)
    assert o.status == "failed"
    assert o.reason == f"{base}/big-declared: too large (10,000 bytes; the limit is 5,000)"


def test_streamed_oversized_body_is_refused(server, local, store):
    base, _ = server
    [o] = ingest_items(store, [f"{base}/big-streamed"], local)
    assert o.status == "failed"
    assert o.reason == f"{base}/big-streamed: too large (over 5,000 bytes)"


def test_redirect_to_another_scheme_is_refused(server, local):
    base, _ = server
    with pytest.raises(BadInput, match="file:///etc/passwd: only http and https"):
        fetch(f"{base}/to-file", timeout_s=2, max_bytes=5_000, allow_private=True)


def test_redirect_loop_is_cut(server):
    base, hits = server
    before = len(hits)
    with pytest.raises(BadInput, match="too many redirects"):
        fetch(f"{base}/loop", timeout_s=2, max_bytes=5_000, allow_private=True)
    assert len(hits) - before == 6  # the first request and five redirects


def test_http_errors_and_content_types(server, local, store):
    base, _ = server
    outcomes = ingest_items(store, [f"{base}/missing", f"{base}/binary", f"{base}/article.html"], local)
    assert [o.status for o in outcomes] == ["failed", "failed", "added"]
    assert outcomes[0].reason == f"{base}/missing: the server answered HTTP 404"
    assert outcomes[1].reason == f"{base}/binary: unsupported content type application/octet-stream"


def test_local_url_refused_before_connecting_when_private_not_allowed(server, settings, store):
    base, hits = server
    assert settings.fetch_allow_private is False
    before = list(hits)
    outcomes = ingest_items(
        store, [f"{base}/article.html", f"http://localhost:{base.rsplit(':', 1)[1]}/article.html"], settings
    )
    assert all(o.status == "failed" for o in outcomes)
    assert "refused, 127.0.0.1 points at a private or local address (127.0.0.1)" in outcomes[0].reason
    assert "refused, localhost points at a private or local address" in outcomes[1].reason
    assert hits == before  # the server never saw a request
    assert store.count() == 0


@pytest.mark.parametrize(
    "url", ["ftp://example.com/report.txt", "file:///etc/passwd", "gopher://example.com/"]
)
def test_non_http_links_are_refused_in_a_batch(url, settings, store, tmp_path, write_doc):
    good = write_doc(
        tmp_path, "good.md", "Russian troops guard the Cobasna depot.", title="Good", date="2024-01-01"
    )
    outcomes = ingest_items(store, [url, str(good)], settings)
    assert [o.status for o in outcomes] == ["failed", "added"]
    assert outcomes[0].reason == f"{url}: only http and https links can be fetched"


def test_nothing_listening_is_a_clear_failure(local, store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [o] = ingest_items(store, [f"http://127.0.0.1:{port}/x.html"], local)
    assert o.status == "failed"
    assert o.reason == f"http://127.0.0.1:{port}/x.html: cannot be fetched (ConnectError)"


def test_server_fixture_is_alive_after_slow_requests(server):
    # the slow handlers above must not have wedged the server for the other tests
    base, _ = server
    got = fetch(f"{base}/article.html", timeout_s=5, max_bytes=100_000, allow_private=True)
    assert got.content == ARTICLE and got.content_type.startswith("text/html")
