"""Servers that a test starts itself: bound to 127.0.0.1, waited for, and always stopped.

Used for the real ``chroma run`` and ``python -m llama_cpp.server`` processes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
