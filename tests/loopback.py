"""Servers that a test starts itself: bound to 127.0.0.1, waited for, and always stopped.

* :func:`loopback_server`: a real process (``chroma run``, ``python -m llama_cpp.server``);
* :func:`tcp_server`: a raw socket server that hands each connection to the test's function
  (hang up, hold it open, drip bytes...);
* :func:`stub_server`: an in-process HTTP server that answers like an LLM API (OpenAI, Anthropic,
  Ollama) with whatever the test sets in ``reply``, records every request, and can stall or
  drip its answer (timeouts).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tcp_server(handle: Callable[[socket.socket], bool]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 (yields its port); ``handle(conn)`` runs for each connection in the
    accept thread and returns True to keep the connection open until the test ends (closed then),
    False to have it closed at once. Stopped and closed when the block ends."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if handle(conn):
                held.append(conn)
            else:
                conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        srv.close()


@contextlib.contextmanager
def loopback_server(
    cmd: Sequence[str],
    ready_url: str,
    log_path: Path,
    *,
    name: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
    poll_s: float = 0.1,
) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` (a server on 127.0.0.1), wait until GET ``ready_url`` answers 200, and stop it
    when the block ends. A server that exits or stays silent fails the test with its log's tail."""

    def tail() -> str:
        return log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""

    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=os.environ | (env or {}))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{tail()}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer within {timeout_s:g} s:\n{tail()}")
            time.sleep(poll_s)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    stall: bool = False  # hold the request open until the test ends (for timeouts)
    drip_s: float = 0.0  # send the body one byte every drip_s seconds (a server that never quite stops)


@dataclass
class StubServer:
    """ThreadingHTTPServer on 127.0.0.1:<free port>; ``reply(path, request_json) -> Reply``.

    ``reply`` may also take a third argument, the request's headers (lower-case names), e.g. to
    echo them back in an error body as some servers do."""

    reply: Callable[..., Reply] = lambda path, req: Reply(404, {"error": "no reply set"})
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@contextlib.contextmanager
def stub_server() -> Iterator[StubServer]:
    state = StubServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            req = json.loads(raw or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append((self.path, req, headers))
            takes_headers = len(inspect.signature(state.reply).parameters) >= 3
            reply = state.reply(self.path, req, headers) if takes_headers else state.reply(self.path, req)
            if reply.stall:
                state.release.wait(10)
                return
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            ctype = "application/x-ndjson" if self.path.startswith("/api/") else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if reply.drip_s:
                for i in range(len(data)):
                    if state.release.wait(reply.drip_s):
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                return
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
