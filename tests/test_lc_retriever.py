"""The langchain retriever adapter over a real store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.app import App
from bot.config import Settings
from bot.ingest import ingest_items
from bot.lc_retriever import CorpusRetriever

ROOT = Path(__file__).resolve().parent.parent


def test_langchain_retriever_returns_cited_documents(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    app = App(settings)
    ingest_items(app.store(), [str(ROOT / "knowledge" / n) for n in (
        "kazakhstan-2022-csto-deployment.md", "georgia-2008-war.md", "belarus-2020-reserve.md")], settings)
    retriever = CorpusRetriever(store=app.store(), k=2)
    docs = retriever.invoke("CSTO peacekeepers in Almaty")
    assert docs and docs[0].metadata["doc_id"] == "kazakhstan-2022-csto-deployment"
    assert "¶" in docs[0].metadata["label"] and docs[0].metadata["date"]
    old = CorpusRetriever(store=app.store(), k=5, as_of=dt.date(2010, 1, 1)).invoke("CSTO peacekeepers in Almaty")
    assert all(d.metadata["date"] <= "2010-01-01" for d in old)
    assert {d.metadata["doc_id"] for d in old} <= {"georgia-2008-war"}
    app.close()
