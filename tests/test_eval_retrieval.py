"""``analyst eval-retrieval``: question sets with kinds, as_of, extra keys and their own corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.config import REPO_ROOT, shared_dir
from bot.errors import BadInput
from bot.evaluation.runner import RetrievalReport, load_question_set

DOCS = {
    "old.md": ("Garrison report 2010", "2010-05-01", "The Gyumri garrison held routine drills with its MiG-29 fighters."),
    "new.md": ("Garrison report 2020", "2020-05-01", "The Gyumri garrison was put on alert and reinforced by air."),
    "wheat.md": ("Black Sea wheat", "2020-02-01", "Wheat shipments from Odesa rose as the harvest beat forecasts."),
}


def cli():
    from bot.cli import _register_plugins, app

    _register_plugins()
    return app


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, (title, date, body) in DOCS.items():
        (folder / name).write_text(f'---\ntitle: "{title}"\ndate: {date}\n---\n{body}\n', encoding="utf-8")
    return folder


QUESTIONS = [
    {"question": "Gyumri garrison", "relevant": ["old.md"], "kind": "keyword", "as_of": "2015-01-01", "note": "x"},
    {"query": "grain exports from Ukrainian ports", "relevant": ["wheat.md"], "kind": "paraphrase", "id": 7},
    {"question": "Was the Gyumri garrison reinforced?", "relevant": ["new.md"], "kind": "keyword"},
]


def test_as_of_kinds_extra_keys_and_the_sets_own_corpus(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("ANALYST_DATA_DIR", str(tmp_path / "unused"))
    qfile = tmp_path / "set.yaml"
    qfile.write_text(yaml.safe_dump({"corpus": "docs", "questions": QUESTIONS}), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli(), ["eval-retrieval", str(qfile), "--k", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = RetrievalReport.model_validate_json((out / "retrieval-set.json").read_text(encoding="utf-8"))
    assert report.corpus == [str(corpus.resolve())] and report.documents_indexed == 3
    first = report.questions[0]
    assert first.kind == "keyword" and str(first.as_of) == "2015-01-01"
    for mode in ("vector", "lexical", "hybrid"):  # as_of hides the 2020 report that says Gyumri too
        assert first.modes[mode].top_docs == ["old"], mode
    assert report.questions[1].question == "grain exports from Ukrainian ports"  # 'query:' accepted
    assert set(report.by_kind) == {"keyword", "paraphrase"}
    assert report.by_kind["keyword"]["hybrid"].n == 2 and report.by_kind["paraphrase"]["vector"].n == 1
    assert "by question kind" in result.output


def test_corpus_option_overrides_the_sets_corpus(tmp_path, corpus):
    qfile = tmp_path / "set.yaml"
    qfile.write_text(yaml.safe_dump({"corpus": "nowhere", "questions": QUESTIONS[:1]}), encoding="utf-8")
    with pytest.raises(BadInput, match="nowhere: no such file or folder"):
        from bot.config import Settings
        from bot.evaluation.runner import run_retrieval

        run_retrieval(qfile, None, Settings(_env_file=None, data_dir=tmp_path / "d"), k=1)  # type: ignore[call-arg]
    result = CliRunner().invoke(
        cli(), ["eval-retrieval", str(qfile), "--corpus", str(corpus), "--k", "1", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("[]", "non-empty list"),
        ("questions: 5", "non-empty list"),
        ("- question: q\n  relevant: []", "invalid question"),
        ("- relevant: [a.md]", "invalid question"),
        ("- question: q\n  relevant: [a.md]\n  as_of: someday", "invalid question"),
        ("- {question: [", "not valid YAML"),
    ],
)
def test_bad_question_files_get_one_line_reasons(tmp_path, content, error):
    f = tmp_path / "q.yaml"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(BadInput, match=error):
        load_question_set(f)


@pytest.mark.parametrize(
    ("name", "docs"),
    [
        ("dev_docs.yaml", shared_dir() / "eval" / "dev" / "docs"),
        ("heldout_docs.yaml", REPO_ROOT / "benchmarks" / "cases" / "heldout" / "docs"),
    ],
)
def test_shipped_sets_are_well_formed(name, docs):
    qset = load_question_set(REPO_ROOT / "benchmarks" / "retrieval" / name)
    assert len(qset.questions) >= 30
    assert {q.kind for q in qset.questions} == {"keyword", "paraphrase", "variable"}
    if docs.is_dir():
        for q in qset.questions:
            for r in q.relevant:
                assert (docs / r).is_file(), r
