"""Server mode: the store against a real ``chroma run`` on 127.0.0.1 (settings.chroma_mode="http").

The module starts one Chroma server in a temporary directory, waits for its heartbeat, and stops it
at teardown. The lexical index stays a local SQLite file in the data directory, as in production.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import free_port, loopback_server

from bot.corpus.document import Document
from bot.errors import StoreUnavailable
from bot.ingest import ingest_items
from bot.store import CorpusStore, SearchFilter

pytestmark = pytest.mark.slow

CHROMA = Path(sys.executable).parent / "chroma"
STARTUP_TIMEOUT_S = 60


def chroma_run(path: Path, port: int) -> list[str]:
    return [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]


def heartbeat(port: int) -> str:
    return f"http://127.0.0.1:{port}/api/v2/heartbeat"


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[int]:
    if not CHROMA.is_file():
        pytest.skip(f"the chroma command is not installed next to {sys.executable}")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    with loopback_server(
        chroma_run(path / "data", port), heartbeat(port), path / "server.log", name="chroma run", timeout_s=STARTUP_TIMEOUT_S
    ):
        yield port


@pytest.fixture
def http_settings(settings, chroma_server):
    return settings.model_copy(
        update={"chroma_mode": "http", "chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    )


def test_ingest_search_delete_through_the_server(http_settings, embedder, tmp_path, write_doc, request):
    collection = f"srv-{request.node.name[:40]}".replace("_", "-")
    store = CorpusStore(http_settings, embedder, collection=collection)
    try:
        folder = tmp_path / "docs"
        write_doc(
            folder,
            "kaz.md",
            "Tokayev asked the CSTO for help, and about 2,000 mostly Russian troops landed in Almaty.",
            title="CSTO in Kazakhstan",
            date="2022-01-07",
            source="Desk note",
            tags=["kazakhstan", "csto"],
        )
        write_doc(
            folder,
            "arm.md",
            "Armenia invoked the CSTO treaty in September 2022; only a fact-finding mission came.",
            title="Armenia and the CSTO",
            date="2022-09-14",
            source="Wire",
            tags=["armenia", "csto"],
        )
        outcomes = ingest_items(store, [str(folder)], http_settings)
        assert [o.status for o in outcomes] == ["added", "added"], [o.reason for o in outcomes]
        assert store.vector_count() == store.count() == 2

        [top] = store.search("Russian troops landed in Almaty", k=1)
        assert top.title == "CSTO in Kazakhstan" and top.vector_rank == 1
        assert top.label == "CSTO in Kazakhstan (2022-01-07), ¶1"
        got = store.search("CSTO", k=5, flt=SearchFilter(as_of=dt.date(2022, 6, 1)), mode="vector")
        assert [p.doc_id for p in got] == ["kaz"]
        assert [p.doc_id for p in store.search("CSTO", k=5, flt=SearchFilter(tags=("armenia",)))] == ["arm"]

        # update replaces, re-ingest skips, delete removes -- all through the server
        store.ingest(
            Document(
                id="kaz", title="CSTO in Kazakhstan", paragraphs=["Updated: the force left on 19 January."]
            )
        )
        assert store.vector_count() == store.count() == 2
        assert ingest_items(store, [str(folder / "arm.md")], http_settings)[0].status == "skipped"
        assert store.delete("kaz") is True
        assert store.vector_count() == store.count() == 1
        assert [p.doc_id for p in store.search("force left Kazakhstan", k=5)] == ["arm"]
        assert store.gc() == 0
    finally:
        store.close()


def test_server_collection_survives_a_new_client(http_settings, embedder):
    first = CorpusStore(http_settings, embedder, collection="reopen")
    first.ingest(Document(id="n", title="Note", paragraphs=["Russian troops guard the Cobasna depot."]))
    first.close()
    again = CorpusStore(http_settings, embedder, collection="reopen")
    try:
        assert again.vector_count() == 1
        assert again.search("Cobasna", k=1)[0].doc_id == "n"
    finally:
        again.close()


def test_no_server_is_store_unavailable(settings, embedder):
    port = free_port()  # nothing listens there
    down = settings.model_copy(
        update={"chroma_mode": "http", "chroma_host": "127.0.0.1", "chroma_port": port}
    )
    with pytest.raises(StoreUnavailable) as err:
        CorpusStore(down, embedder)
    message = err.value.message
    assert f"the Chroma server at 127.0.0.1:{port}" in message
    assert "\n" not in message and len(message) < 300


def test_server_gone_after_opening_is_store_unavailable(settings, embedder, tmp_path):
    """A second, private server is stopped under an open store: searches and writes say so."""
    port = free_port()
    with loopback_server(
        chroma_run(tmp_path / "srv", port), heartbeat(port), tmp_path / "srv.log", name="chroma run", timeout_s=STARTUP_TIMEOUT_S
    ):
        s = settings.model_copy(update={"chroma_mode": "http", "chroma_port": port})
        store = CorpusStore(s, embedder, collection="gone")
        store.ingest(Document(id="n", title="Note", paragraphs=["Russian troops guard the Cobasna depot."]))
    try:
        with pytest.raises(StoreUnavailable, match="vector store failed the search"):
            store.search("Cobasna", k=1)
        with pytest.raises(StoreUnavailable, match="vector store refused the write"):
            store.ingest(Document(id="m", title="Other", paragraphs=["Another note about Gyumri."]))
        assert store.count() == 1  # the registry did not move
    finally:
        store.close()


def test_app_bounds_every_request_to_the_server(http_settings):
    # chromadb builds its session with timeout=None; App gives it settings.chroma_timeout_s
    import httpx

    from bot.app import App

    s = http_settings.model_copy(update={"chroma_timeout_s": 7.0})
    with App(s, build_llm=False) as app:
        assert app.store().count() == 0
        session = app.store().backend.client._server._session
        assert isinstance(session, httpx.Client) and session.timeout.read == 7.0
