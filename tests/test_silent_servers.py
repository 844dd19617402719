"""A server on 127.0.0.1 that accepts connections and never answers must not hold a command:
Chroma in server mode (chromadb's own client has no timeout at all)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import tcp_server

from bot.app import App
from bot.config import REPO_ROOT
from bot.errors import StoreUnavailable


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts every connection, reads nothing, answers nothing, until the test ends."""
    with tcp_server(lambda conn: True) as port:
        yield port


def test_app_in_server_mode_gives_up_on_a_silent_chroma(settings, silent_server: int) -> None:
    s = settings.model_copy(
        update={"chroma_mode": "http", "chroma_host": "127.0.0.1", "chroma_port": silent_server, "chroma_timeout_s": 0.5}
    )
    t0 = time.monotonic()
    with App(s, build_llm=False) as app, pytest.raises(StoreUnavailable, match="did not answer within 0.5 s"):
        app.store()
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("args", [["corpus", "list"], ["sources", "CSTO troops"], ["ingest", "knowledge/"]])
def test_cli_commands_fail_in_seconds_on_a_silent_chroma(args, silent_server: int, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANALYST_")}
    env |= {
        "ANALYST_DATA_DIR": str(tmp_path / "data"),
        "ANALYST_CHROMA_MODE": "http",
        "ANALYST_CHROMA_HOST": "127.0.0.1",
        "ANALYST_CHROMA_PORT": str(silent_server),
        "ANALYST_CHROMA_TIMEOUT_S": "1",
        "PYTHONPATH": str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
    }
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert "did not answer within 1 s" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"  # start-up included; the wait itself is 1 s
