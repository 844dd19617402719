"""What every LLM provider shares: a hard deadline around a call, and short error messages.

The pipeline shows an LLM failure to the user inside a note ("The LLM failed (<message>); this
answer is indicator-based.") and feeds an invalid-output message back to the model in the repair
prompt, so every message here is a short lower-case clause with no traceback and no secret.
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
    return LLMTimeout(f"no answer within {timeout_s:g} s")


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


def map_remote_error(exc: BaseException, where: str, model: str) -> LLMError:
    """Turn an exception from openai / anthropic / ollama / httpx / langchain into an LLMError.

    The message names the server (``where``) and the kind of failure; it never includes the API
    key or the server's full reply (an auth error's body may echo part of the key).
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
    for module_name in ("openai", "anthropic"):
        try:
            mod = __import__(module_name)
        except ImportError:  # pragma: no cover - both are installed with langchain-openai/-anthropic
            continue
        if isinstance(exc, mod.APITimeoutError):
            return LLMTimeout(f"the LLM server at {where} did not answer in time")
        if isinstance(exc, mod.APIConnectionError):
            return LLMError(f"could not connect to the LLM server at {where}")
        if isinstance(exc, mod.AuthenticationError | mod.PermissionDeniedError):
            return LLMError(f"the LLM server at {where} rejected the API key (check ANALYST_LLM_API_KEY)")
        if isinstance(exc, mod.NotFoundError):
            return LLMError(
                f"the LLM server at {where} answered 404 for model {model!r} "
                "(check ANALYST_LLM_MODEL and ANALYST_LLM_BASE_URL)"
            )
        if isinstance(exc, mod.RateLimitError):
            return LLMError(f"the LLM server at {where} is rate-limiting requests; try again shortly")
        if isinstance(exc, mod.BadRequestError):
            return LLMError(
                shorten(f"the LLM server at {where} rejected the request: {_server_message(exc)}")
            )
        if isinstance(exc, mod.APIStatusError):
            return LLMError(f"the LLM server at {where} answered HTTP {exc.status_code}")
    try:
        import ollama

        if isinstance(exc, ollama.ResponseError):
            if exc.status_code in (401, 403):
                return LLMError(
                    f"Ollama at {where} rejected the request's credentials (check ANALYST_LLM_API_KEY)"
                )
            if exc.status_code == 404:
                return LLMError(f"Ollama at {where} does not have model {model!r} (run: ollama pull {model})")
            return LLMError(shorten(f"Ollama at {where} answered HTTP {exc.status_code}: {exc.error}"))
    except ImportError:  # pragma: no cover
        pass
    import httpx

    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return LLMTimeout(f"the LLM server at {where} did not answer in time")
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return LLMError(f"could not connect to the LLM server at {where}")
    log.error("unexpected error from the LLM at %s", where, exc_info=exc)
    return LLMError(f"the call to the LLM at {where} failed ({type(exc).__name__})")


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)
    return getattr(exc, "message", "") or type(exc).__name__
