"""benchmarks/subject_share.py from an evaluation report (the engine-running mode is the benchmark itself)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def share_module():
    spec = importlib.util.spec_from_file_location("subject_share", ROOT / "benchmarks" / "subject_share.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop(spec.name, None)


def _doc(folder: Path, name: str, title: str, body: str) -> None:
    (folder / f"{name}.md").write_text(f"---\ntitle: {title}\ndate: 2022-01-01\n---\n{body}\n", encoding="utf-8")


def test_share_from_a_report(share_module, tmp_path: Path, capsys) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _doc(docs, "kaz-01", "Unrest", "Protesters in Almaty seized the city hall.")
    _doc(docs, "kaz-02", "The request", "Tokayev asked the CSTO for help in Kazakhstan.")
    _doc(docs, "geo-01", "Another crisis", "Georgian artillery fired on Tskhinvali.")
    (tmp_path / "cases.yaml").write_text(
        "- id: KAZ\n  question: \"Will Russia send troops into Kazakhstan?\"\n  as_of: 2022-01-06\n"
        "  outcome: intervened\n  docs: [kaz-01.md, kaz-02.md]\n",
        encoding="utf-8",
    )
    report = {"results": [{"id": "KAZ", "error": None, "passages_cited_docs": ["kaz-01", "kaz-02", "geo-01"]}]}
    (tmp_path / "eval.json").write_text(json.dumps(report), encoding="utf-8")
    out = tmp_path / "share.json"
    assert share_module.main([str(tmp_path / "cases.yaml"), "--report", str(tmp_path / "eval.json"), "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["unit"] == "document" and data["cited"] == 3
    assert data["about_strict"] == pytest.approx(2 / 3)  # Almaty is in Kazakhstan; Tskhinvali is not
    assert data["own_case"] == pytest.approx(2 / 3)
    assert data["cases"][0]["off_subject"] == ["geo-01"]
    assert "KAZ" in capsys.readouterr().out


def test_the_default_case_file_is_next_to_the_repository(share_module) -> None:
    default: Path = share_module.DEFAULT_CASES
    assert default == ROOT.parent / "shared" / "eval" / "dev" / "cases.yaml"
