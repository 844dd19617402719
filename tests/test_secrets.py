"""No secret and no internal detail in anything users see, and none in the log (issue 10, item 1).

Every provider error path (openai-compatible, anthropic, ollama: a 400 that echoes the request's
headers, a rejected key, a server error, a server that never answers, nothing listening) is run
with a credential in the LLM URL and an API key, against a stub server on 127.0.0.1. Then
everything is searched for the secrets: what the bot sent to Discord (simcord's requests), what
``analyst ask`` printed (text and --json), the logs (caplog) and the stored history.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from discord_helpers import guild_with_members, make_bot, running, shared_app
from loopback import Reply, StubServer, free_port, stub_server
from pydantic import SecretStr
from typer.testing import CliRunner

from bot import redact
from bot.app import App
from bot.config import REPO_ROOT, Settings
from bot.errors import LLMError
from bot.llm.providers import build_llm

KEY = "sk-live-Zq8vN3pLkT0-DO-NOT-LEAK"
USER, PASSWORD = "ops-analyst", "hunter2-PW-7731"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (KEY, PASSWORD, USER, BASIC, KEY[:16])
INTERNALS = ("ANALYST_", "127.0.0.1", "http://", "Traceback", "HTTP 4", "HTTP 5")
UNAVAILABLE = "The language model is unavailable; this answer is based on the evidence alone."
QUESTION = "Will Russia send troops into Kazakhstan?"
SEED = REPO_ROOT / "knowledge" / "kazakhstan-2022-csto-deployment.md"
PROVIDERS = ("openai", "anthropic", "ollama")
FAILURES = ("echo-400", "rejected-401", "error-500", "stall", "refused")


def echo_headers(status: int, provider: str):
    """A server whose error body repeats the request's headers (some proxies and servers do)."""

    def reply(path: str, req: dict[str, Any], headers: dict[str, str]) -> Reply:
        message = f"bad request; you sent {headers}"
        body = {"error": message} if provider == "ollama" else {"error": {"message": message, "type": "x"}}
        return Reply(status, body)

    return reply


def llm_settings(settings: Settings, provider: str, failure: str, stub: StubServer) -> Settings:
    host = stub.url.removeprefix("http://") if failure != "refused" else f"127.0.0.1:{free_port()}"
    base = f"http://{USER}:{PASSWORD}@{host}" + ("/v1" if provider == "openai" else "")
    stub.reply = {
        "echo-400": echo_headers(400, provider),
        "rejected-401": echo_headers(401, provider),
        "error-500": echo_headers(500, provider),
        "stall": lambda path, req: Reply(stall=True),
        "refused": lambda path, req: Reply(500, {}),
    }[failure]
    return settings.model_copy(
        update={
            "llm_provider": provider,
            "llm_model": "stub-model",
            "llm_base_url": base,
            "llm_api_key": SecretStr(KEY),
            "llm_timeout_s": 1.0,
            "assessment_passages": 4,
        }
    )


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with stub_server() as state:
        yield state


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    redact.forget_all()


def assert_clean(text: str, where: str, *, internals: bool = True) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"
    if internals:
        for detail in INTERNALS:
            assert detail not in text, f"{detail!r} (an internal detail) reached {where}"


# --- the LLM layer itself -------------------------------------------------------------------------


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_provider_error_is_a_plain_sentence_and_its_detail_is_redacted(
    settings: Settings, stub: StubServer, provider: str, failure: str, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = llm_settings(settings, provider, failure, stub)
    # the LLM alone, as the worst case: no App has registered the secrets (patterns must do)
    with pytest.raises(LLMError) as err:
        build_llm(cfg).generate("system", "prompt", dict_schema())
    if failure in ("echo-400", "rejected-401"):
        assert stub.requests and stub.requests[0][2].get("authorization", stub.requests[0][2].get("x-api-key"))
    assert err.value.message.startswith("The language model") and err.value.message.endswith(".")
    assert_clean(err.value.message, "the user-facing message")
    assert_clean(str(err.value), "str(error)")
    assert_clean(err.value.detail, "the logged detail", internals=False)
    assert_clean(caplog.text, "the log", internals=False)


def dict_schema():
    from bot.core.judge import judgement_schema

    return judgement_schema(3)


# --- the CLI --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with one starter document indexed (through the CLI, once)."""
    from bot.cli import app

    data = tmp_path_factory.mktemp("secrets-data")
    result = CliRunner().invoke(app, ["ingest", str(SEED)], env={"ANALYST_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    return data


def cli_env(cfg: Settings, data: Path) -> dict[str, str]:
    return {
        "ANALYST_DATA_DIR": str(data),
        "ANALYST_LLM_PROVIDER": cfg.llm_provider,
        "ANALYST_LLM_MODEL": cfg.llm_model,
        "ANALYST_LLM_BASE_URL": cfg.llm_base_url or "",
        "ANALYST_LLM_API_KEY": KEY,
        "ANALYST_LLM_TIMEOUT_S": "1",
        "ANALYST_ASSESSMENT_PASSAGES": "4",
    }


@pytest.mark.parametrize("failure", ["echo-400", "stall"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_cli_answer_and_its_json_carry_no_secret(
    settings: Settings, stub: StubServer, corpus_dir: Path, provider: str, failure: str, caplog, monkeypatch
) -> None:
    from bot.cli import app

    monkeypatch.chdir(corpus_dir)  # no .env here
    caplog.set_level(logging.INFO)
    env = cli_env(llm_settings(settings, provider, failure, stub), corpus_dir)
    for args in (["ask", QUESTION], ["ask", QUESTION, "--json"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert_clean(result.output, f"`analyst {' '.join(args)}`")
        assert "The language model is unavailable" in " ".join(result.output.split())
    assert stub.requests or failure == "refused"
    assert_clean(caplog.text, "the log", internals=False)


# --- Discord --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared():
    return shared_app()


@pytest.mark.parametrize("failure", ["echo-400", "rejected-401", "stall", "refused"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_nothing_sent_to_discord_stored_or_logged_carries_a_secret(
    shared, stub: StubServer, provider: str, failure: str, caplog, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = llm_settings(shared.settings.model_copy(update={"data_dir": tmp_path}), provider, failure, stub)
    app = App(cfg)  # what `analyst serve` builds: the configured provider, the secrets registered
    try:
        bot = make_bot(shared, app=app, seed_paths=[SEED], data_dir=tmp_path)
        async with running(bot) as env:
            _, channel, (alice,) = guild_with_members(env, 910_000_000_000_000_071)
            result = await alice.slash(channel, "assess", question=QUESTION)
            main = result.response.embeds[0]
            assert UNAVAILABLE in main.description
            passages = await alice.click(result.response.message, label="Show passages")
            assert passages.response.embeds
            sent = json.dumps([r.json for r in env.http_requests], default=str)
            assert_clean(sent, "what the bot sent to Discord")
            stored = bot.history.get(1, guild_id=910_000_000_000_000_071)
            assert_clean(stored.assessment.model_dump_json(), "the stored history")
        if failure != "refused":
            assert stub.requests, "the LLM was called"
        assert_clean(caplog.text, "the log", internals=False)
    finally:
        app.close()


# --- the redaction itself -------------------------------------------------------------------------


def test_redact_masks_user_info_keys_and_echoed_headers() -> None:
    redact.remember("my-registered-token-123")
    text = (
        "GET http://bob:pa55word@host:8080/v1?api_key=abc123&x=1 failed; "
        "{'authorization': 'Bearer sk-abcdef1234567890', 'x-api-key': 'k-999999'} "
        "Authorization: Basic Ym9iOnBhNTV3b3Jk token=my-registered-token-123"
    )
    out = redact.redact(text)
    for secret in ("pa55word", "bob:", "sk-abcdef1234567890", "k-999999", "Ym9iOnBhNTV3b3Jk", "my-registered-token-123"):
        assert secret not in out, out
    assert "host:8080/v1" in out  # the rest stays readable
    assert redact.redact_url("https://u:p@example.org/v1?token=t&q=2") == "https://***@example.org/v1?token=***&q=2"


def test_every_log_record_is_redacted_once_installed(caplog) -> None:
    redact.install()
    redact.remember("another-secret-value")
    caplog.set_level(logging.INFO)
    log = logging.getLogger("bot.test")
    log.info("connecting to %s with %s", "http://a:b-secret@h/v1", "another-secret-value")
    try:
        raise RuntimeError("server said: Authorization: Bearer sk-zzzzzzzzzzzz")
    except RuntimeError:
        log.exception("failed")
    assert "b-secret" not in caplog.text and "another-secret-value" not in caplog.text
    assert "sk-zzzzzzzzzzzz" not in caplog.text and "RuntimeError" in caplog.text
