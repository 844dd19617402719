"""LLM providers behind the core's StructuredLLM interface (filled in by the providers module)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from bot.core.ports import StructuredLLM


def build_llm(settings: Settings) -> StructuredLLM:
    from bot.llm.providers import build_llm as _build

    return _build(settings)
