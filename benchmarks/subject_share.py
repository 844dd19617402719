"""Share of cited passages that are about the question's subject, on a case file (issue 9 item 4).

Two ways to get the cited passages:

* by running the engine (the default): the case file's documents are indexed into a temporary
  store, as ``analyst eval`` does, and every case is assessed as of its date with the chosen engine
  (default: indicators; never an LLM unless ``--engine llm``). Passage level: each passage an
  assessment cites is checked.
* ``--report FILE``: from the JSON report ``analyst eval`` writes (``reports/eval-<label>.json``).
  That report names only the cited *documents* of each case (``passages_cited_docs``), not the
  passages, so the figures are document level: a cited document counts as about the subject when
  its text names it, and the own-case share is the share of cited documents that are the case's own.

"About" is :func:`bot.core.relevance.is_about` with the subject :func:`bot.core.subject.extract_subject`
reads from the case's question: the passage names the subject or one of its aliases, or a place inside
it ("strict"), or also the place the question names as containing it ("broad": Georgia for "Georgia
over South Ossetia"). "own" is the share of cited passages from the case's own documents, which
needs no subject at all.

    .venv/bin/python benchmarks/subject_share.py [CASES] [--engine indicators] [--report FILE] [--json OUT]

CASES defaults to ../shared/eval/dev/cases.yaml next to the repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.models import Passage  # noqa: E402
from bot.core.relevance import is_about  # noqa: E402
from bot.core.subject import Subject, extract_subject  # noqa: E402
from bot.evaluation.cases import CaseFile, load_cases  # noqa: E402

DEFAULT_CASES = ROOT.parent / "shared" / "eval" / "dev" / "cases.yaml"


@dataclass
class CaseShare:
    id: str
    question: str
    subject: str | None
    cited: int = 0
    about_strict: int = 0
    about_broad: int = 0
    own: int = 0
    off_subject: list[str] = field(default_factory=list)  # doc ids of cited passages not about it
    retrieved: int = 0  # every passage any retrieval call returned (engine mode only)
    retrieved_about: int = 0

    def share(self, n: int) -> float | None:
        return n / self.cited if self.cited else None


def _score(share: CaseShare, subject: Subject | None, cited: list[Passage], own_docs: set[str]) -> CaseShare:
    share.cited = len(cited)
    for p in cited:
        strict = is_about(p, subject, strict=True)
        broad = is_about(p, subject)
        share.about_strict += strict
        share.about_broad += broad
        share.own += p.doc_id in own_docs
        if not broad:
            share.off_subject.append(p.doc_id)
    return share


def by_running(case_file: CaseFile, engine: str) -> list[CaseShare]:
    from bot.app import App
    from bot.config import Settings
    from bot.evaluation.runner import AuditRetriever
    from bot.ingest import ingest_items

    tmp = Path(tempfile.mkdtemp(prefix="analyst-subject-share-"))
    settings = Settings().model_copy(
        update={"data_dir": tmp, "collection": "share", "chroma_mode": "embedded", "history_url": None}
    )
    app = App(settings, build_llm=engine != "indicators")
    out: list[CaseShare] = []
    try:
        ingest_items(app.store("share"), [str(p) for p in case_file.doc_paths()], settings)
        for case in case_file.cases:
            subject = extract_subject(case.question)
            audit = AuditRetriever(app.retriever("share"), case.as_of)
            a = app.assessor.assess(case.question, audit, as_of=case.as_of, engine=engine)  # type: ignore[arg-type]
            cited = [a.passages[n - 1] for n in a.cited_passage_numbers() if n <= len(a.passages)]
            own = {Path(d).stem for d in case.docs}
            row = _score(CaseShare(case.id, case.question, subject.name if subject else None), subject, cited, own)
            row.retrieved = len(audit.seen)
            row.retrieved_about = sum(is_about(p, subject, strict=True) for p in audit.seen.values())
            out.append(row)
    finally:
        app.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def from_report(case_file: CaseFile, report_path: Path) -> list[CaseShare]:
    """Document level, from an ``analyst eval`` JSON report: each cited document read from docs/."""
    import yaml

    report = json.loads(report_path.read_text(encoding="utf-8"))
    cases = {c.id: c for c in case_file.cases}
    docs = {p.stem: p for p in case_file.doc_paths()}
    out: list[CaseShare] = []
    for r in report["results"]:
        case = cases.get(r["id"])
        if case is None or r.get("error"):
            continue
        subject = extract_subject(case.question)
        cited: list[Passage] = []
        for doc_id in r.get("passages_cited_docs", []):
            path = docs.get(doc_id)
            text = path.read_text(encoding="utf-8") if path else ""
            title = doc_id
            if text.startswith("---"):
                _, front, text = text.split("---", 2)
                title = str((yaml.safe_load(front) or {}).get("title", doc_id))
            cited.append(Passage(id=doc_id, doc_id=doc_id, title=title, text=text, date=None))
        own = {Path(d).stem for d in case.docs}
        out.append(_score(CaseShare(case.id, case.question, subject.name if subject else None), subject, cited, own))
    return out


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:5.1f} %" if d else "  n/a"


def render(rows: list[CaseShare], unit: str) -> str:
    lines = [
        f"{'case':<12} {'subject':<18} {unit + 's cited':>16} {'about (strict)':>15} {'about (broad)':>14} "
        f"{'own case':>9} {'retrieved':>10} {'about':>8}"
    ]

    def line(name: str, subject: str, rs: list[CaseShare]) -> str:
        n, m = sum(r.cited for r in rs), sum(r.retrieved for r in rs)
        return (
            f"{name:<12} {subject:<18} {n:>16} {_pct(sum(r.about_strict for r in rs), n):>15} "
            f"{_pct(sum(r.about_broad for r in rs), n):>14} {_pct(sum(r.own for r in rs), n):>9} "
            f"{(m or '-'):>10} {_pct(sum(r.retrieved_about for r in rs), m) if m else '-':>8}"
        )

    lines += [line(r.id, r.subject or "-", [r]) for r in rows]
    lines.append(line("all", "", rows))
    lines.append(
        "about: the passage names the subject, an alias or a place inside it (strict), or also the place the "
        "question names as containing it (broad); own case: from the case's own documents; retrieved: every "
        "passage any retrieval call returned, and the share of those about the subject (strict)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES, help="case file (default: %(default)s)")
    ap.add_argument("--engine", choices=["indicators", "llm", "auto"], default="indicators")
    ap.add_argument("--report", type=Path, help="compute from this `analyst eval` JSON report instead (document level)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)
    if not args.cases.is_file():
        ap.error(f"{args.cases}: no such case file (pass its path)")
    case_file = load_cases(args.cases)
    if args.report:
        rows, unit, how = from_report(case_file, args.report), "document", f"report {args.report}"
    else:
        rows, unit, how = by_running(case_file, args.engine), "passage", f"engine {args.engine}"
    print(f"{case_file.label}: {len(rows)} cases, {how}")
    print(render(rows, unit))
    if args.json:
        n = sum(r.cited for r in rows)
        data = {
            "case_file": str(args.cases), "how": how, "unit": unit, "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "cited": n,
            "about_strict": sum(r.about_strict for r in rows) / n if n else None,
            "about_broad": sum(r.about_broad for r in rows) / n if n else None,
            "own_case": sum(r.own for r in rows) / n if n else None,
            "retrieved": sum(r.retrieved for r in rows),
            "retrieved_about": (sum(r.retrieved_about for r in rows) / sum(r.retrieved for r in rows))
            if sum(r.retrieved for r in rows) else None,
            "cases": [asdict(r) for r in rows],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
