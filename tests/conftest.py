"""Shared fixtures. Keep them generic: any test module may use them.

* ``settings``      -- a :class:`bot.config.Settings` whose data directory is this test's ``tmp_path``
                       (no ``.env`` file and no ``ANALYST_*`` variable is read, so a developer's local
                       configuration never leaks into a test). Override fields with ``settings.model_copy``.
* ``embedder``      -- the real int8 ONNX MiniLM embedder, loaded once per session (no mock: retrieval
                       tests must see the real model's behaviour).
* ``store``         -- an empty embedded :class:`bot.store.CorpusStore` on ``settings`` (real chromadb and
                       SQLite in ``tmp_path``), closed at teardown.
* ``make_store``    -- a factory ``make_store(settings=None, collection=None, embedder=None)`` for tests
                       that need several stores or other settings; every store it makes is closed.
* ``seed_path``     -- the pasted framework article, ``seed/000_c89b8965376a3ab4.txt`` in the shared
                       folder beside the repository (:func:`bot.config.shared_dir`; tests using it are
                       skipped when the shared folder is absent).
* ``knowledge_dir`` -- the project's starter corpus, ``knowledge/``.
* ``write_doc``     -- ``write_doc(folder, name, body, **front_matter)`` writes a Markdown file with YAML
                       front matter and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bot.config import REPO_ROOT, Settings, shared_dir
from bot.embeddings import MiniLMEmbedder, shared_embedder
from bot.store import CorpusStore

SEED_DIR = shared_dir() / "seed"
SEED_FILE = "000_c89b8965376a3ab4.txt"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.upper().startswith("ANALYST_"):
            monkeypatch.delenv(name)
    return Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return shared_embedder()


@pytest.fixture
def make_store(settings: Settings, embedder: MiniLMEmbedder) -> Iterator[Callable[..., CorpusStore]]:
    made: list[CorpusStore] = []

    def make(
        settings_: Settings | None = None,
        collection: str | None = None,
        embedder_: MiniLMEmbedder | None = None,
    ) -> CorpusStore:
        s = CorpusStore(settings_ or settings, embedder_ or embedder, collection=collection)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def store(make_store: Callable[..., CorpusStore]) -> CorpusStore:
    return make_store()


@pytest.fixture
def seed_path() -> Path:
    path = SEED_DIR / SEED_FILE
    if not path.is_file():
        pytest.skip(f"seed article not available at {path}")
    return path


@pytest.fixture
def knowledge_dir() -> Path:
    return REPO_ROOT / "knowledge"


def _write_doc(folder: Path, name: str, body: str, **front: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    head = "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" if front else ""
    path.write_text(head + body.strip() + "\n", encoding="utf-8")
    return path


@pytest.fixture
def write_doc() -> Callable[..., Path]:
    return _write_doc
