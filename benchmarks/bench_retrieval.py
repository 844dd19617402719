"""Retrieval benchmark: ingest throughput and hybrid query latency at 10,000 and 100,000 chunks.

    .venv/bin/python benchmarks/bench_retrieval.py            # full run (about 10 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_retrieval.py --quick    # smaller run (a couple of minutes)

What it measures (each stage runs in its own subprocess, so ``peak_rss_mb`` is that stage's own peak,
from ``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

* ``ingest``: documents generated from ``knowledge/`` and ``eval/dev/docs`` of the shared folder beside the repository (sentences
  and paragraphs recombined, with varied titles, dates, sources and tags) ingested through
  ``CorpusStore.ingest`` with the real embedder (chunking, embedding, chroma write, registry swap);
  chunks/s and where the time goes. Aim: >= 20 chunks/s.
* ``ingest-chroma-onnx``: the same pipeline on a subset of the same documents, with chromadb's own
  ``ONNXMiniLM_L6_V2`` embedding function in place of ours, loaded from the same packaged int8 model
  and tokenizer (laid out in a temporary folder as that class expects; it pads every input to 256
  word pieces). Also the query-embedding latency of both, one question at a time.
* ``query-<N>``: a store of N chunks filled in bulk (a few thousand passages embedded for real by the
  ingest stage, the rest are those vectors plus small noise, re-normalised, each with its own distinct
  recombined text; lexical rows inserted in one transaction), then hybrid searches (query embedding
  included) p50/p95, with the split between embedding, vector search, BM25 and fetch + dedup, plus
  vector-only, lexical-only and an ``as_of``-filtered hybrid search. Aim: p95 <= 50 ms at 100,000.

Results are printed and written as JSON to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings, shared_dir  # noqa: E402
from bot.corpus.document import Document  # noqa: E402
from bot.corpus.loaders import load_file  # noqa: E402
from bot.embeddings import TOKENIZER_PATH, MiniLMEmbedder, shared_embedder  # noqa: E402
from bot.store import CorpusStore, LexicalIndex, SearchFilter, date_ord  # noqa: E402

SOURCES_DIRS = [ROOT / "knowledge", shared_dir() / "eval" / "dev" / "docs"]
OUT_DIR = ROOT / "benchmarks" / "out"
SOURCES = [
    "Desk note",
    "Wire",
    "Analysis",
    "Foreign Policy",
    "Regional press",
    "Think tank brief",
    "Field report",
]
PLACES = [
    "Kazakhstan", "Armenia", "Belarus", "Moldova", "Georgia", "Ukraine", "Kyrgyzstan", "Tajikistan",
    "Azerbaijan", "Transnistria", "Abkhazia", "South Ossetia", "Crimea", "Donbas", "Nagorno-Karabakh",
]  # fmt: skip
TOPICS = [
    "unrest", "border clashes", "troop movements", "sanctions outlook", "elections", "peacekeeping",
    "basing rights", "energy dispute", "exercises", "security guarantees", "leadership crisis", "protests",
]  # fmt: skip
QUESTIONS_FILE = ROOT / "benchmarks" / "retrieval_questions.yaml"
EXTRA_QUESTIONS = [
    "Will Russia send troops into Kazakhstan?",
    "Will Russia or the CSTO send troops to defend Armenia against Azerbaijan?",
    "Would Russia intervene militarily in Belarus to keep Lukashenko in power?",
    "Will Russia send forces into Moldova through Transnistria?",
    "What sanctions would follow a Russian intervention?",
    "Is a Russian deployment to southern Kyrgyzstan technically feasible?",
]


# ------------------------------------------------------------------------------------------------
# helpers


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def summary_ms(xs: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in xs]
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


class Timer:
    """Accumulates wall time per label; ``wrap`` times a callable."""

    def __init__(self) -> None:
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, label: str, fn: Callable) -> Callable:
        def timed(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self.total[label] += time.perf_counter() - t
                self.calls[label] += 1

        return timed

    def reset(self) -> None:
        self.total.clear()
        self.calls.clear()


class TimedCollection:
    """A chroma collection whose write and read calls are timed (chroma's models refuse new attributes)."""

    def __init__(self, col: Any, timer: Timer) -> None:
        self._col = col
        for name in ("upsert", "add", "delete", "query", "get"):
            setattr(self, name, timer.wrap(f"chroma.{name}", getattr(col, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._col, name)


def load_questions() -> list[str]:
    import yaml

    items = yaml.safe_load(QUESTIONS_FILE.read_text(encoding="utf-8")) if QUESTIONS_FILE.exists() else []
    return [q["question"] for q in items or []] + EXTRA_QUESTIONS


# ------------------------------------------------------------------------------------------------
# real-looking text


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘(])")


class TextPool:
    """Paragraphs and sentences of the real documents, recombined into new ones."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.paragraphs: list[list[str]] = []  # each paragraph as its sentences
        for folder in SOURCES_DIRS:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.md")):
                with contextlib.suppress(Exception):
                    for para in load_file(path, max_bytes=10_000_000).paragraphs:
                        sents = [s.strip() for s in _SENT.split(para) if len(s.split()) >= 4]
                        if sents:
                            self.paragraphs.append(sents)
        if not self.paragraphs:
            raise SystemExit("no source documents found in knowledge/")
        self.sentences = [s for p in self.paragraphs for s in p]

    def paragraph(self, rng: random.Random) -> str:
        """A paragraph of 3-7 sentences: a real paragraph's sentences, reordered, with one or two borrowed."""
        base = list(rng.choice(self.paragraphs))
        rng.shuffle(base)
        extra = [rng.choice(self.sentences) for _ in range(rng.randint(1, 2))]
        sents = (base + extra)[: rng.randint(3, 7)]
        return " ".join(sents)

    def document(self, n: int, rng: random.Random) -> Document:
        place, topic = rng.choice(PLACES), rng.choice(TOPICS)
        date = dt.date(1992, 1, 1) + dt.timedelta(days=rng.randrange(34 * 365))
        tags = sorted({place.lower(), topic.split()[0].lower(), rng.choice(PLACES).lower()})
        return Document(
            id=f"gen-{n:06d}",
            title=f"{place}: {topic} ({['brief', 'note', 'analysis', 'report'][n % 4]} {n})",
            paragraphs=[self.paragraph(rng) for _ in range(rng.randint(3, 8))],
            date=date,
            source=rng.choice(SOURCES),
            url=f"https://example.org/{place.lower().replace(' ', '-')}/{n}",
            tags=tags,
            origin=f"bench:{n}",
        )


def make_settings(data_dir: Path, **kw: Any) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, **kw)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------------
# chromadb's own embedding function, from the packaged model


def chroma_onnx_function(workdir: Path):
    """chromadb's ``ONNXMiniLM_L6_V2`` pointed at the packaged int8 model (no download)."""
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    ours = shared_embedder()
    folder = workdir / "chroma-onnx"
    onnx = folder / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME
    onnx.mkdir(parents=True, exist_ok=True)
    links = {"model.onnx": ours.model_path, "tokenizer.json": TOKENIZER_PATH}
    for name, target in links.items():
        if not (onnx / name).exists():
            (onnx / name).symlink_to(target)
    # files the class checks for (it reads only model.onnx and tokenizer.json)
    vocab = json.loads(TOKENIZER_PATH.read_text(encoding="utf-8"))["model"]["vocab"]
    (onnx / "vocab.txt").write_text("\n".join(sorted(vocab, key=vocab.get)) + "\n", encoding="utf-8")
    (onnx / "config.json").write_text(
        json.dumps({"model_type": "bert", "hidden_size": 384}), encoding="utf-8"
    )
    (onnx / "special_tokens_map.json").write_text(
        json.dumps({"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"}),
        encoding="utf-8",
    )
    (onnx / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    ef = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    ef.DOWNLOAD_PATH = folder  # type: ignore[misc]  # instance attribute shadows the class's ~/.cache path
    ef._download_model_if_not_exists()  # finds every file: nothing is fetched
    return ef


class ChromaOnnxEmbedder(MiniLMEmbedder):
    """Our embedder's interface (token counts for chunking, identity), vectors from chromadb's function."""

    def __init__(self, ef: Any) -> None:  # noqa: D107 - shares the tokenizer for chunking only
        ours = shared_embedder()
        self.__dict__.update(ours.__dict__)
        self._ef = ef
        self.model_id = "chroma-onnx-minilm:" + ours.model_id.split(":")[1]

    def embed(self, texts):  # type: ignore[override]
        if not len(texts):
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(self._ef(list(texts)), dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# stages


def stage_ingest(args: dict) -> dict:
    workdir = Path(args["workdir"])
    pool = TextPool()
    rng = random.Random(11)
    emb = shared_embedder()
    emb.embed(["warm up the session"])
    timer = Timer()
    settings = make_settings(workdir / "ingest")
    store = CorpusStore(settings, emb)
    store._collection = TimedCollection(store._collection, timer)
    emb_proxy = _TimedEmbedder(emb, timer)
    store.embedder = emb_proxy  # type: ignore[assignment]
    orig_tx = LexicalIndex.transaction
    LexicalIndex.transaction = lambda self: _timed_cm(timer, "sqlite.swap", orig_tx(self))  # type: ignore[method-assign]
    docs: list[Document] = []
    chunks = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = 0
    while chunks < args["chunks"]:
        doc = pool.document(n, rng)
        n += 1
        t = time.perf_counter()
        out = store.ingest(doc)
        timer.total["ingest.total"] += time.perf_counter() - t
        chunks += out.chunks
        docs.append(doc)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    LexicalIndex.transaction = orig_tx  # type: ignore[method-assign]
    # keep the real passages and their vectors for the bulk stages
    got = store._collection.get(include=["documents", "embeddings"])
    np.savez(
        workdir / "base.npz",
        vectors=np.asarray(got["embeddings"], dtype=np.float32),
        texts=np.asarray(got["documents"], dtype=object),
    )
    tokens = [emb.count_tokens(t) for t in got["documents"][:500]]
    breakdown = {k: round(v, 2) for k, v in sorted(timer.total.items())}
    return {
        "documents": len(docs),
        "chunks": chunks,
        "seconds": round(elapsed, 2),
        "chunks_per_s": round(chunks / elapsed, 1),
        "cpu_s": round(cpu, 1),
        "chunks_per_cpu_s": round(chunks / cpu, 1),
        "mean_chunk_tokens": round(statistics.fmean(tokens), 1),
        "breakdown_s": breakdown,
        "peak_rss_mb": peak_rss_mb(),
    }


class _TimedEmbedder:
    def __init__(self, emb: MiniLMEmbedder, timer: Timer) -> None:
        self._emb = emb
        self.model_id = emb.model_id
        self.embed = timer.wrap("embed", emb.embed)
        self.count_tokens = timer.wrap("chunking.count_tokens", emb.count_tokens)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._emb, name)


@contextlib.contextmanager
def _timed_cm(timer: Timer, label: str, cm):
    t = time.perf_counter()
    try:
        with cm as v:
            yield v
    finally:
        timer.total[label] += time.perf_counter() - t


def stage_ingest_chroma_onnx(args: dict) -> dict:
    workdir = Path(args["workdir"])
    pool = TextPool()
    rng = random.Random(11)  # the same documents as the ingest stage, in the same order
    ef = chroma_onnx_function(workdir)
    ours = shared_embedder()
    theirs = ChromaOnnxEmbedder(ef)
    ours.embed(["warm up"])
    theirs.embed(["warm up"])

    # query embedding, one question at a time, both functions
    questions = load_questions()
    q_lat: dict[str, list[float]] = {"ours": [], "chroma_onnx": []}
    for _ in range(args["rounds"]):
        for q in questions:
            for name, e in (("ours", ours), ("chroma_onnx", theirs)):
                t = time.perf_counter()
                e.embed([q])
                q_lat[name].append(time.perf_counter() - t)
    # agreement of the two functions on the same texts (same model weights, different padding)
    sample = [pool.paragraph(random.Random(i)) for i in range(32)]
    cos = np.sum(ours.embed(sample) * theirs.embed(sample), axis=1)

    settings = make_settings(workdir / "ingest-chroma-onnx", collection="chroma-onnx")
    store = CorpusStore(settings, theirs)  # type: ignore[arg-type]
    chunks, n = 0, 0
    t0 = time.perf_counter()
    while chunks < args["chunks"]:
        chunks += store.ingest(pool.document(n, rng)).chunks
        n += 1
    elapsed = time.perf_counter() - t0
    # ours on exactly the same documents, in this process, for a like-for-like figure
    rng = random.Random(11)
    store2 = CorpusStore(make_settings(workdir / "ingest-ours-subset"), ours)
    chunks2 = 0
    t1 = time.perf_counter()
    for i in range(n):
        chunks2 += store2.ingest(pool.document(i, rng)).chunks
    elapsed2 = time.perf_counter() - t1
    return {
        "documents": n,
        "chroma_onnx": {
            "chunks": chunks,
            "seconds": round(elapsed, 2),
            "chunks_per_s": round(chunks / elapsed, 1),
        },
        "ours_same_docs": {
            "chunks": chunks2,
            "seconds": round(elapsed2, 2),
            "chunks_per_s": round(chunks2 / elapsed2, 1),
        },
        "query_embedding": {k: summary_ms(v) for k, v in q_lat.items()},
        "cosine_ours_vs_chroma_onnx": {
            "min": round(float(cos.min()), 4),
            "mean": round(float(cos.mean()), 4),
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def build_bulk_store(
    workdir: Path, n_chunks: int, pool: TextPool, settings: Settings
) -> tuple[CorpusStore, dict]:
    """N chunks in chroma + lexical index, with precomputed vectors (real ones plus noise)."""
    base = np.load(workdir / "base.npz", allow_pickle=True)
    vectors: np.ndarray = base["vectors"]
    rng = np.random.default_rng(5)
    prng = random.Random(5)
    store = CorpusStore(settings, shared_embedder())
    chunks_per_doc = 10
    batch = 5000
    t0 = time.perf_counter()
    t_chroma = 0.0
    for start in range(0, n_chunks, batch):
        idx = np.arange(start, min(start + batch, n_chunks))
        vecs = vectors[idx % len(vectors)] + rng.normal(0, 0.025, size=(len(idx), vectors.shape[1])).astype(
            np.float32
        )
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ids, texts, metas = [], [], []
        for i in idx:
            d = int(i) // chunks_per_doc
            date = dt.date(1992, 1, 1) + dt.timedelta(days=(d * 7919) % (34 * 365))
            place = PLACES[d % len(PLACES)]
            ids.append(f"bulk-{d:06d}:v1:{int(i) % chunks_per_doc:04d}")
            texts.append(pool.paragraph(prng) + f" (Ref. {i}.)")
            m = {
                "doc_id": f"bulk-{d:06d}",
                "version": "v1",
                "title": f"{place}: bulk document {d}",
                "date": date.isoformat(),
                "date_ord": date_ord(date),
                "source": SOURCES[d % len(SOURCES)],
                "source_key": SOURCES[d % len(SOURCES)].lower(),
                "url": f"https://example.org/bulk/{d}",
                "p_start": int(i) % chunks_per_doc + 1,
                "p_end": int(i) % chunks_per_doc + 1,
                "position": int(i) % chunks_per_doc,
                "tags": [place.lower(), TOPICS[d % len(TOPICS)].split()[0]],
            }
            metas.append(m)
        t = time.perf_counter()
        store._collection.add(ids=ids, embeddings=vecs, documents=texts, metadatas=metas)
        t_chroma += time.perf_counter() - t
        with store.lexical.transaction() as db:
            db.executemany(
                "INSERT INTO chunks (collection, chunk_id, doc_id, date_ord, source_key, tags, text) VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        store.name,
                        cid,
                        m["doc_id"],
                        m["date_ord"],
                        m["source_key"],
                        "|" + "|".join(m["tags"]) + "|",
                        txt,
                    )
                    for cid, m, txt in zip(ids, metas, texts, strict=True)
                ],
            )
            docs = {m["doc_id"]: m for m in metas}
            db.executemany(
                "INSERT OR REPLACE INTO documents (collection, doc_id, version, content_hash, title, date, source, url, "
                "tags, origin, chunks, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        store.name,
                        d,
                        "v1",
                        f"hash-{d}",
                        m["title"],
                        m["date"],
                        m["source"],
                        m["url"],
                        json.dumps(m["tags"]),
                        "bench",
                        chunks_per_doc,
                        "2025-01-01T00:00:00",
                    )
                    for d, m in docs.items()
                ],  # fmt: skip
            )
    elapsed = time.perf_counter() - t0
    return store, {"seconds": round(elapsed, 1), "chroma_add_s": round(t_chroma, 1)}


def stage_query(args: dict) -> dict:
    workdir = Path(args["workdir"])
    n = args["n"]
    pool = TextPool(seed=n)
    settings = make_settings(workdir / f"query-{n}")
    store, build = build_bulk_store(workdir, n, pool, settings)
    assert store.count() == n and store.vector_count() == n, (store.count(), store.vector_count())
    emb = store.embedder
    questions = load_questions()
    timer = Timer()
    store.vector_candidates = timer.wrap("vector_candidates", store.vector_candidates)  # type: ignore[method-assign]
    store.lexical_search = timer.wrap("lexical_search", store.lexical_search)  # type: ignore[method-assign]
    store._fetch = timer.wrap("fetch", store._fetch)  # type: ignore[method-assign]
    store._collection = TimedCollection(store._collection, timer)
    # warm up (first queries load the HNSW index and SQLite pages)
    for q in questions[:10]:
        store.search(q, k=8)
    timer.reset()

    results: dict[str, Any] = {"chunks": n, "build": build}
    hybrid: list[float] = []
    hybrid_cpu: list[float] = []
    embed_t: list[float] = []
    parts: dict[str, list[float]] = defaultdict(list)
    for _ in range(args["rounds"]):
        for q in questions:
            before = dict(timer.total)
            t, c = time.perf_counter(), time.process_time()
            vec = emb.embed([q])[0]
            t_emb = time.perf_counter() - t
            got = store.search(q, k=8, query_vector=vec)
            total = time.perf_counter() - t
            assert got, q
            hybrid.append(total)
            hybrid_cpu.append(time.process_time() - c)
            embed_t.append(t_emb)
            for label in ("vector_candidates", "lexical_search", "fetch", "chroma.query", "chroma.get"):
                parts[label].append(timer.total.get(label, 0.0) - before.get(label, 0.0))
    results["hybrid_with_embedding"] = summary_ms(hybrid)
    results["hybrid_with_embedding_cpu"] = summary_ms(hybrid_cpu)  # process CPU time (all threads)
    results["breakdown"] = {"embed": summary_ms(embed_t), **{k: summary_ms(v) for k, v in parts.items()}}

    for mode in ("vector", "lexical"):
        lat = []
        for q in questions:
            t = time.perf_counter()
            store.search(q, k=8, mode=mode)  # type: ignore[arg-type]
            lat.append(time.perf_counter() - t)
        results[f"{mode}_only_with_embedding" if mode == "vector" else "lexical_only"] = summary_ms(lat)
    flt = SearchFilter(as_of=dt.date(2014, 3, 1))
    lat = []
    for q in questions:
        t = time.perf_counter()
        got = store.search(q, k=8, flt=flt)
        lat.append(time.perf_counter() - t)
        assert all(p.date and p.date <= flt.as_of for p in got)
    results["hybrid_as_of_filter"] = summary_ms(lat)
    results["peak_rss_mb"] = peak_rss_mb()
    return results


STAGES = {"ingest": stage_ingest, "ingest-chroma-onnx": stage_ingest_chroma_onnx, "query": stage_query}


# ------------------------------------------------------------------------------------------------
# driver


def run_stage(name: str, args: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--stage-args", json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    load_before = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"stage {name} failed ({proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["stage_wall_s"] = round(time.perf_counter() - t, 1)
    # other work on the machine inflates wall-clock figures: keep the 1-minute load with them
    out["load_avg_1min"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smaller run: 600 chunks ingested, 2,000 and 10,000 chunks queried",
    )
    ap.add_argument(
        "--ingest-chunks", type=int, help="chunks to ingest through the real pipeline (default 3000)"
    )
    ap.add_argument("--sizes", help="comma-separated store sizes for the query stage (default 10000,100000)")
    ap.add_argument("--rounds", type=int, help="passes over the question set per size (default 3)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--stage-args", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.stage:
        print(json.dumps(STAGES[a.stage](json.loads(a.stage_args))))
        return

    ingest_chunks = a.ingest_chunks or (600 if a.quick else 3000)
    sizes = (
        [int(s) for s in a.sizes.split(",")]
        if a.sizes
        else ([2_000, 10_000] if a.quick else [10_000, 100_000])
    )
    rounds = a.rounds or (1 if a.quick else 3)
    report: dict[str, Any] = {
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "settings": {
            k: getattr(Settings(_env_file=None), k)
            for k in ("k", "candidates", "fusion", "vector_weight", "rrf_k", "dedup_similarity")
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        print(f"ingest: {ingest_chunks} chunks through the real pipeline ...", flush=True)
        report["ingest"] = r = run_stage("ingest", {"workdir": tmp, "chunks": ingest_chunks})
        print(f"  {r['chunks']} chunks in {r['seconds']} s = {r['chunks_per_s']} chunks/s  (aim >= 20); "
              f"{r['chunks_per_cpu_s']} chunks per CPU-second; peak RSS {r['peak_rss_mb']} MB; "
              f"load {r['load_avg_1min']}", flush=True)  # fmt: skip
        print(f"  breakdown (s): {r['breakdown_s']}", flush=True)

        sub = max(200, ingest_chunks // 6)
        print(f"ingest with chromadb's ONNXMiniLM_L6_V2 (same packaged model): {sub} chunks ...", flush=True)
        report["chroma_onnx"] = r = run_stage(
            "ingest-chroma-onnx", {"workdir": tmp, "chunks": sub, "rounds": rounds}
        )
        print(f"  chroma ONNX: {r['chroma_onnx']['chunks_per_s']} chunks/s; ours on the same documents: "
              f"{r['ours_same_docs']['chunks_per_s']} chunks/s", flush=True)  # fmt: skip
        qe = r["query_embedding"]
        print(f"  query embedding p50/p95: ours {qe['ours']['p50_ms']}/{qe['ours']['p95_ms']} ms, chroma ONNX "
              f"{qe['chroma_onnx']['p50_ms']}/{qe['chroma_onnx']['p95_ms']} ms; cosine agreement "
              f"min {r['cosine_ours_vs_chroma_onnx']['min']}", flush=True)  # fmt: skip

        for n in sizes:
            print(
                f"query latency at {n:,} chunks (bulk build, then {rounds} pass(es) over the questions) ...",
                flush=True,
            )
            report[f"query_{n}"] = r = run_stage("query", {"workdir": tmp, "n": n, "rounds": rounds})
            h = r["hybrid_with_embedding"]
            hc = r["hybrid_with_embedding_cpu"]
            print(f"  built in {r['build']['seconds']} s; hybrid incl. embedding p50 {h['p50_ms']} ms, "
                  f"p95 {h['p95_ms']} ms (aim <= 50 at 100,000); CPU p50/p95 {hc['p50_ms']}/{hc['p95_ms']} ms; "
                  f"peak RSS {r['peak_rss_mb']} MB; load {r['load_avg_1min']}", flush=True)  # fmt: skip
            b = r["breakdown"]
            print(
                "  p50/p95 ms: " + ", ".join(f"{k} {v['p50_ms']}/{v['p95_ms']}" for k, v in b.items()),
                flush=True,
            )
            print(f"  vector-only {r['vector_only_with_embedding']['p95_ms']} ms p95, lexical-only "
                  f"{r['lexical_only']['p95_ms']} ms p95, as_of-filtered hybrid {r['hybrid_as_of_filter']['p95_ms']} "
                  "ms p95", flush=True)  # fmt: skip

    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"bench_retrieval{'_quick' if a.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
