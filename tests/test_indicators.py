"""The indicator engine (no LLM) end to end on the starter corpus, through App and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import App
from bot.config import Settings
from bot.core.indicators import split_sentences, subject_keys
from bot.core.scoring import likelihood
from bot.errors import BadQuestion
from bot.ingest import ingest_items

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> App:
    settings = Settings(data_dir=tmp_path_factory.mktemp("starter"), _env_file=None)
    app = App(settings)
    outcomes = ingest_items(app.store(), [str(ROOT / "knowledge")], settings)
    assert all(o.status == "added" for o in outcomes)
    yield app
    app.close()


QUESTIONS = [
    "Will Russia send troops into Kazakhstan?",
    "Will Russia or the CSTO send troops to defend Armenia against Azerbaijan?",
    "Would Russia intervene militarily in Belarus to keep Lukashenko in power?",
    "Will Russia send forces into Moldova through Transnistria?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_indicator_assessment_is_complete_cited_and_consistent(starter: App, question: str) -> None:
    a = starter.assess(question)
    assert a.engine == "indicators" and "indicators" in a.model
    assert [v.variable for v in a.variables] == ["trigger", "local_support", "military_opposition", "feasibility", "costs"]
    assert a.computed_likelihood == likelihood([v.score if v.assessed else None for v in a.variables], starter.assessor.params)
    assert a.likelihood is None and a.verdict is None and "always saying 50 %" in a.likelihood_note  # no proven skill
    numbers = set(range(1, len(a.passages) + 1))
    assert any(v.assessed for v in a.variables)
    for v in a.variables:
        if v.assessed:
            assert v.citations, f"{v.variable} is scored without a citation"
            assert 0 <= v.score <= 4
        else:
            assert v.score is None and not v.citations
        for c in v.citations:
            assert c.passage in numbers
            # each quote is a sentence of the passage it cites
            assert c.quote and c.quote in a.passages[c.passage - 1].text
    # every listed passage is cited by something (no padding of the source list)
    assert set(a.cited_passage_numbers()) == numbers


def test_as_of_hides_later_articles(starter: App) -> None:
    a = starter.assess("Will Russia send troops into Kazakhstan?", as_of=dt.date(2021, 12, 31))
    assert all(p.date is not None and p.date <= dt.date(2021, 12, 31) for p in a.passages)
    later = starter.assess("Will Russia send troops into Kazakhstan?")
    assert any(p.date and p.date.year >= 2022 for p in later.passages)


def test_subject_with_no_documents_is_insufficient_not_invented(starter: App) -> None:
    a = starter.assess("Will Russia send troops into Mongolia?")
    assert all(not v.assessed for v in a.variables)
    assert a.passages == []
    assert "no checked evidence" in a.summary.lower()
    assert a.likelihood is None and a.computed_likelihood is None  # no evidence, no number
    assert a.confidence == "low"


@pytest.mark.parametrize("question", ["", "x" * 10_000, "What is a good recipe for borscht?"])
def test_bad_questions_raise_user_errors(starter: App, question: str) -> None:
    with pytest.raises(BadQuestion):
        starter.assess(question)


def test_sentence_and_subject_helpers() -> None:
    assert split_sentences("Unrest began on Jan. 2 in Zhanaozen. Police watched the crowds gather.") == [
        "Unrest began on Jan. 2 in Zhanaozen.", "Police watched the crowds gather."]
    assert subject_keys("Kazakhstan") == ["kazak"]
    assert subject_keys("South Ossetia") == ["osset"]


# --- the CLI on the same kind of corpus -----------------------------------------------------

@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANALYST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("kazakhstan-2022-csto-deployment.md", "armenia-2022-september-clashes.md", "csto-2021-background.md"):
        (docs / name).write_text((ROOT / "knowledge" / name).read_text())
    (docs / "broken.pdf").write_bytes(b"this is not a pdf")
    return docs


def test_cli_ingest_sources_ask_and_corpus(cli_env: Path) -> None:
    from bot.cli import app

    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(cli_env)])
    assert first.exit_code == 1, first.output  # one item failed: the exit code says so
    assert "3 added" in first.output and "1 failed" in first.output and "not a PDF" in first.output
    again = runner.invoke(app, ["ingest", str(cli_env)])
    assert "0 added, 0 updated, 3 skipped, 1 failed" in again.output

    src = runner.invoke(app, ["sources", "Tokayev asked the CSTO for troops", "--k", "2", "--json"])
    passages = json.loads(src.output)
    assert len(passages) == 2 and passages[0]["title"] and passages[0]["date"]

    out = runner.invoke(app, ["ask", "Will Russia send troops into Kazakhstan?", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert len(data["variables"]) == 5 and data["engine"] == "indicators"

    listing = runner.invoke(app, ["corpus", "list"])
    assert "kazakhstan-2022-csto-deployment" in listing.output and "3 documents" in listing.output
    deleted = runner.invoke(app, ["corpus", "delete", "csto-2021-background"])
    assert deleted.exit_code == 0
    assert "2 documents" in runner.invoke(app, ["corpus", "list"]).output


def test_cli_errors_are_one_line(cli_env: Path) -> None:
    exe = Path(sys.executable).parent / "analyst"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.cli"]
    empty = subprocess.run([*cmd, "ask", "Will Russia invade Georgia?"], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 2
    assert "corpus is empty" in empty.stderr and "Traceback" not in empty.stderr
    bad = subprocess.run([*cmd, "ask", ""], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Ask a question" in bad.stderr and "Traceback" not in bad.stderr


# --- what the engine concludes on small hand-written documents ------------------------------------
# Each document states one variable's side plainly. Inverting the score direction or the sign of
# an indicator turns these red (the old suite passed with the direction inverted).

STANCE = [
    ("The president of Ruritania formally requested troops from Russia and the CSTO to restore order.",
     "local_support", 3, 4),
    ("The government of Ruritania has refused Russian troops and insists it can handle the situation itself.",
     "local_support", 0, 1),
    ("A ceasefire has been agreed in Ruritania and is holding; the situation remains calm.", "trigger", 0, 1),
    ("The Ruritanian national army is mobilising and will fight any invading force, and a neighbouring state "
     "has pledged to defend Ruritania militarily.", "military_opposition", 0, 1),
    ("Russian troops are already stationed at a military base in Ruritania, and large Russian forces are "
     "massed near the border after exercises.", "feasibility", 3, 4),
]


@pytest.mark.parametrize(("text", "variable", "low", "high"), STANCE)
def test_indicator_scores_follow_plain_evidence(starter: App, text: str, variable: str, low: int, high: int) -> None:
    from fakes import ListRetriever, make_passages

    a = starter.assessor.assess("Will Russia send troops into Ruritania?", ListRetriever(make_passages([text])))
    v = a.variable(variable)
    assert v.assessed and low <= v.score <= high, v
    claims = v.evidence_for if v.score >= 3 else v.evidence_against
    assert claims and all(c.quote in a.passages[c.passage - 1].text for c in claims)
