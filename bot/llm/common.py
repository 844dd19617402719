"""What every LLM provider shares: a hard deadline around a call, and short error messages.

An LLMError's ``message`` is a plain sentence that may reach users ("The language model could not
be reached."): no address, no setting name, no server reply. The operator's detail (which server,
which setting to check, what it answered) is in ``detail`` and in the log, redacted by
:mod:`bot.redact` (URL user-info, API keys, echoed headers). An invalid-output message is a short
clause fed back to the model in the repair prompt.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import LLMError, LLMInvalidOutput, LLMTimeout
from bot.redact import redact, redact_url

log = logging.getLogger(__name__)

R = TypeVar("R")
T = TypeVar("T", bound=BaseModel)
MAX_MESSAGE = 220


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def describe_validation_error(exc: ValidationError, limit: int = 2) -> str:
    """Short text such as "trigger.score: Input should be 0, 1, 2, 3 or 4; summary: Field required"."""
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:limit]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "answer"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = f" (+{len(errors) - limit} more)" if len(errors) > limit else ""
    return shorten("; ".join(parts) + more)


def strict_json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """``schema``'s JSON schema with every property required (null and [] stay allowed).

    Grammar-constrained decoders (llama.cpp, Ollama, llama.cpp's server for a forced tool call)
    may skip optional properties, and a small model then never writes a score or a citation;
    OpenAI's strict mode asks for the same shape. The answer is still validated with ``schema``.
    """

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                node["required"] = list(node["properties"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    data = copy.deepcopy(schema.model_json_schema())
    visit(data)
    return data


def parse_json_answer(text: str, schema: type[T]) -> T:
    """Validate a JSON answer against ``schema``; any failure is a short LLMInvalidOutput.

    Control characters inside strings are accepted (``strict=False``): llama.cpp's JSON grammar
    lets a raw newline into a string, and rejecting a whole answer for it helps nobody.
    """
    text = text.strip()
    if not text:
        raise LLMInvalidOutput("the answer was empty")
    try:
        data = json.loads(text, strict=False)
    except json.JSONDecodeError:
        raise invalid_output("it was not valid JSON") from None
    return validate_answer(data, schema)


def validate_answer(data: Any, schema: type[T]) -> T:
    if isinstance(data, schema):
        return data
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise invalid_output(describe_validation_error(exc)) from None


def invalid_output(detail: str) -> LLMInvalidOutput:
    return LLMInvalidOutput(shorten(f"the answer did not fit the required structure ({detail})"))


def timeout_error(timeout_s: float) -> LLMTimeout:
    return LLMTimeout(TIMED_OUT, detail=f"no answer within {timeout_s:g} s")


def run_with_deadline(
    fn: Callable[[], R], timeout_s: float, *, cancel: threading.Event | None = None, name: str = "llm-call"
) -> R:
    """Run ``fn`` in a daemon thread and wait at most ``timeout_s`` for it.

    Client timeouts bound each network read, not a whole call with retries; this bounds the call
    as the caller sees it. On timeout ``cancel`` is set so a cooperative ``fn`` (the in-process
    llama.cpp loop checks it between tokens) stops working instead of running on unseen.
    A daemon thread never keeps the process alive at exit.
    """
    future: Future[R] = Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as-is
            future.set_exception(exc)

    started = time.monotonic()
    threading.Thread(target=target, name=name, daemon=True).start()
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        if cancel is not None:
            cancel.set()
        log.warning("%s: no answer after %.1f s", name, time.monotonic() - started)
        raise timeout_error(timeout_s) from None


# What users may see when the model fails: plain sentences, no address, no setting, no server reply.
UNREACHABLE = "The language model could not be reached."
TIMED_OUT = "The language model did not answer in time."
REFUSED_KEY = "The language model refused the bot's credentials."
NO_MODEL = "The language model is not available on its server."
RATE_LIMITED = "The language model is busy; try again shortly."
REJECTED = "The language model rejected the request."
SERVER_FAILED = "The language model's server failed."
FAILED = "The call to the language model failed."


def remote_error(message: str, detail: str, *, timeout: bool = False) -> LLMError:
    """An LLMError with a plain ``message``; ``detail`` (redacted here) goes to the log."""
    detail = shorten(redact(detail), 400)
    log.warning("LLM call failed: %s", detail)
    return (LLMTimeout if timeout else LLMError)(message, detail=detail)


def map_remote_error(exc: BaseException, where: str, model: str) -> LLMError:
    """Turn an exception from openai / anthropic / ollama / httpx / langchain into an LLMError.

    Its ``message`` is one of the plain sentences above. Its ``detail`` (logged, at WARNING)
    names the server with its user-info masked and the kind of failure; a server's reply is
    included only after :func:`bot.redact.redact` (a 400 may echo the request's headers).
    """
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, ValidationError):
        return invalid_output(describe_validation_error(exc))
    try:
        from langchain_core.exceptions import OutputParserException

        if isinstance(exc, OutputParserException):
            return invalid_output("the structured answer could not be parsed")
    except ImportError:  # pragma: no cover - langchain-core is a dependency
        pass
    at = redact_url(where)
    for module_name in ("openai", "anthropic"):
        try:
            mod = __import__(module_name)
        except ImportError:  # pragma: no cover - both are installed with langchain-openai/-anthropic
            continue
        if isinstance(exc, mod.APITimeoutError):
            return remote_error(TIMED_OUT, f"the LLM server at {at} did not answer in time", timeout=True)
        if isinstance(exc, mod.APIConnectionError):
            return remote_error(UNREACHABLE, f"could not connect to the LLM server at {at}")
        if isinstance(exc, mod.AuthenticationError | mod.PermissionDeniedError):
            return remote_error(
                REFUSED_KEY, f"the LLM server at {at} rejected the API key (check ANALYST_LLM_API_KEY)"
            )
        if isinstance(exc, mod.NotFoundError):
            return remote_error(
                NO_MODEL,
                f"the LLM server at {at} answered 404 for model {model!r} "
                "(check ANALYST_LLM_MODEL and ANALYST_LLM_BASE_URL)",
            )
        if isinstance(exc, mod.RateLimitError):
            return remote_error(RATE_LIMITED, f"the LLM server at {at} is rate-limiting requests")
        if isinstance(exc, mod.BadRequestError):
            return remote_error(
                REJECTED, f"the LLM server at {at} rejected the request: {_server_message(exc)}"
            )
        if isinstance(exc, mod.APIStatusError):
            return remote_error(SERVER_FAILED, f"the LLM server at {at} answered HTTP {exc.status_code}")
    try:
        import ollama

        if isinstance(exc, ollama.ResponseError):
            if exc.status_code in (401, 403):
                return remote_error(
                    REFUSED_KEY, f"Ollama at {at} rejected the request's credentials (check ANALYST_LLM_API_KEY)"
                )
            if exc.status_code == 404:
                return remote_error(NO_MODEL, f"Ollama at {at} does not have model {model!r} (ollama pull {model})")
            if 400 <= exc.status_code < 500:
                return remote_error(REJECTED, f"Ollama at {at} answered HTTP {exc.status_code}: {exc.error}")
            return remote_error(SERVER_FAILED, f"Ollama at {at} answered HTTP {exc.status_code}: {exc.error}")
    except ImportError:  # pragma: no cover
        pass
    import httpx

    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return remote_error(TIMED_OUT, f"the LLM server at {at} did not answer in time", timeout=True)
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return remote_error(UNREACHABLE, f"could not connect to the LLM server at {at} ({type(exc).__name__})")
    log.error("unexpected error from the LLM at %s", at, exc_info=exc)
    return remote_error(FAILED, f"the call to the LLM at {at} failed ({type(exc).__name__}: {exc})")


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)
    return getattr(exc, "message", "") or type(exc).__name__
