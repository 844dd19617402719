"""Prompt templates as files in ``prompts/``, loaded and validated at start.

Each template names its placeholders in ``{braces}``; a template missing a required placeholder,
or using one that nobody fills, is a :class:`ConfigError` when the program starts, not a broken
answer later (as in simonw/llm's templates).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from bot.core.framework import Framework, load_framework
from bot.core.places import Gazetteer, load_gazetteer
from bot.errors import ConfigError

REQUIRED: dict[str, set[str]] = {
    # the LLM judge (bot/core/judge.py): the system prompt and the passages are the same for all
    # of an assessment's questions, so a prompt cache (llama.cpp, OpenAI, Anthropic) reuses them;
    # each question is a short suffix after the passages
    "judge_system": set(),
    "judge_yes_no": {"statement"},
    "judge_quote": {"side"},
    "judge_structured": {"statement"},
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Prompts:
    judge_system: str
    judge_yes_no: str
    judge_quote: str
    judge_structured: str
    framework: Framework
    gazetteer: Gazetteer | None = None  # prompts/places.yaml, loaded and checked at start

    def render(self, name: str, **values: object) -> str:
        template: str = getattr(self, name)
        missing = REQUIRED[name] - values.keys()
        if missing:
            raise ValueError(f"prompt {name!r} needs {sorted(missing)}")
        return template.format(**values)


def load_prompts(directory: Path) -> Prompts:
    texts: dict[str, str] = {}
    for name, required in REQUIRED.items():
        path = directory / f"{name}.md"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigError(f"Prompt file {path} is missing.") from exc
        try:
            found = placeholders(text)
        except ValueError as exc:
            raise ConfigError(f"Prompt file {path} has a malformed placeholder ({exc}).") from exc
        if required - found:
            raise ConfigError(f"Prompt file {path} lacks placeholder(s) {', '.join(sorted(required - found))}.")
        if found - required:
            raise ConfigError(f"Prompt file {path} uses unknown placeholder(s) {', '.join(sorted(found - required))}.")
        texts[name] = text
    framework = load_framework(directory / "framework.yaml")
    return Prompts(framework=framework, gazetteer=load_gazetteer(directory / "places.yaml"), **texts)
