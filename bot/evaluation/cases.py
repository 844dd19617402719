"""Case files: historical crises with a question, an ``as_of`` date, the real outcome and the
variable calls a careful analyst would have made (format of ``../shared/eval/dev/cases.yaml``).

A case file's documents live in ``<case file's folder>/docs/``; every document there goes into the
evaluation index (the cases' own, the other cases' and any distractors).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from bot.core.models import VariableKey
from bot.errors import BadInput
from bot.evaluation.metrics import Call, Outcome


class Case(BaseModel):
    id: str
    question: str
    as_of: dt.date
    outcome: Outcome
    outcome_note: str = ""
    expected_variables: dict[VariableKey, Call] = Field(default_factory=dict)
    docs: list[str] = Field(default_factory=list)
    sources_for_facts: list[str] = Field(default_factory=list)
    framework_miss: bool = False


class CaseFile(BaseModel):
    path: Path
    docs_dir: Path
    cases: list[Case]

    @property
    def label(self) -> str:
        """"dev-cases" for .../dev/cases.yaml: names the reports."""
        return f"{self.path.parent.name}-{self.path.stem}" if self.path.parent.name else self.path.stem

    def doc_paths(self) -> list[Path]:
        """Every document of the case file (the whole docs/ folder, sorted)."""
        return sorted(p for p in self.docs_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def load_cases(path: Path) -> CaseFile:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such case file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{path}: expected a non-empty list of cases")
    try:
        cases = [Case.model_validate(item) for item in raw]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise BadInput(f"{path}: invalid case ({where}: {first['msg']})") from exc
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise BadInput(f"{path}: duplicate case ids")
    docs_dir = path.parent / "docs"
    if not docs_dir.is_dir():
        raise BadInput(f"{path}: no docs/ folder next to the case file")
    missing = [f"{c.id}:{d}" for c in cases for d in c.docs if not (docs_dir / d).is_file()]
    if missing:
        raise BadInput(f"{path}: documents listed but not in docs/: {', '.join(missing[:5])}")
    return CaseFile(path=path.resolve(), docs_dir=docs_dir.resolve(), cases=cases)
