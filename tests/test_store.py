"""The index: atomic versioned ingest, delete, crash safety, filters, hybrid search, identity.

Real chromadb (embedded, in ``tmp_path``), real SQLite FTS5 and the real embedding model.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.corpus.document import Document
from bot.corpus.loaders import load_file
from bot.embeddings import MAX_TOKENS, MiniLMEmbedder, shared_embedder
from bot.errors import EmbeddingMismatch, StoreUnavailable
from bot.ingest import expand, ingest_items, summarise
from bot.store import CorpusStore, LexicalIndex, SearchFilter
from bot.store import registry as registry_module
from bot.store import vectors as vectors_module

MODES = ("hybrid", "vector", "lexical")


def doc(doc_id: str, *paragraphs: str, **kw) -> Document:
    return Document(id=doc_id, title=kw.pop("title", doc_id.title()), paragraphs=list(paragraphs), **kw)


def chroma_rows(store: CorpusStore, doc_id: str) -> dict[str, dict]:
    got = store._collection.get(where={"doc_id": doc_id}, include=["metadatas"])
    return dict(zip(got["ids"], got["metadatas"], strict=True))


def lexical_rows(store: CorpusStore, doc_id: str) -> list[str]:
    rows = store.lexical._db.execute(
        "SELECT chunk_id FROM chunks WHERE collection=? AND doc_id=? ORDER BY chunk_id", (store.name, doc_id)
    ).fetchall()
    return [r[0] for r in rows]


def fts_consistent(store: CorpusStore) -> bool:
    """FTS5's own check that the full-text index matches its content table."""
    try:
        store.lexical._db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------------------------
# chunk metadata and labels


def test_chunk_metadata_and_citation_label(seed_path, store, settings, embedder):
    meta = {
        "date": "2022-01-07",
        "source": "Foreign Policy",
        "url": "https://foreignpolicy.com/2022/01/07/kazakhstan",
    }
    [outcome] = ingest_items(store, [str(seed_path)], settings, meta=meta)
    assert outcome.status == "added" and outcome.chunks >= 5
    doc_id = outcome.doc_id
    rows = chroma_rows(store, doc_id)
    assert len(rows) == outcome.chunks == store.count() == store.vector_count()
    version = next(iter(rows.values()))["version"]
    for cid, m in rows.items():
        assert cid.startswith(f"{doc_id}:{version}:")
        assert m["doc_id"] == doc_id and m["version"] == version
        assert m["title"] == "Why Russia Sent Troops Into Kazakhstan"
        assert m["date"] == "2022-01-07" and m["date_ord"] == 20220107
        assert m["source"] == "Foreign Policy" and m["url"] == meta["url"]
        assert 1 <= m["p_start"] <= m["p_end"] <= 8
    got = store._collection.get(where={"doc_id": doc_id}, include=["documents"])
    assert all(embedder.count_tokens(t) <= MAX_TOKENS for t in got["documents"])

    [top] = store.search("the trigger came in the form of protesters storming public buildings", k=1)
    assert top.doc_id == doc_id
    assert top.title == "Why Russia Sent Troops Into Kazakhstan"
    assert top.date == dt.date(2022, 1, 7) and top.source == "Foreign Policy" and top.url == meta["url"]
    assert "protesters storming public buildings" in top.text
    assert top.label == "Why Russia Sent Troops Into Kazakhstan (2022-01-07), ¶6"
    for p in store.search("CSTO deployment Tokayev request", k=8):
        assert re.fullmatch(r"Why Russia Sent Troops Into Kazakhstan \(2022-01-07\), ¶\d+(-\d+)?", p.label)

    [info] = store.documents()
    assert (info.id, info.title, info.date, info.source, info.chunks) == (
        doc_id,
        "Why Russia Sent Troops Into Kazakhstan",
        dt.date(2022, 1, 7),
        "Foreign Policy",
        outcome.chunks,
    )


# --------------------------------------------------------------------------------------------
# versioned ingest: idempotence, update, delete


def test_reingest_of_same_folder_skips_everything(tmp_path, knowledge_dir, store, settings):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in sorted(p.name for p in knowledge_dir.glob("*.md"))[:5]:
        shutil.copy(knowledge_dir / name, folder / name)
    first = ingest_items(store, [str(folder)], settings)
    assert summarise(first) == {"added": 5, "updated": 0, "skipped": 0, "failed": 0}
    before = (
        store.count(),
        store.vector_count(),
        [(d.id, d.ingested_at, d.chunks) for d in store.documents()],
    )
    second = ingest_items(store, [str(folder)], settings)
    assert summarise(second) == {"added": 0, "updated": 0, "skipped": 5, "failed": 0}
    assert all(o.reason == "unchanged" for o in second)
    assert (
        store.count(),
        store.vector_count(),
        [(d.id, d.ingested_at, d.chunks) for d in store.documents()],
    ) == before
    assert before[0] == before[1] == sum(o.chunks for o in first)


def test_same_content_under_another_name_is_skipped(tmp_path, store, settings, write_doc):
    a = write_doc(
        tmp_path / "a", "one.md", "Russia keeps a base at Gyumri.", title="Gyumri", date="2021-01-01"
    )
    b = write_doc(
        tmp_path / "b", "two.md", "Russia keeps a base at Gyumri.", title="Gyumri", date="2021-01-01"
    )
    outcomes = ingest_items(store, [str(a), str(b)], settings)
    assert [o.status for o in outcomes] == ["added", "skipped"]
    assert "same content as 'one'" in outcomes[1].reason
    assert store.count() == 1


def test_changed_file_replaces_its_chunks(tmp_path, store, settings, write_doc):
    old_paras = [
        "The Gyumri base hosts the 102nd military base with several thousand Russian soldiers.",
        "A second paragraph mentions the Erebuni airfield near Yerevan and its MiG-29 fighters.",
        "A third paragraph about the border guards on the Turkish frontier, called zebraflankers here.",
    ]
    path = write_doc(
        tmp_path, "armenia.md", "\n\n".join(old_paras), title="Russian forces in Armenia", date="2021-05-01"
    )
    ingest_items(store, [str(path)], settings)
    other = write_doc(
        tmp_path / "x", "other.md", "Unrelated note on Abkhazia.", title="Other", date="2021-01-01"
    )
    ingest_items(store, [str(other)], settings)
    old_ids = set(chroma_rows(store, "armenia"))
    assert old_ids and set(lexical_rows(store, "armenia")) == old_ids

    new_paras = [
        old_paras[0].replace("several thousand", "about 3,000"),
        old_paras[1],
    ]  # third paragraph gone
    write_doc(
        tmp_path, "armenia.md", "\n\n".join(new_paras), title="Russian forces in Armenia", date="2021-05-02"
    )
    [o] = ingest_items(store, [str(path)], settings)
    assert o.status == "updated"

    new_rows = chroma_rows(store, "armenia")
    assert new_rows and not (set(new_rows) & old_ids)
    assert {m["version"] for m in new_rows.values()} == {
        o.doc_id and next(iter(new_rows.values()))["version"]
    }
    assert {m["date"] for m in new_rows.values()} == {"2021-05-02"}
    assert set(lexical_rows(store, "armenia")) == set(new_rows)  # no stale lexical rows
    assert store.count() == store.vector_count() == len(new_rows) + 1
    assert fts_consistent(store)
    # the removed paragraph's rare word is gone from both sides
    assert store.search("zebraflankers", k=5, mode="lexical") == []
    assert all("zebraflankers" not in p.text for p in store.search("zebraflankers Turkish frontier", k=5))
    assert any("about 3,000" in p.text for p in store.search("Gyumri base soldiers", k=3))
    [info] = [d for d in store.documents() if d.id == "armenia"]
    assert info.date == dt.date(2021, 5, 2) and info.chunks == len(new_rows)


def test_delete_removes_everything(store):
    store.ingest(doc("keep", "Russian peacekeepers deployed to Nagorno-Karabakh in November 2020."))
    store.ingest(
        doc("gone", "The Tajik civil war of 1992 drew in the 201st motor rifle division.", "Second part.")
    )
    assert store.count() == store.vector_count() == 2
    assert store.delete("gone") is True
    assert store.count() == store.vector_count() == 1
    assert chroma_rows(store, "gone") == {} and lexical_rows(store, "gone") == []
    assert [d.id for d in store.documents()] == ["keep"]
    for mode in MODES:
        assert all(p.doc_id == "keep" for p in store.search("Tajik civil war 201st division", k=5, mode=mode))
    assert fts_consistent(store)
    assert store.delete("gone") is False
    assert store.delete("never-existed") is False
    # deleted content can be ingested again
    assert (
        store.ingest(
            doc("gone", "The Tajik civil war of 1992 drew in the 201st motor rifle division.")
        ).status
        == "added"
    )


# --------------------------------------------------------------------------------------------
# crash safety


V1 = "Version one: the garrison at Gyumri reported normal readiness and routine exercises."
V2 = "Version two: the garrison at Gyumri was put on high alert and reinforced by air."


def _texts(store: CorpusStore) -> list[str]:
    return [
        p.text for mode in MODES for p in store.search("garrison at Gyumri readiness alert", k=5, mode=mode)
    ]


def test_crash_before_registry_swap_keeps_old_version(store, monkeypatch):
    store.ingest(doc("gyumri", V1, date=dt.date(2021, 1, 1)))
    v1_version = next(iter(chroma_rows(store, "gyumri").values()))["version"]

    @contextlib.contextmanager
    def crash(self):
        raise RuntimeError("simulated crash between the chroma write and the registry swap")
        yield  # pragma: no cover

    with monkeypatch.context() as m:
        m.setattr(LexicalIndex, "transaction", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            store.ingest(doc("gyumri", V2, date=dt.date(2021, 1, 2)))

    # the new version's vectors were written, but nothing can see them
    rows = chroma_rows(store, "gyumri")
    assert len(rows) == 2 and store.vector_count() == 2 and store.count() == 1
    texts = _texts(store)
    assert texts and all(t == V1 for t in texts)
    assert [d.date for d in store.documents()] == [dt.date(2021, 1, 1)]

    assert store.gc() == 1
    assert {m["version"] for m in chroma_rows(store, "gyumri").values()} == {v1_version}
    assert store.vector_count() == store.count() == 1
    assert store.gc() == 0
    # the next ingest of the new version works normally
    assert store.ingest(doc("gyumri", V2, date=dt.date(2021, 1, 2))).status == "updated"
    assert all(t == V2 for t in _texts(store))


def test_crash_after_registry_swap_shows_only_new_version(store, monkeypatch):
    store.ingest(doc("gyumri", V1, date=dt.date(2021, 1, 1)))

    def crash(self, doc_id, keep_version=None):
        raise RuntimeError("simulated crash before the old vectors were deleted")

    with monkeypatch.context() as m:
        m.setattr(CorpusStore, "_delete_vectors", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            store.ingest(doc("gyumri", V2, date=dt.date(2021, 1, 2)))

    assert store.vector_count() == 2 and store.count() == 1
    texts = _texts(store)
    assert texts and all(t == V2 for t in texts)
    assert store.gc() == 1
    assert store.vector_count() == 1 and all(t == V2 for t in _texts(store))


# --------------------------------------------------------------------------------------------
# filters

FILTER_DOCS = [
    doc(
        "geo-2008",
        "Russian troops crossed into Georgia through the Roki tunnel.",
        date=dt.date(2008, 8, 8),
        source="Desk note",
        tags=["georgia", "war"],
    ),
    doc(
        "cri-2014",
        "Russian troops without insignia seized the parliament of Crimea.",
        date=dt.date(2014, 2, 27),
        source="Wire",
        tags=["ukraine", "crimea"],
    ),
    doc(
        "kaz-2022",
        "Russian troops landed in Almaty under the CSTO flag.",
        date=dt.date(2022, 1, 6),
        source="Desk note",
        tags=["kazakhstan", "csto"],
    ),
    doc(
        "ukr-2022",
        "Russian troops invaded Ukraine from the north, east and south.",
        date=dt.date(2022, 2, 24),
        source="Wire",
        tags=["ukraine", "war"],
    ),
    doc(
        "arm-2022",
        "No Russian troops came when Armenia invoked the CSTO treaty.",
        date=dt.date(2022, 9, 14),
        source="Analysis",
        tags=["armenia", "csto"],
    ),
    doc(
        "undated", "Russian troops are stationed at several bases abroad.", source="Desk note", tags=["bases"]
    ),
]
QUERY = "Russian troops deployed abroad: Georgia, Crimea, Almaty, Ukraine, Armenia, bases"


@pytest.fixture
def filtered_store(store):
    for d in FILTER_DOCS:
        assert store.ingest(d).status == "added"
    return store


def _ids(store, flt, mode):
    return {p.doc_id for p in store.search(QUERY, k=20, flt=flt, mode=mode)}


@pytest.mark.parametrize("mode", MODES)
def test_no_filter_sees_everything(filtered_store, mode):
    assert _ids(filtered_store, SearchFilter(), mode) == {d.id for d in FILTER_DOCS}


@pytest.mark.parametrize("mode", MODES)
def test_as_of_hides_later_and_undated_documents(filtered_store, mode):
    as_of = dt.date(2022, 1, 6)
    passages = filtered_store.search(QUERY, k=20, flt=SearchFilter(as_of=as_of), mode=mode)
    assert {p.doc_id for p in passages} == {"geo-2008", "cri-2014", "kaz-2022"}  # as_of itself is included
    assert all(p.date is not None and p.date <= as_of for p in passages)
    assert _ids(filtered_store, SearchFilter(as_of=dt.date(2008, 8, 7)), mode) == set()


@pytest.mark.parametrize("mode", MODES)
def test_date_range(filtered_store, mode):
    flt = SearchFilter(date_from=dt.date(2014, 1, 1), date_to=dt.date(2022, 2, 24))
    assert _ids(filtered_store, flt, mode) == {"cri-2014", "kaz-2022", "ukr-2022"}
    # as_of and date_to together: the earlier bound wins
    flt = SearchFilter(
        as_of=dt.date(2022, 1, 31), date_to=dt.date(2022, 12, 31), date_from=dt.date(2020, 1, 1)
    )
    assert _ids(filtered_store, flt, mode) == {"kaz-2022"}
    assert _ids(filtered_store, SearchFilter(date_from=dt.date(2022, 6, 1)), mode) == {"arm-2022"}


@pytest.mark.parametrize("mode", MODES)
def test_source_filter(filtered_store, mode):
    assert _ids(filtered_store, SearchFilter(sources=("Wire",)), mode) == {"cri-2014", "ukr-2022"}
    assert _ids(filtered_store, SearchFilter(sources=("desk note", "ANALYSIS")), mode) == {
        "geo-2008",
        "kaz-2022",
        "arm-2022",
        "undated",
    }
    assert _ids(filtered_store, SearchFilter(sources=("Nobody",)), mode) == set()


@pytest.mark.parametrize("mode", MODES)
def test_tags_filter(filtered_store, mode):
    assert _ids(filtered_store, SearchFilter(tags=("csto",)), mode) == {"kaz-2022", "arm-2022"}
    assert _ids(filtered_store, SearchFilter(tags=("war", "Crimea")), mode) == {
        "geo-2008",
        "cri-2014",
        "ukr-2022",
    }
    both = SearchFilter(tags=("ukraine",), sources=("Wire",), as_of=dt.date(2020, 1, 1))
    assert _ids(filtered_store, both, mode) == {"cri-2014"}
    # a tag is matched whole, never as a substring of another tag
    assert _ids(filtered_store, SearchFilter(tags=("ukrain",)), mode) == set()


def test_passages_carry_tags(filtered_store):
    [p] = filtered_store.search("parliament of Crimea seized", k=1)
    assert p.doc_id == "cri-2014" and sorted(p.tags) == ["crimea", "ukraine"]


# --------------------------------------------------------------------------------------------
# hybrid retrieval


FILLER = [
    "Russian airborne units landed at Almaty airport to guard the terminal and the runway.",
    "Paratroopers from Ivanovo were flown to Kazakh cities aboard Il-76 transport aircraft.",
    "The CSTO contingent secured power stations and government buildings in the south of the country.",
    "Moscow sent about two thousand soldiers at the request of the Kazakh president.",
    "The peacekeeping force was commanded by a Russian colonel general of the airborne forces.",
    "Armoured vehicles of the collective force patrolled the streets around the presidential residence.",
    "Belarusian, Armenian and Tajik contingents joined the Russian troops in the first days.",
    "Military transport flights carried soldiers and equipment from Russian bases to Kazakh airfields.",
    "The foreign soldiers did not take part in the fighting with armed groups in the city.",
    "The Kremlin presented the operation as a short mission to protect strategic facilities.",
    "Units of the 45th special forces brigade were reported among the Russian contingent.",
    "Kazakh commanders coordinated with the allied force from a headquarters near the capital.",
]
RARE = (
    "Gas traders in Rotterdam noted that the Qyzylorda storage operator, led by Tursynbek Zhaksylykov, "
    "kept prices unchanged."
)


def test_lexical_side_finds_a_rare_name_the_vector_side_ranks_low(store):
    for i, text in enumerate(FILLER):
        store.ingest(doc(f"filler-{i}", text, date=dt.date(2022, 1, 10)))
    store.ingest(doc("rare", RARE, date=dt.date(2022, 1, 10)))
    query = "Zhaksylykov and the Russian troops sent to Kazakhstan"
    k = 5

    vector_ranked = [h[2]["doc_id"] for h in store.vector_search(query, 50)]
    assert vector_ranked.index("rare") >= k + 2  # the topic, not the name, drives the vectors
    assert "rare" not in {p.doc_id for p in store.search(query, k, mode="vector")}

    lexical = store.search(query, k, mode="lexical")
    assert lexical[0].doc_id == "rare"

    hybrid = store.search(query, k)
    [hit] = [p for p in hybrid if p.doc_id == "rare"]
    assert hit.lexical_rank == 1
    assert hit.vector_rank is None or hit.vector_rank > k
    assert len(hybrid) == k and sum(p.vector_rank is not None for p in hybrid) >= k - 1


def test_near_duplicates_collapse_to_one_result(store, make_store, settings):
    para = (
        "On 13 September 2022 Azerbaijani forces shelled Jermuk and Goris, and Armenia asked the CSTO for "
        "military assistance under Article 4; the organisation sent only a fact-finding mission."
    )
    copies = [
        ("wire-a", para, "Wire A"),
        (
            "wire-b",
            para.replace("13 September 2022", "13 September, 2022").replace(
                "shelled", "shelled the towns of"
            ),
            "Wire B",
        ),
    ]
    others = [
        "Russian border guards have patrolled Armenia's frontier with Turkey and Iran since the 1990s.",
        "The 102nd base at Gyumri is Russia's only base in the South Caucasus outside the breakaway regions.",
    ]
    for s in (store, make_store(settings.model_copy(update={"dedup_similarity": 1.0}), collection="nodedup")):
        for doc_id, text, source in copies:
            s.ingest(doc(doc_id, text, source=source, date=dt.date(2022, 9, 14)))
        for i, text in enumerate(others):
            s.ingest(doc(f"other-{i}", text, date=dt.date(2021, 1, 1)))

    query = "Armenia asked the CSTO for help after Azerbaijani shelling in September 2022"
    for mode in MODES:
        got = store.search(query, k=4, mode=mode)
        assert sum(p.doc_id in {"wire-a", "wire-b"} for p in got) == 1, mode
    got = store.search(query, k=4)
    assert got[0].doc_id in {"wire-a", "wire-b"}
    assert {p.doc_id for p in got} >= {"other-0", "other-1"}  # the freed places go to other passages
    # the same corpus with the collapse switched off returns both copies: the check above is not vacuous
    undeduped = make_store(settings.model_copy(update={"dedup_similarity": 1.0}), collection="nodedup")
    assert {"wire-a", "wire-b"} <= {p.doc_id for p in undeduped.search(query, k=4)}


def test_empty_store_and_empty_query(store):
    assert store.search("anything at all", k=5) == []
    store.ingest(doc("a", "Russian troops in Transnistria guard the Cobasna ammunition depot."))
    assert store.search("the of and", k=5, mode="lexical") != []  # only stop words: fall back to them
    assert store.search("!!!", k=5, mode="lexical") == []
    assert [p.doc_id for p in store.search("Cobasna depot", k=5)] == ["a"]


# --------------------------------------------------------------------------------------------
# identity of the embedding model, unavailable stores


def test_collection_opened_with_another_model_is_refused(store, make_store, embedder):
    store.ingest(doc("a", "Russian troops in Transnistria guard the Cobasna ammunition depot."))
    other = copy.copy(embedder)
    other.model_id = "some-other-model:0123456789abcdef"
    with pytest.raises(EmbeddingMismatch, match="built with embedding model all-MiniLM-L6-v2"):
        make_store(embedder_=other)
    # a new collection with the other model is fine, and the original still opens with the right one
    assert make_store(collection="other-model", embedder_=other).count() == 0
    assert make_store().count() == 1


def test_collection_opened_with_another_embedding_function_is_refused(store, make_store, embedder):
    class OtherFunction(MiniLMEmbedder):
        @staticmethod
        def name() -> str:
            return "some-other-function"

    other = copy.copy(embedder)
    other.__class__ = OtherFunction
    with pytest.raises(EmbeddingMismatch, match="another embedding function"):
        make_store(embedder_=other)


def test_unusable_data_dir_is_store_unavailable(tmp_path, settings, embedder):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable, match="Cannot open"):
        CorpusStore(settings.model_copy(update={"data_dir": blocker}), embedder)


def test_reload_from_disk_keeps_everything(tmp_path, settings, embedder, write_doc):
    path = write_doc(
        tmp_path, "note.md", "Russian troops guard the Cobasna depot.", title="Cobasna", date="2024-02-01"
    )
    first = CorpusStore(settings, embedder)
    ingest_items(first, [str(path)], settings)
    first.close()
    again = CorpusStore(settings, embedder)
    try:
        assert [d.title for d in again.documents()] == ["Cobasna"]
        assert again.search("Cobasna", k=1)[0].title == "Cobasna"
        assert ingest_items(again, [str(path)], settings)[0].status == "skipped"
        assert load_file(path, max_bytes=10_000).content_hash  # sanity: the file still loads
    finally:
        again.close()


# --------------------------------------------------------------------------------------------
# several collections in one lexical file


def test_same_document_in_two_collections(store, make_store):
    d = doc("shared", "Russian troops guard the Cobasna depot in Transnistria.", date=dt.date(2024, 2, 1))
    other = make_store(collection="guild-2")
    assert store.ingest(d).status == "added"
    assert other.ingest(d).status == "added"
    assert store.count() == other.count() == 1
    assert other.delete("shared") and store.count() == 1 and other.count() == 0
    assert [p.doc_id for p in store.search("Cobasna", k=3)] == ["shared"]
    assert other.search("Cobasna", k=3) == []


def test_lexical_file_of_schema_v1_is_migrated(settings, embedder):
    import sqlite3

    settings.lexical_path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(settings.lexical_path)
    db.executescript(
        """
        CREATE TABLE documents (collection TEXT NOT NULL, doc_id TEXT NOT NULL, version TEXT NOT NULL,
            content_hash TEXT NOT NULL, title TEXT, date TEXT, source TEXT, url TEXT, tags TEXT,
            origin TEXT, chunks INTEGER, ingested_at TEXT, PRIMARY KEY (collection, doc_id));
        CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, collection TEXT NOT NULL, chunk_id TEXT NOT NULL UNIQUE,
            doc_id TEXT NOT NULL, date_ord INTEGER NOT NULL, source_key TEXT, tags TEXT, text TEXT NOT NULL);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='rowid',
            tokenize='porter unicode61');
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text); END;
        INSERT INTO chunks VALUES (7, 'corpus', 'old:v1:0000', 'old', 20200101, '', '', 'Cobasna depot text');
        """
    )
    db.close()
    lex = LexicalIndex(settings.lexical_path)
    try:
        assert [c for c, _ in lex.search("corpus", "Cobasna", 5, SearchFilter())] == ["old:v1:0000"]
        with lex.transaction() as tx:  # the same chunk id in another collection is now allowed
            tx.execute(
                "INSERT INTO chunks (rowid, collection, chunk_id, doc_id, date_ord, source_key, tags, text) "
                "VALUES (8, 'guild-2', 'old:v1:0000', 'old', 20200101, '', '', 'Cobasna')"
            )
        assert [c for c, _ in lex.search("guild-2", "Cobasna", 5, SearchFilter())] == ["old:v1:0000"]
    finally:
        lex.close()
    LexicalIndex(settings.lexical_path).close()  # opening again is a no-op
    cols = {r[1] for r in sqlite3.connect(settings.lexical_path).execute("PRAGMA table_info(chunks)")}
    assert {"p_start", "p_end"} <= cols  # schema 3: paragraph ranges, for corpus check --repair


# --------------------------------------------------------------------------------------------
# the query paths of a large store, exercised on a small one with small limits

PLACES = ["Gyumri", "Almaty", "Tiraspol", "Sukhumi", "Tskhinvali", "Dushanbe", "Kant", "Sevastopol"]
EVENTS = [
    "reported a quiet week with routine drills",
    "received new air-defence systems by rail",
    "was placed on high alert after border shooting",
    "hosted a visit by the defence minister",
    "rotated a battalion of paratroopers",
    "lost contact with a patrol for several hours",
]


def _wide_corpus(store: CorpusStore) -> list[Document]:
    docs = []
    for i in range(48):
        place, event = PLACES[i % len(PLACES)], EVENTS[(i * 5) % len(EVENTS)]
        docs.append(
            doc(
                f"wide-{i:02d}",
                f"The garrison at {place} {event}; report number {i} on the depot.",
                date=dt.date(2000 + i % 24, 1 + i % 12, 1 + i % 27),
                source="Rare" if i % 16 == 3 else ("Wire" if i % 3 else "Desk"),
                tags=[place.lower(), "garrison"],
            )
        )
    for d in docs:
        store.ingest(d)
    return docs


def _passes(d: Document, flt: SearchFilter) -> bool:
    lo, hi = flt.date_bounds()
    when = int(d.date.strftime("%Y%m%d")) if d.date else 0
    return (
        (lo is None or when >= lo)
        and (hi is None or when <= hi)
        and (not flt.sources or d.source.lower() in {s.lower() for s in flt.sources})
        and (not flt.tags or bool(set(d.tags) & {t.lower() for t in flt.tags}))
    )


def _exact_vector_ranking(store: CorpusStore, docs: list[Document], vec, flt: SearchFilter) -> list[str]:
    got = store._collection.get(include=["embeddings", "metadatas"])
    by_id = {d.id: d for d in docs}
    scored = [
        (float(np.dot(np.asarray(e, dtype=np.float32), vec)), cid)
        for cid, e, m in zip(got["ids"], got["embeddings"], got["metadatas"], strict=True)
        if _passes(by_id[m["doc_id"]], flt)
    ]
    return [cid for _, cid in sorted(scored, reverse=True)]


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory, embedder):
    from bot.config import Settings

    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("wide"))  # type: ignore[call-arg]
    store = CorpusStore(settings, embedder)
    docs = _wide_corpus(store)
    yield store, docs
    store.close()


@pytest.fixture
def wide(wide_store, monkeypatch):
    """The 48-document store (shared by the module: read-only tests) and a log of its vector queries."""
    store, docs = wide_store
    calls: list[str] = []
    real = store.vectors.query

    def spy(vec, n, **kw):
        calls.append("ids" if "ids" in kw else "where" if "where" in kw else f"top{n}")
        return real(vec, n, **kw)

    monkeypatch.setattr(store.vectors, "query", spy)
    return store, docs, calls


@pytest.mark.parametrize(
    ("flt", "max_scan", "path"),
    [
        (SearchFilter(), 2000, ["top12"]),
        (SearchFilter(as_of=dt.date(2020, 1, 1)), 2000, ["top12"]),  # most pass: the first look suffices
        (SearchFilter(sources=("Desk",)), 2000, ["top12", "wider"]),  # a third pass: a wider look
        (SearchFilter(sources=("Rare",)), 2000, ["top12", "wider"]),
        (SearchFilter(sources=("Rare",)), 20, ["top12", "ids"]),  # too few for a bounded look: by ids
        (SearchFilter(tags=("nowhere",)), 2000, ["top12"]),  # none pass, no id to search among: done
    ],
)
def test_vector_candidates_are_exact_on_every_path(wide, embedder, monkeypatch, flt, max_scan, path):
    store, docs, calls = wide
    monkeypatch.setattr(vectors_module, "MAX_VECTOR_SCAN", max_scan)
    vec = embedder.embed(["garrison on high alert after shooting at the border"])[0]
    limit = 3
    got = [cid for cid, _ in store.vector_candidates(vec, limit, flt)]
    assert got == _exact_vector_ranking(store, docs, vec, flt)[:limit]
    assert [("wider" if c.startswith("top") and c != "top12" else c) for c in calls] == path


def test_vector_candidates_fall_back_to_the_metadata_filter(wide, embedder, monkeypatch):
    store, docs, calls = wide
    monkeypatch.setattr(vectors_module, "MAX_VECTOR_SCAN", 1)  # no wider look
    monkeypatch.setattr(vectors_module, "ALLOWED_IDS_CAP", 1)  # too many pass to search by id
    flt = SearchFilter(sources=("Rare",))
    vec = embedder.embed(["paratroopers rotated"])[0]
    got = [cid for cid, _ in store.vector_candidates(vec, 3, flt)]
    assert got == _exact_vector_ranking(store, docs, vec, flt)[:3]
    assert calls == ["top12", "where"]


def test_vector_candidates_skip_stale_versions_on_the_filtered_path(store, embedder, monkeypatch):
    docs = _wide_corpus(store)  # its own store: this test leaves a stale version behind

    def crash(self, doc_id, keep_version=None):
        raise RuntimeError("crash before the old vectors go")

    rare = [d for d in docs if d.source == "Rare"]
    with monkeypatch.context() as m:
        m.setattr(CorpusStore, "_delete_vectors", crash)
        with pytest.raises(RuntimeError):
            store.ingest(
                doc(rare[0].id, "Rewritten: the depot was emptied.", date=rare[0].date, source="Rare")
            )
    vec = embedder.embed([rare[0].paragraphs[0]])[0]  # closest to the stale old version
    monkeypatch.setattr(vectors_module, "MAX_VECTOR_SCAN", 1)
    monkeypatch.setattr(vectors_module, "ALLOWED_IDS_CAP", 1)
    got = store.vector_candidates(vec, 5, SearchFilter(sources=("Rare",)))
    active = set(lexical_rows(store, rare[0].id))
    ids = [cid for cid, _ in got]
    assert len(ids) == len(rare)  # each Rare document once: the stale version is not among them
    assert [i for i in ids if i.startswith(rare[0].id + ":")] == sorted(active)


def _exact_bm25(store: CorpusStore, query: str, limit: int, flt: SearchFilter) -> list[str]:
    terms = store.lexical.query_terms(query)
    match = " OR ".join(f'"{t}"' for t in terms)
    cond, args = store.lexical._filter_sql(flt)
    rows = store.lexical._db.execute(
        "SELECT c.chunk_id FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
        f"WHERE chunks_fts MATCH ? AND c.collection = ? {cond} ORDER BY bm25(chunks_fts), c.rowid LIMIT ?",
        (match, store.name, *args, limit),
    ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    "flt",
    [
        SearchFilter(),
        SearchFilter(sources=("Rare",)),
        SearchFilter(as_of=dt.date(2003, 6, 1)),
        SearchFilter(tags=("kant",)),
    ],
)
@pytest.mark.parametrize("overfetch", [1, 32])
def test_lexical_search_is_exact_on_both_paths(wide, monkeypatch, flt, overfetch):
    store, _docs, _ = wide
    monkeypatch.setattr(registry_module, "FILTERED_OVERFETCH", overfetch)
    monkeypatch.setattr(registry_module, "OVERFETCH", overfetch)
    query = "depot report alert shooting paratroopers"
    got = [cid for cid, _ in store.lexical_search(query, 4, flt)]
    expected = _exact_bm25(store, query, 4, flt)
    assert got and got == expected


def test_lexical_search_does_not_leak_between_collections(store, make_store):
    for i in range(30):
        store.ingest(doc(f"big-{i}", f"The ammunition depot number {i} at Cobasna was inspected."))
    small = make_store(collection="small-guild")
    small.ingest(doc("only", "A depot near Tiraspol was mentioned once."))
    assert [cid.split(":")[0] for cid, _ in small.lexical_search("depot", 3)] == ["only"]
    assert all(p.doc_id == "only" for p in small.search("ammunition depot", k=3))


def test_common_words_are_pruned_from_bm25_in_a_large_index(wide, monkeypatch):
    store, _docs, _ = wide
    lex = store.lexical
    query = "garrisons depot Zhaksylykov Tiraspol"
    assert lex.query_terms(query) == ["garrisons", "depot", "zhaksylykov", "tiraspol"]  # small: all searched
    monkeypatch.setattr(registry_module, "PRUNE_MIN_ROWS", 10)
    monkeypatch.setattr(registry_module, "PRUNE_DF", 0.2)
    # "garrisons" (stemmed like the index's "garrison") and "depot" are in every chunk: they go;
    # "tiraspol" is in 6 of 48, "zhaksylykov" in none (harmless, it matches nothing)
    assert lex.query_terms(query) == ["zhaksylykov", "tiraspol"]
    # when no remaining word occurs, the rarest word that does stays
    assert lex.query_terms("garrison depot Zhaksylykov Qwertyuiop") == [
        "garrison",
        "zhaksylykov",
        "qwertyuiop",
    ]
    assert lex.query_terms("two words") == ["two", "words"]  # two or fewer: nothing to prune
    hits = store.lexical_search("garrisons depot Tiraspol", 10)
    assert len(hits) == 6 and all("Tiraspol" in store._fetch([c])[c][1] for c, _ in hits)


# --------------------------------------------------------------------------------------------
# consistency check and repair


def test_check_finds_and_repairs_missing_stale_and_orphan_vectors(store, embedder):
    store.ingest(doc("keep", "Russian troops guard the Cobasna depot in Transnistria.", date=dt.date(2024, 2, 1)))
    store.ingest(
        doc(
            "hurt",
            "The 201st base in Dushanbe is Russia's largest abroad.",
            "Its units patrolled the Afghan border in 2021.",
            date=dt.date(2021, 8, 1),
            source="Desk",
            tags=["tajikistan"],
        )
    )
    assert store.check().ok
    hurt_ids = lexical_rows(store, "hurt")
    lost = hurt_ids[0]
    before = chroma_rows(store, "hurt")[lost]
    store._collection.delete(ids=[lost])  # a vector lost (as two writers used to lose them)
    vec = embedder.embed(["orphan text"])
    store._collection.upsert(  # an orphan: no such document
        ids=["ghost:000000000000:0000"], embeddings=vec, documents=["orphan text"],
        metadatas=[{"doc_id": "ghost", "version": "000000000000", "date_ord": 0}],
    )
    store._collection.upsert(  # a stale version of a registered document (a crash before its delete)
        ids=["keep:ffffffffffff:0000"], embeddings=vec, documents=["old text"],
        metadatas=[{"doc_id": "keep", "version": "ffffffffffff", "date_ord": 0}],
    )
    report = store.check()
    assert not report.ok
    assert report.missing == {"hurt": [lost]}
    assert report.orphans == ["ghost:000000000000:0000"] and report.stale == ["keep:ffffffffffff:0000"]
    assert (report.documents, report.chunks, report.vectors) == (2, 1 + len(hurt_ids), 1 + len(hurt_ids) + 1)

    fixed = store.check(repair=True)
    assert fixed.repaired == {"missing": 1, "stale": 1, "orphans": 1}
    assert store.check().ok and store.vector_count() == store.count()
    after = chroma_rows(store, "hurt")[lost]
    assert after == before  # the same metadata, rebuilt from the registry alone
    assert any(p.id == lost for p in store.search("201st base in Dushanbe", k=3, mode="vector"))


def test_check_notices_a_damaged_full_text_index(store):
    store.ingest(doc("a", "Russian troops guard the Cobasna depot in Transnistria."))
    store.lexical._db.execute("INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', 1, 'Cobasna')")
    report = store.check()
    assert not report.fts_ok and not report.ok
    assert store.check(repair=True).repaired == {"fts": 1}
    assert store.check().ok and store.search("Cobasna", k=1, mode="lexical")


def test_corpus_check_command(settings, monkeypatch, tmp_path, write_doc):
    from typer.testing import CliRunner

    from bot.cli import app as cli_app

    monkeypatch.setenv("ANALYST_DATA_DIR", str(settings.data_dir))
    path = write_doc(tmp_path / "in", "note.md", "Russian troops guard the Cobasna depot.", title="Cobasna", date="2024-02-01")
    runner = CliRunner()
    assert runner.invoke(cli_app, ["ingest", str(path)]).exit_code == 0
    ok = runner.invoke(cli_app, ["corpus", "check"])
    assert ok.exit_code == 0 and "ok" in ok.output and "1 documents" in ok.output
    store = CorpusStore(settings, shared_embedder())
    try:
        store._collection.delete(where={"doc_id": "note"})
    finally:
        store.close()
    bad = runner.invoke(cli_app, ["corpus", "check"])
    assert bad.exit_code == 1 and "have no vector" in bad.output and "--repair" in bad.output
    fixed = runner.invoke(cli_app, ["corpus", "check", "--repair"])
    assert fixed.exit_code == 0 and "repaired: 1 missing" in fixed.output
    assert runner.invoke(cli_app, ["corpus", "check"]).exit_code == 0


# --------------------------------------------------------------------------------------------
# a document id never silently replaces another document

ARTICLES = {
    "Отчёт.md": "Russian troops guard the Cobasna depot in Transnistria.",
    "Доклад.md": "The 201st base in Dushanbe is Russia's largest abroad.",
    "Справка.md": "Peacekeepers deployed to Nagorno-Karabakh in November 2020.",
    "report (1).md": "The CSTO sent a contingent to Almaty in January 2022.",
    "report-1.md": "Armenia asked the CSTO for help in September 2022.",
    "a/notes.md": "Belarus hosted joint exercises in February 2022.",
    "b/notes.md": "Georgia's South Ossetia war began in August 2008.",
}


def _write_articles(folder):
    for name, body in ARTICLES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\ntitle: {path.stem}\ndate: 2022-01-01\n---\n{body}\n", encoding="utf-8")


def test_files_whose_names_slug_alike_stay_separate_documents(tmp_path, store, settings):
    folder = tmp_path / "in"
    _write_articles(folder)
    paths = expand([str(folder)])
    first = ingest_items(store, [str(folder)], settings)
    assert summarise(first) == {"added": 7, "updated": 0, "skipped": 0, "failed": 0}
    ids = {str(Path(p).relative_to(folder)): o.doc_id for p, o in zip(paths, first, strict=True)}
    assert len(set(ids.values())) == 7
    assert (ids["Отчёт.md"], ids["Доклад.md"], ids["Справка.md"]) == ("отчёт", "доклад", "справка")
    renamed = [o for o in first if o.doc_id not in {"отчёт", "доклад", "справка", "report-1", "notes"}]
    assert len(renamed) == 2  # one of each colliding pair, with a warning that says so
    for o in renamed:
        assert re.fullmatch(r"(report-1|notes)-[0-9a-f]{6}", o.doc_id)
        assert any("belongs to another document; indexed as" in w for w in o.warnings)
    for name, body in ARTICLES.items():  # each text is still there, under its own id
        [hit] = store.search(body, k=1, mode="vector")
        assert (hit.text, hit.doc_id) == (body, ids[name])
    # stable: the same files again are all unchanged, under the same ids
    again = ingest_items(store, [str(folder)], settings)
    assert [o.reason for o in again] == ["unchanged"] * 7
    assert [o.doc_id for o in again] == [o.doc_id for o in first]
    # a change to the renamed one updates it, and only it
    (folder / "report-1.md").write_text("---\ntitle: r\ndate: 2022-01-02\n---\nChanged text.\n", encoding="utf-8")
    [o] = ingest_items(store, [str(folder / "report-1.md")], settings)
    assert o.status == "updated" and o.doc_id == ids["report-1.md"]
    assert len(store.documents()) == 7 and store.check().ok


def test_a_relative_and_an_absolute_path_are_the_same_source(tmp_path, store, settings, monkeypatch):
    tmp_path = tmp_path / "in"
    _write_articles(tmp_path)
    [a] = ingest_items(store, [str(tmp_path / "report-1.md")], settings)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report-1.md").write_text("---\ntitle: r\ndate: 2022-01-02\n---\nChanged.\n", encoding="utf-8")
    [b] = ingest_items(store, ["report-1.md"], settings)
    assert (a.status, b.status, a.doc_id, b.doc_id) == ("added", "updated", "report-1", "report-1")


def test_an_explicit_id_taken_by_another_source_is_refused(tmp_path, store, settings, write_doc):
    one = write_doc(tmp_path / "x", "one.md", "First text about Gyumri.", id="gyumri", title="One", date="2021-01-01")
    two = write_doc(tmp_path / "y", "two.md", "Second text about Gyumri.", id="gyumri", title="Two", date="2021-01-01")
    outcomes = ingest_items(store, [str(one), str(two)], settings)
    assert [o.status for o in outcomes] == ["added", "failed"]
    assert "id 'gyumri' already belongs to another document" in outcomes[1].reason
    assert [p.text for p in store.search("Gyumri", k=5)] == ["First text about Gyumri."]


@pytest.mark.parametrize(
    ("first", "second", "same_doc"),
    [
        ("https://example.org/news?id=1", "https://example.org/news?id=2", False),
        ("https://example.org/a/b", "https://example.org/a-b", False),  # same slug, other page
        ("https://example.org/news", "https://example.org/news", True),
        ("upload:report.md", "upload:report.md", True),  # a changed upload replaces its old version
        ("upload:report.md", "/tmp/report.md", False),
    ],
)
def test_sources_mapping_to_one_id(store, first, second, same_doc):
    a = store.ingest(doc("same-id", "First version of the text.", origin=first))
    b = store.ingest(doc("same-id", "Second, other text.", origin=second))
    assert a.status == "added"
    assert b.status == ("updated" if same_doc else "added")
    assert (a.doc_id == b.doc_id) is same_doc
    assert len(store.documents()) == (1 if same_doc else 2)


# --------------------------------------------------------------------------------------------
# one backend per data directory per process


def test_stores_of_one_data_dir_share_one_backend(settings, embedder):
    a = CorpusStore(settings, embedder)
    b = CorpusStore(settings, embedder, collection="guild-2")
    try:
        assert a.backend is b.backend
        a.ingest(doc("x", "Russian troops guard the Cobasna depot."))
        a.close()
        a.close()  # twice: the backend is given back once
        assert b.ingest(doc("y", "The 201st base is in Dushanbe.")).status == "added"
        assert [p.doc_id for p in b.search("Dushanbe base", k=1)] == ["y"]
    finally:
        b.close()
    c = CorpusStore(settings, embedder)
    try:
        assert c.backend is not a.backend and c.search("Cobasna", k=1)[0].doc_id == "x"
    finally:
        c.close()


def test_a_search_that_fails_on_a_stale_client_reopens_and_succeeds(store, monkeypatch):
    store.ingest(doc("x", "Russian troops guard the Cobasna depot."))
    real, calls = store.vectors.query, []

    def flaky(vec, n, **kw):
        calls.append(n)
        if len(calls) == 1:
            raise StoreUnavailable("The vector store failed the search (InternalError: Error finding id).")
        return real(vec, n, **kw)

    monkeypatch.setattr(store.vectors, "query", flaky)
    epoch = store.backend.epoch
    [hit] = store.search("Cobasna depot", k=1)
    assert hit.doc_id == "x" and store.backend.epoch == epoch + 1 and len(calls) >= 2
