"""The built wheel starts: installed (not editable) into a fresh virtual environment, run from
another folder, it finds its prompts, framework and starter corpus as package data, indexes that
corpus and answers a question.

The fresh environment gets the wheel alone (``--no-deps``); the dependencies come from the
environment running the tests, through a ``.pth`` file listing its site-packages. Why not the
alternatives: installing the dependencies anew takes minutes and about a gigabyte even from pip's
cache; ``--system-site-packages`` would expose the system interpreter's packages (not the
project's dependency set) and never the test environment's. A ``.pth`` path line comes after the
fresh environment's own site-packages, so the wheel's ``bot`` is the one imported (checked below),
and the test environment's editable install of the project is not activated (the ``.pth`` files
of a directory added that way are not run).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bot.config import REPO_ROOT

pytestmark = pytest.mark.slow


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd[:3]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installed_elsewhere_ingests_and_answers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANALYST_") and k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    dist = tmp_path / "dist"
    # setuptools builds in the checkout (build/, *.egg-info): remove what this build left there, so
    # that no stale copy of a module can slip into a later wheel
    leftovers = [REPO_ROOT / "build", REPO_ROOT / "analyst_bot.egg-info"]
    existed = {p for p in leftovers if p.exists()}
    try:
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO_ROOT)], cwd=tmp_path, env=env)
    finally:
        for p in leftovers:
            if p not in existed:
                shutil.rmtree(p, ignore_errors=True)
    [wheel] = dist.glob("analyst_bot-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    purelib = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path, env=env)
        .stdout.strip()
    )
    deps = {*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_analyst_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n", encoding="utf-8")
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        cwd=tmp_path, env=env,
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(
        [str(python), "-c", "import bot, bot.config as c; print(bot.__file__); print(c.packaged_dir('knowledge'));"
         " print(c.Settings(_env_file=None).prompts_dir)"],
        cwd=elsewhere, env=env,
    ).stdout.split()
    bot_file, knowledge, prompts = (Path(p) for p in where)
    assert bot_file.is_relative_to(purelib), bot_file  # the wheel's copy, not the checkout's
    assert knowledge.is_relative_to(purelib) and prompts.is_relative_to(purelib), (knowledge, prompts)

    analyst = str(venv / "bin" / "analyst")
    env["ANALYST_DATA_DIR"] = str(elsewhere / "data")
    ingest = run([analyst, "ingest", str(knowledge)], cwd=elsewhere, env=env)
    assert "26 added, 0 updated, 0 skipped, 0 failed" in ingest.stdout, ingest.stdout
    ask = run(
        [analyst, "ask", "Will Russia send troops into Kazakhstan?", "--engine", "indicators", "--json"],
        cwd=elsewhere, env=env,
    )
    assert '"engine": "indicators"' in ask.stdout and '"likelihood"' in ask.stdout, ask.stdout[-2000:]
    listing = run([analyst, "corpus", "list"], cwd=elsewhere, env=env)
    assert "26 documents" in listing.stdout
