"""One writer at a time per data directory, across processes and threads.

Embedded chromadb is one process's store: each process keeps the vector index in memory and writes
it back to the data directory, so two processes writing at once lose each other's vectors. Every
write to a data directory (ingest, delete, repair) therefore holds an exclusive lock on the file
``write.lock`` in it. A second writer waits for it, says so once, and gives up with a clear error
after ``timeout_s``. The lock is an OS lock on an open file (``filelock``): a writer killed with
SIGKILL releases it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from bot.errors import StoreUnavailable

log = logging.getLogger(__name__)

LOCK_FILE = "write.lock"
NOTIFY_EVERY_S = 60.0  # a writer that keeps meeting another one says so at most this often


class StoreBusy(StoreUnavailable):
    """Another process held the data directory's write lock for longer than the wait allowed."""


class WriterLock:
    """An exclusive, re-entrant lock over one data directory."""

    def __init__(self, data_dir: Path, *, timeout_s: float, notify: Callable[[str], None] | None = None) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self.timeout_s = timeout_s
        self.notify = notify or (lambda msg: log.warning("%s", msg))
        self._threads = threading.RLock()  # threads of this process queue here, silently
        self._file = FileLock(str(self.path), thread_local=False)
        self._depth = 0
        self._told_at: float | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            if self._depth == 0:
                self._acquire()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file.release()

    def _acquire(self) -> None:
        try:
            self._file.acquire(timeout=0)
            return
        except Timeout:
            pass
        now = time.monotonic()
        if self._told_at is None or now - self._told_at >= NOTIFY_EVERY_S:
            self._told_at = now
            self.notify(f"another analyst process is writing to {self.data_dir}; waiting (up to {self.timeout_s:g} s)…")
        try:
            self._file.acquire(timeout=self.timeout_s)
        except Timeout as exc:
            raise StoreBusy(
                f"Another analyst process has been writing to {self.data_dir} for over {self.timeout_s:g} s; "
                "try again when it has finished (or raise ANALYST_WRITE_LOCK_TIMEOUT_S)."
            ) from exc
