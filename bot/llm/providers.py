"""LLM providers behind the core's :class:`~bot.core.ports.StructuredLLM`, chosen by a setting.

``build_llm(settings)`` returns one of:

* ``openai``    - OpenAI, or any OpenAI-compatible server via ``llm_base_url`` (vLLM, Ollama's
  ``/v1``, LM Studio, llama.cpp's server);
* ``anthropic`` - Anthropic's API (or a compatible gateway via ``llm_base_url``);
* ``ollama``    - Ollama's native API;
* ``llamacpp``  - a GGUF model run in-process (see :mod:`bot.llm.llamacpp`).

The remote ones bind the schema to the langchain chat model themselves (a forced tool call, or
Ollama's ``format``) and parse the one message that comes back. OpenAI and Anthropic use function calling:
against llama.cpp's server, langchain-openai's ``json_schema`` method fails while a forced tool
call works (the server turns the tool's parameters into a grammar). Ollama uses its native
``format`` (JSON-schema-constrained decoding), which works with every model, not only the ones
trained for tools.

Every call has one deadline, ``llm_timeout_s``: :func:`~bot.llm.common.run_with_deadline` runs it
in a daemon thread and returns (raises LLMTimeout) at the deadline, retries included; the HTTP
client's own timeout (the same value, per read) ends most abandoned calls soon after, and one
that a server keeps alive by dripping its reply never keeps the process from exiting.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from bot.config import Settings, remember_secrets
from bot.core.ports import StructuredLLM
from bot.errors import ConfigError
from bot.llm.common import (
    invalid_output,
    map_remote_error,
    parse_json_answer,
    run_with_deadline,
    shorten,
    strict_json_schema,
    validate_answer,
)

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Method = Literal["function_calling", "json_schema"]

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
OLLAMA_URL = "http://127.0.0.1:11434"
# A call that fails fast (a dropped connection, a 429 or 5xx) is retried once, within the deadline.
MAX_RETRIES = 1


class LangChainLLM:
    """StructuredLLM over a langchain chat model."""

    def __init__(
        self, chat: Any, *, provider: str, model: str, where: str, timeout_s: float, method: Method
    ) -> None:
        self._chat = chat
        self.provider = provider
        self.model = model
        self.where = where
        self.timeout_s = timeout_s
        self.method = method

    @property
    def model_name(self) -> str:
        return f"{self.provider}:{self.model}"

    def generate(self, system: str, prompt: str, schema: type[T]) -> T:
        from langchain_core.messages import HumanMessage, SystemMessage

        # a JSON schema with every property required (see strict_json_schema); the answer comes
        # back as a dict and is validated against the pydantic schema here
        json_schema = strict_json_schema(schema)
        name = str(json_schema.get("title") or schema.__name__)
        if self.method == "function_calling":
            tool = {
                "type": "function",
                "function": {
                    "name": name,
                    "description": json_schema.get("description") or f"Fill in {name}.",
                    "parameters": json_schema,
                },
            }
            runnable = self._chat.bind_tools([tool], tool_choice=name)
        else:
            runnable = self._chat.bind(format=json_schema)
        messages = [SystemMessage(content=system), HumanMessage(content=prompt)]

        # One plain call in run_with_deadline's daemon thread. Not with_structured_output(...,
        # include_raw=True): that is a RunnableParallel, whose worker threads are not daemons, so
        # an abandoned call (a server dripping its reply) kept the process from exiting until
        # the server finished (164 s measured against a 5 s timeout).
        def call() -> Any:
            try:
                return runnable.invoke(messages)
            except Exception as exc:  # mapped to one plain sentence; the detail is logged, redacted
                raise map_remote_error(exc, self.where, self.model) from None

        message = run_with_deadline(call, self.timeout_s, name=f"llm-{self.provider}")
        if self.method == "function_calling":
            calls = getattr(message, "tool_calls", None) or []
            if calls:
                return validate_answer(calls[0].get("args"), schema)
            if getattr(message, "invalid_tool_calls", None):
                raise invalid_output("it was not valid JSON")
            raise invalid_output(_why_nothing_parsed(message))
        content = getattr(message, "content", "")
        if not isinstance(content, str) or not content.strip():
            raise invalid_output(_why_nothing_parsed(message))
        return parse_json_answer(content, schema)


def _why_nothing_parsed(raw: Any) -> str:
    """A short reason when the model answered but not with the structure (no tool call)."""
    meta = getattr(raw, "response_metadata", None) or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason") or meta.get("done_reason")
    if reason in {"length", "max_tokens"}:
        return "it was cut off at the token limit"
    content = getattr(raw, "content", "")
    if isinstance(content, str) and content.strip():
        return shorten(f"it answered in prose instead of the structure: {content.strip()!r}", 160)
    return "it did not fill the structure"


# --- builders -------------------------------------------------------------------------------


def _secret(settings: Settings) -> str | None:
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    return key or None


def _model(settings: Settings, provider: str) -> str:
    model = settings.llm_model.strip()
    if model:
        return model
    if provider in DEFAULT_MODELS and not settings.llm_base_url:
        return DEFAULT_MODELS[provider]
    where = f" on {settings.llm_base_url}" if settings.llm_base_url else ""
    raise ConfigError(f"Set ANALYST_LLM_MODEL to the name of the {provider} model to use{where}.")


def build_openai(settings: Settings) -> LangChainLLM:
    from langchain_openai import ChatOpenAI

    key = _secret(settings)
    if key is None and not settings.llm_base_url:
        raise ConfigError(
            "The openai provider needs ANALYST_LLM_API_KEY (or ANALYST_LLM_BASE_URL for a local server)."
        )
    model = _model(settings, "openai")
    extra: dict[str, Any] = {}
    if settings.llm_base_url:
        # langchain-openai sends only max_completion_tokens, which llama.cpp's server (and older
        # OpenAI-compatible servers) ignore; they all read max_tokens.
        extra["extra_body"] = {"max_tokens": settings.llm_max_tokens}
    chat = ChatOpenAI(
        model=model,
        api_key=key or "not-needed",  # local servers accept any key, the client insists on one
        base_url=settings.llm_base_url,
        timeout=settings.llm_timeout_s,
        max_retries=MAX_RETRIES,
        temperature=settings.llm_temperature,
        max_completion_tokens=settings.llm_max_tokens,
        **extra,
    )
    where = settings.llm_base_url or "api.openai.com"
    return LangChainLLM(
        chat,
        provider="openai",
        model=model,
        where=where,
        timeout_s=settings.llm_timeout_s,
        method="function_calling",
    )


def build_anthropic(settings: Settings) -> LangChainLLM:
    from langchain_anthropic import ChatAnthropic

    key = _secret(settings)
    if key is None and not settings.llm_base_url:
        raise ConfigError("The anthropic provider needs ANALYST_LLM_API_KEY.")
    model = _model(settings, "anthropic")
    kwargs: dict[str, Any] = {}
    if settings.llm_base_url:
        kwargs["base_url"] = settings.llm_base_url
    chat = ChatAnthropic(
        model=model,
        api_key=key or "not-needed",
        timeout=settings.llm_timeout_s,
        max_retries=MAX_RETRIES,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        **kwargs,
    )
    where = settings.llm_base_url or "api.anthropic.com"
    return LangChainLLM(
        chat,
        provider="anthropic",
        model=model,
        where=where,
        timeout_s=settings.llm_timeout_s,
        method="function_calling",
    )


def build_ollama(settings: Settings) -> LangChainLLM:
    from langchain_ollama import ChatOllama

    model = _model(settings, "ollama")
    base_url = settings.llm_base_url or OLLAMA_URL
    headers = {}
    if _secret(settings):  # for an Ollama behind an authenticating proxy
        headers["Authorization"] = f"Bearer {_secret(settings)}"
    chat = ChatOllama(
        model=model,
        base_url=base_url,
        temperature=settings.llm_temperature,
        num_predict=settings.llm_max_tokens,
        client_kwargs={"timeout": settings.llm_timeout_s, "headers": headers},
    )
    return LangChainLLM(
        chat,
        provider="ollama",
        model=model,
        where=base_url,
        timeout_s=settings.llm_timeout_s,
        method="json_schema",
    )


def build_llamacpp(settings: Settings) -> StructuredLLM:
    from bot.llm.llamacpp import LlamaCppLLM
    from bot.llm.model_files import ensure_model

    # the default is the pinned Qwen2.5-Coder-1.5B-Instruct, joined from its wheels and checked
    # (size and SHA-256) before it is loaded; a path of the operator's own is loaded as given
    path = settings.llamacpp_model_path or ensure_model(settings.models_dir)
    return LlamaCppLLM(
        path.expanduser(),
        n_ctx=settings.llamacpp_n_ctx,
        n_threads=settings.llamacpp_threads,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        timeout_s=settings.llm_timeout_s,
    )


BUILDERS = {
    "openai": build_openai,
    "anthropic": build_anthropic,
    "ollama": build_ollama,
    "llamacpp": build_llamacpp,
}


def build_llm(settings: Settings) -> StructuredLLM:
    """The configured provider. ConfigError (at start) for a missing key, model or package."""
    # the key and the URL's password are masked in every log record from here on (httpx logs
    # each request's URL, user-info included; a server's error may echo the headers)
    remember_secrets(settings)
    builder = BUILDERS.get(settings.llm_provider)
    if builder is None:
        raise ConfigError(
            f"Unknown LLM provider {settings.llm_provider!r}; choose one of none, {', '.join(BUILDERS)}."
        )
    try:
        llm = builder(settings)
    except ImportError as exc:
        raise ConfigError(
            f"The {settings.llm_provider} provider needs a package that is not installed ({exc.name})."
        ) from exc
    log.info("LLM provider: %s", llm.model_name)
    return llm


__all__ = ["LangChainLLM", "build_llm"]
