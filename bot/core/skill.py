"""Which engines may show a likelihood: only those whose figures on held-out case files beat the
best constant forecast (``prompts/skill.yaml``, written from ``analyst eval`` reports).

An analyst acts on a number, so a number that does not beat "always say the base rate" is worse
than none. An engine that is not listed, or whose record does not beat the constant on every
held-out case file it was run on, shows the evidence for and against each variable instead, and
the answer says why.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from bot.errors import ConfigError

NO_SKILL_NOTE = (
    "No likelihood is shown: on held-out case files this engine's numbers have not beaten "
    "always saying 50 %, so the evidence for and against each variable is shown instead."
)
NO_EVIDENCE_NOTE = "No likelihood is shown: the corpus holds no checked evidence on this question."


class SkillRecord(BaseModel):
    """One engine's figures on one case file (from an ``analyst eval`` report)."""

    case_file: str
    held_out: bool  # True when nothing about the engine was tuned on this case file
    cases: int = Field(ge=1)
    brier: float
    brier_constant: float  # the best constant forecast's Brier on the same cases
    auc: float | None = None
    date: str = ""

    @property
    def beats_constant(self) -> bool:
        return self.brier < self.brier_constant and (self.auc is None or self.auc > 0.5)


class SkillFile(BaseModel):
    engines: dict[str, list[SkillRecord]] = Field(default_factory=dict)

    def has_skill(self, engine_key: str) -> bool:
        """True only when the engine has a held-out record and beats the constant on every one."""
        held_out = [r for r in self.engines.get(engine_key, []) if r.held_out]
        return bool(held_out) and all(r.beats_constant for r in held_out)


def engine_key(engine: str, model: str) -> str:
    """"indicators" for the indicator engine, else the model's name ("llamacpp:qwen2.5-...gguf")."""
    return "indicators" if engine == "indicators" else model


def load_skill(path: Path) -> SkillFile:
    if not path.exists():
        return SkillFile()
    try:
        return SkillFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"The skill file {path.name} is invalid: {exc}") from exc
