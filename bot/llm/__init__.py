"""LLM providers behind the core's StructuredLLM interface (filled in by the providers module)."""

from __future__ import annotations

from bot.config import Settings


def build_llm(settings: Settings):
    from bot.llm.providers import build_llm as _build

    return _build(settings)
