"""The one family of errors whose messages are written for the user.

Anything raised as a :class:`UserError` may be shown as-is (one sentence, no traceback).
Every other exception is a bug or an outage: it is logged with its traceback and the user
gets a short generic message instead.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is safe and useful to show to the person who asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class BadQuestion(UserError):
    """The question is empty, too long or not about a possible intervention."""


class BadInput(UserError):
    """A file or URL given for ingestion cannot be used (one-line reason)."""


class StoreUnavailable(UserError):
    """The vector store or lexical index cannot be reached or opened."""


class EmbeddingMismatch(UserError):
    """A collection was built with a different embedding model than the one configured."""


class LLMError(UserError):
    """The language model failed, timed out or kept answering with invalid output.

    ``message`` is a plain sentence with no address, setting name or server reply in it;
    ``detail`` is what the operator needs (already redacted: see :mod:`bot.redact`), for the log.
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


class ConfigError(UserError):
    """A setting or a prompt file is missing or invalid (raised at start)."""


class LLMTimeout(LLMError):
    """The language model did not answer within the configured timeout."""


class LLMInvalidOutput(LLMError):
    """The language model's answer did not fit the required structure."""
