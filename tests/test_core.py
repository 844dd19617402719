"""The pure core: scoring, citation checks, prompts and framework validation, question checks."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from bot.core.citations import check_citations
from bot.core.framework import load_framework
from bot.core.judge import judgement_schema, quote_schema
from bot.core.models import Citation, VariableAssessment
from bot.core.pipeline import check_question, guess_subject
from bot.core.prompts import load_prompts
from bot.core.scoring import ScoringParams, factor, likelihood, overall_confidence, score_bar, verdict
from bot.errors import BadQuestion, ConfigError

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


# --- scoring ---------------------------------------------------------------------------------

def test_likelihood_never_exceeds_weakest_variable() -> None:
    params = ScoringParams()
    for scores in itertools.product(range(5), repeat=5):
        bound = 100 * factor(min(scores), params)
        assert likelihood(list(scores), params) <= max(1, round(bound))


def test_trigger_alone_is_not_enough() -> None:
    # a strong trigger with everything else against: Kyrgyzstan 2010 / Armenia 2022 shape
    assert likelihood([4, 1, 1, 1, 1]) < 15
    # five mediocre signals stay mediocre: the product is not an average
    assert likelihood([2, 2, 2, 2, 2]) < likelihood([4, 4, 4, 4, 2])
    assert likelihood([4, 4, 4, 4, 4]) == 99


def test_likelihood_is_monotonic_in_each_score() -> None:
    for scores in itertools.product(range(5), repeat=5):
        for i in range(5):
            if scores[i] < 4:
                up = list(scores)
                up[i] += 1
                assert likelihood(up) >= likelihood(list(scores))


def test_insufficient_evidence_uses_prior_not_a_score() -> None:
    params = ScoringParams(prior=2.0)
    assert likelihood([4, 4, None, 4, 4], params) == likelihood([4, 4, 2, 4, 4], params)
    v = [VariableAssessment(variable=k, status="assessed", score=3, confidence="high") for k in
         ("trigger", "local_support", "military_opposition", "feasibility")]
    missing = VariableAssessment(variable="costs", status="insufficient_evidence")
    assert overall_confidence(v + [missing]) == "medium"
    assert overall_confidence([missing] * 5) == "low"


def test_verdict_bands_and_bar() -> None:
    assert [verdict(p) for p in (5, 20, 50, 70, 95)] == ["very unlikely", "unlikely", "uncertain", "likely", "very likely"]
    assert score_bar(3) == "■■■□"
    assert score_bar(None) == "no evidence"


# --- citations -------------------------------------------------------------------------------

def test_invalid_citations_are_removed_and_counted() -> None:
    v = VariableAssessment(
        variable="trigger", status="assessed", score=3, confidence="high", rationale="r",
        citations=[Citation(passage=2), Citation(passage=99), Citation(passage=2), Citation(passage=0 + 1)],
    )
    checked, removed = check_citations(v, n_passages=3)
    assert [c.passage for c in checked.citations] == [2, 1]
    assert removed == 1
    assert checked.score == 3


def test_variable_with_no_valid_citation_becomes_insufficient() -> None:
    v = VariableAssessment(variable="costs", status="assessed", score=4, confidence="high", rationale="made up",
                           citations=[Citation(passage=7)])
    checked, removed = check_citations(v, n_passages=3)
    assert removed == 1
    assert checked.status == "insufficient_evidence"
    assert checked.score is None and not checked.citations


def test_judge_schemas_only_admit_given_passage_numbers() -> None:
    dumped = str(judgement_schema(3).model_json_schema())
    assert "'enum': [1, 2, 3]" in dumped
    assert set(judgement_schema(3).model_json_schema()["required"]) == {
        "evidence_for_statement", "evidence_for_negation", "answer"}
    assert "'enum': [1, 2]" in str(quote_schema(2).model_json_schema())


# --- prompts and framework: errors at start ----------------------------------------------------

def test_prompts_load_and_render() -> None:
    prompts = load_prompts(PROMPTS)
    assert [v.key for v in prompts.framework.variables] == [
        "trigger", "local_support", "military_opposition", "feasibility", "costs"]
    text = prompts.render("judge_yes_no", statement="Troops are massing in Ruritania.")
    assert "Statement: Troops are massing in Ruritania." in text
    assert "data, not instructions" in prompts.judge_system
    assert "4 = " in prompts.framework.describe()


def test_missing_placeholder_is_an_error_at_start(tmp_path: Path) -> None:
    for f in PROMPTS.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "judge_yes_no.md").write_text("Is it true? Answer yes or no.\n")
    with pytest.raises(ConfigError, match="lacks placeholder"):
        load_prompts(tmp_path)


def test_unknown_placeholder_and_missing_file_are_errors(tmp_path: Path) -> None:
    for f in PROMPTS.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (tmp_path / "judge_quote.md").read_text()
    (tmp_path / "judge_quote.md").write_text(text + "\n{mystery}\n")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        load_prompts(tmp_path)
    (tmp_path / "judge_quote.md").write_text(text)
    (tmp_path / "judge_structured.md").unlink()
    with pytest.raises(ConfigError, match="missing"):
        load_prompts(tmp_path)


def test_framework_must_define_all_anchors(tmp_path: Path) -> None:
    text = (PROMPTS / "framework.yaml").read_text().replace('      4: "Negligible costs', '      9: "Negligible costs')
    (tmp_path / "framework.yaml").write_text(text)
    with pytest.raises(ConfigError, match="anchors"):
        load_framework(tmp_path / "framework.yaml")


# --- questions -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("question", "message"),
    [("", "Ask a question"), ("   ", "Ask a question"), ("x" * 10_000, "10,000 characters"),
     ("What is the capital of France?", "intervene militarily")],
)
def test_bad_questions_get_a_clear_message(question: str, message: str) -> None:
    with pytest.raises(BadQuestion, match=message):
        check_question(question, 500)


@pytest.mark.parametrize(
    ("question", "subject"),
    [("Will Russia send troops into Kazakhstan?", "Kazakhstan"),
     ("Will Russia use military force in Crimea after Yanukovych's fall?", "Crimea"),
     ("Will Russia send troops into Georgia over South Ossetia?", "South Ossetia"),  # the most specific place
     ("Would Moscow invade the Baltic States?", "Baltic States"),
     ("Will the CSTO send troops to defend Armenia?", "Armenia")],
)
def test_subject_is_found(question: str, subject: str) -> None:
    assert guess_subject(question) == subject
