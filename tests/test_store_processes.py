"""Several processes on one data directory: real embedded chromadb, real subprocesses.

* two ``ingest``-like writers at once lose no vector (the old store lost them: chroma's embedded
  vector index is one process's, and each writer wrote its own copy back over the other's);
* a long-running reader (as ``analyst serve`` is) keeps answering while another process ingests,
  and sees the new documents;
* a writer killed with SIGKILL leaves nothing that ``check`` cannot find and ``check(repair=True)``
  cannot fix, and the next ingest completes.

The workers are ``tests/store_worker.py``. The collection is made with a small HNSW sync threshold
so that chroma writes its vector index back every few chunks, as it does every 1,000 in a real
corpus: that is where two writers collide, here within seconds instead of minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import REPO_ROOT, Settings
from bot.store import CorpusStore

WORKER = Path(__file__).with_name("store_worker.py")


def _env() -> dict[str, str]:
    root = os.environ.get("ANALYST_TEST_CODE_ROOT", str(REPO_ROOT))  # another checkout's code, to compare
    return {**os.environ, "PYTHONPATH": root, "HF_HUB_OFFLINE": "1"}


def worker(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1]), err


def run(*args: object) -> dict:
    return finish(worker(*args))[0]


def every_chunk_has_its_vector(store: CorpusStore) -> None:
    """Each chunk in the lexical index has a vector that chroma can return and that its own nearest
    neighbour search finds (uses only what every version of the store had)."""
    ids = [r[0] for r in store.lexical._db.execute("SELECT chunk_id FROM chunks WHERE collection=?", (store.name,))]
    assert ids
    got = store._collection.get(ids=ids, include=["embeddings"])
    assert sorted(got["ids"]) == sorted(ids)
    lost = [
        cid
        for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
        if store._collection.query(query_embeddings=[vec], n_results=1, include=[])["ids"][0][:1] != [cid]
    ]
    assert lost == []
    for q in ("garrison at Gyumri on alert", "radar systems at Tiraspol"):
        assert store.search(q, k=5)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    run_precreate = worker("precreate", d, 8)
    assert run_precreate.wait(120) == 0, run_precreate.stderr.read() if run_precreate.stderr else ""
    return d


def _store(data_dir: Path, embedder) -> CorpusStore:
    return CorpusStore(Settings(_env_file=None, data_dir=data_dir), embedder)  # type: ignore[call-arg]


def test_two_writer_processes_lose_no_vector(data_dir, embedder):
    a, b = worker("write", data_dir, "alpha", 24), worker("write", data_dir, "beta", 24)
    (ra, _), (rb, _) = finish(a), finish(b)
    assert ra["counts"] == rb["counts"] == {"added": 24}
    store = _store(data_dir, embedder)
    try:
        assert store.count() == 2 * 24 * 4
        every_chunk_has_its_vector(store)
        report = store.check()
        assert report.ok, report
        assert (report.documents, report.chunks, report.vectors) == (48, 192, 192)
    finally:
        store.close()


def test_a_reader_process_keeps_answering_while_another_ingests(data_dir, embedder):
    assert run("write", data_dir, "alpha", 6)["counts"] == {"added": 6}
    reader = worker("read", data_dir, 40, 0.25)
    time.sleep(2.0)  # the reader has opened the store and searched before the writer starts
    writer = worker("write", data_dir, "beta", 30)
    assert finish(writer)[0]["counts"] == {"added": 30}
    got, _ = finish(reader)
    assert got["failed"] == 0, got["errors"]
    assert "beta" in got["tags_seen"]  # it saw what the other process added, without a restart
    store = _store(data_dir, embedder)
    try:
        assert store.check().ok
    finally:
        store.close()


def test_check_and_repair_after_kill_9_during_ingest(data_dir, embedder):
    for kill_after in (2, 7, 12):
        proc = worker("write", data_dir, "gamma", 40)
        assert proc.stdout is not None
        for _ in range(kill_after):
            assert proc.stdout.readline()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    store = _store(data_dir, embedder)
    try:
        report = store.check()
        assert not report.missing and not report.miscounted and report.fts_ok, report  # at most stale vectors
        fixed = store.check(repair=True)
        assert fixed.repaired.get("missing", 0) == 0
        after = store.check()
        assert after.ok, after
        assert after.vectors == after.chunks == store.count()
        every_chunk_has_its_vector(store)
    finally:
        store.close()
    got = run("write", data_dir, "gamma", 40)["counts"]  # the interrupted ingest completes
    assert got.get("added", 0) + got.get("skipped", 0) == 40 and got.get("added", 0) >= 40 - 12
    store = _store(data_dir, embedder)
    try:
        assert store.check().ok and store.count() == 40 * 4
    finally:
        store.close()


# --------------------------------------------------------------------------------------------
# the lock itself

HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(float(sys.argv[2]))
"""


def test_a_second_writer_waits_says_so_and_gives_up_with_a_clear_error(tmp_path):
    from bot.store import StoreBusy, WriterLock

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "write.lock"), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        told: list[str] = []
        lock = WriterLock(tmp_path, timeout_s=0.5, notify=told.append)
        t = time.monotonic()
        with pytest.raises(StoreBusy, match="Another analyst process has been writing to .* for over 0.5 s"), lock.held():
            pass
        assert 0.4 < time.monotonic() - t < 5
        assert told == [f"another analyst process is writing to {tmp_path}; waiting (up to 0.5 s)…"]
    finally:
        holder.kill()
        holder.wait()
    with lock.held(), lock.held():  # free again, and re-entrant
        pass


def test_a_second_writer_gets_the_lock_when_the_first_is_killed(tmp_path):
    from bot.store import WriterLock

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "write.lock"), "30"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    told: list[str] = []
    lock = WriterLock(tmp_path, timeout_s=20, notify=told.append)
    t = time.monotonic()
    killer = subprocess.Popen([sys.executable, "-c", f"import os,time,signal; time.sleep(1); os.kill({holder.pid}, signal.SIGKILL)"])
    with lock.held():
        waited = time.monotonic() - t
    killer.wait()
    holder.wait()
    assert 0.5 < waited < 15 and len(told) == 1
