"""A separate process that writes to or reads from a data directory, for tests/test_store_processes.py.

    python tests/store_worker.py precreate DATA_DIR SYNC_THRESHOLD
    python tests/store_worker.py write DATA_DIR TAG N
    python tests/store_worker.py read DATA_DIR N PAUSE_S

Only public entry points that every version of the store has (``CorpusStore(settings, embedder)``,
``ingest(Document)``, ``search``), so that the same tests can be run against older code.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from bot.config import Settings
from bot.corpus.document import Document
from bot.embeddings import shared_embedder

PLACES = ["Gyumri", "Almaty", "Tiraspol", "Sukhumi", "Tskhinvali", "Dushanbe", "Kant", "Sevastopol", "Osh", "Minsk"]
EVENTS = ["moved armour by rail", "received new radar systems", "was placed on alert", "held night drills"]


def make_doc(tag: str, i: int) -> Document:
    """A document of four chunks (each paragraph is long enough to be a chunk of its own)."""
    place = PLACES[i % len(PLACES)]
    paragraphs = [
        f"Report {tag} number {i}: the garrison at {place} {event} during week {i} of the exercise, officials "
        f"in {tag} said. Observers counted vehicles, aircraft and rail cars; the {tag} desk logged item {i}, "
        f"paragraph {j}, and added that nothing else of note happened near {place} that day."
        for j, event in enumerate(EVENTS)
    ]
    return Document(id=f"{tag}-{i:03d}", title=f"{tag} {i}", paragraphs=paragraphs, date=dt.date(2020, 1, 1 + i % 28))


def settings(data_dir: str) -> Settings:
    return Settings(_env_file=None, data_dir=Path(data_dir))  # type: ignore[call-arg]


def precreate(data_dir: str, sync_threshold: int) -> None:
    """The collection, made with a small HNSW sync threshold: chroma then writes its vector index back
    to disk every few chunks, as it does every 1,000 in a real corpus (where two writers collide)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    s = settings(data_dir)
    s.chroma_path.mkdir(parents=True, exist_ok=True)
    client = chromadb.PersistentClient(path=str(s.chroma_path), settings=ChromaSettings(anonymized_telemetry=False))
    emb = shared_embedder()
    client.get_or_create_collection(
        s.collection,
        metadata={"hnsw:space": "cosine", "embedding_model": emb.model_id, "embedding_dim": 384},
        configuration={"hnsw": {"space": "cosine", "sync_threshold": sync_threshold, "batch_size": max(2, sync_threshold // 2)}},
        embedding_function=emb,
    )


def write(data_dir: str, tag: str, n: int) -> None:
    from bot.store import CorpusStore

    store = CorpusStore(settings(data_dir), shared_embedder())
    counts: dict[str, int] = {}
    for i in range(n):
        outcome = store.ingest(make_doc(tag, i))
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        print(json.dumps({"done": i + 1}), flush=True)
    store.close()
    print(json.dumps({"counts": counts}), flush=True)


def read(data_dir: str, n: int, pause_s: float) -> None:
    from bot.store import CorpusStore

    store = CorpusStore(settings(data_dir), shared_embedder())
    queries = ["garrison at Gyumri on alert", "radar systems at Tiraspol", "armour by rail at Osh", "night drills in Minsk"]
    failed, errors, seen = 0, [], set()
    for i in range(n):
        try:
            seen.update(p.doc_id.split("-")[0] for p in store.search(queries[i % len(queries)], k=8))
        except Exception as exc:  # noqa: BLE001 - counted and reported to the test
            failed += 1
            errors.append(str(exc)[:200])
        time.sleep(pause_s)
    store.close()
    print(json.dumps({"searches": n, "failed": failed, "errors": errors[:3], "tags_seen": sorted(seen)}), flush=True)


if __name__ == "__main__":
    cmd, data = sys.argv[1], sys.argv[2]
    if cmd == "precreate":
        precreate(data, int(sys.argv[3]))
    elif cmd == "write":
        write(data, sys.argv[3], int(sys.argv[4]))
    elif cmd == "read":
        read(data, int(sys.argv[3]), float(sys.argv[4]))
    else:
        raise SystemExit(f"unknown command {cmd}")
