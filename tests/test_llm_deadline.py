"""One deadline per LLM call, enforced (issue 12, item 3): the call returns at the timeout and the
process exits without waiting for the abandoned call, even against a server that drips its reply.

Measured before the fix: with a 5 s timeout the process exited at 13.6 s, and 164 s against a
server that dripped its reply (langchain's ``with_structured_output(include_raw=True)`` ran the
call in a non-daemon thread pool, joined at exit).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from loopback import Reply, StubServer, stub_server
from test_llm_local import GOOD_REPLIES

from bot.config import REPO_ROOT

CHILD = """
import sys, time
from pydantic import SecretStr
from bot.config import Settings
from bot.core.judge import judgement_schema
from bot.errors import LLMTimeout
from bot.llm.providers import build_llm

provider, url = sys.argv[1], sys.argv[2]
settings = Settings(_env_file=None, llm_provider=provider, llm_model="stub", llm_base_url=url,
                    llm_api_key=SecretStr("k" * 20), llm_timeout_s=1.0)
llm = build_llm(settings)
t0 = time.monotonic()
try:
    llm.generate("s", "p", judgement_schema(3))
    print("ANSWERED", flush=True)
except LLMTimeout:
    print(f"TIMEOUT {time.monotonic() - t0:.2f}", flush=True)
"""


@pytest.fixture
def dripping() -> Iterator[StubServer]:
    with stub_server() as state:
        yield state


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_a_dripping_server_times_out_on_time_and_does_not_hold_the_exit(
    dripping: StubServer, provider: str
) -> None:
    body = GOOD_REPLIES[provider]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    dripping.reply = lambda path, req: Reply(200, data, drip_s=0.2)  # ~1 KB at 5 bytes/s: minutes
    url = dripping.url + ("/v1" if provider == "openai" else "")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, provider, url],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        returned = time.monotonic()
        code = proc.wait(timeout=30)
        exit_after = time.monotonic() - returned
    finally:
        if proc.poll() is None:
            proc.kill()
    assert line.startswith("TIMEOUT "), (line, proc.stderr.read() if proc.stderr else "")
    assert float(line.split()[1]) < 1.5  # the call returned at its deadline
    assert code == 0 and exit_after < 2.0, f"the process took {exit_after:.1f} s more to exit"
