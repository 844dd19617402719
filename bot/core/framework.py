"""The five-variable framework, loaded from ``prompts/framework.yaml`` and validated at start."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from bot.core.models import VARIABLES, VariableKey
from bot.errors import ConfigError


class Indicators(BaseModel):
    favours: list[str] = Field(min_length=1)
    against: list[str] = Field(min_length=1)


class Judge(BaseModel):
    """A plain factual statement about the place, its negation, and what "true" means for the score."""

    statement: str
    negation: str
    if_true: Literal["favourable", "unfavourable"]

    @property
    def polarity(self) -> int:
        """+1 when the statement being true favours intervention, -1 when it works against it."""
        return 1 if self.if_true == "favourable" else -1


class VariableSpec(BaseModel):
    key: VariableKey
    name: str  # in the prompts
    label: str = ""  # shown in answers (default: the name)
    short: str = ""  # where room is short, as a chart's legend (default: the label)
    abbrev: str = ""  # a column heading of four or so letters (default: the short form's first four)
    question: str
    anchors: dict[int, str]
    indicators: Indicators
    judge: Judge
    queries: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _anchors_cover_scale(self) -> VariableSpec:
        self.label = self.label or self.name
        self.short = self.short or self.label
        self.abbrev = self.abbrev or self.short[:4].lower()
        if sorted(self.anchors) != [0, 1, 2, 3, 4]:
            raise ValueError(f"{self.key}: anchors must define scores 0, 1, 2, 3 and 4")
        for q in [*self.queries, self.judge.statement, self.judge.negation]:
            if "{subject}" not in q:
                raise ValueError(f"{self.key}: every query needs the {{subject}} placeholder: {q!r}")
        return self


class Framework(BaseModel):
    name: str
    source: str
    variables: list[VariableSpec]

    @model_validator(mode="after")
    def _all_five(self) -> Framework:
        keys = [v.key for v in self.variables]
        if tuple(keys) != VARIABLES:
            raise ValueError(f"variables must be exactly {', '.join(VARIABLES)} in that order, got {keys}")
        return self

    def spec(self, key: VariableKey) -> VariableSpec:
        return next(v for v in self.variables if v.key == key)

    def describe(self) -> str:
        """The framework as text for a prompt: each variable, its question and its score anchors."""
        lines: list[str] = []
        for i, v in enumerate(self.variables, start=1):
            lines.append(f"{i}. {v.key} ({v.name}): {v.question}")
            for score in range(4, -1, -1):
                lines.append(f"   {score} = {v.anchors[score]}")
            lines.append("   Signs that favour intervention: " + "; ".join(v.indicators.favours))
            lines.append("   Signs against: " + "; ".join(v.indicators.against))
        return "\n".join(lines)


def load_framework(path: Path) -> Framework:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Framework.model_validate(data)
    except FileNotFoundError as exc:
        raise ConfigError(f"The framework file {path} is missing.") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"The framework file {path} is invalid: {exc}") from exc


@lru_cache(maxsize=1)
def packaged_framework() -> Framework:
    """The framework that ships with the project, loaded once: the vocabulary of render code that
    has no Prompts object at hand."""
    from bot.config import packaged_dir

    return load_framework(packaged_dir("prompts") / "framework.yaml")


def labels() -> dict[VariableKey, str]:
    """Each variable's label ("Local support", "Political & economic costs"), in framework order."""
    return {v.key: v.label for v in packaged_framework().variables}


def short_labels() -> dict[VariableKey, str]:
    """Each variable's short form ("Costs"), in framework order."""
    return {v.key: v.short for v in packaged_framework().variables}


def abbreviations() -> dict[VariableKey, str]:
    """Each variable's abbreviation ("trig", "supp"), in framework order."""
    return {v.key: v.abbrev for v in packaged_framework().variables}
