"""Pipeline overhead and indicator-engine latency on the starter corpus.

* "pipeline without the LLM": the LLM path with an LLM that answers instantly (a valid structured
  answer built from the schema), so the time is retrieval + prompt building + validation + scoring
  + rendering (rich for the terminal, and the Discord embeds when that renderer is present).
  Aim: p95 <= 150 ms.
* "indicator engine": the no-LLM engine end to end (retrieval with per-variable queries, sentence
  embedding, indicator matching, scoring, rendering). Aim: p95 <= 2 s. Measured cold (first time a
  question is seen: sentence vectors not cached) and warm.

    .venv/bin/python benchmarks/bench_pipeline.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from bot.app import App
from bot.config import Settings
from bot.core.models import VARIABLES
from bot.ingest import ingest_items
from bot.terminal import render_assessment

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Will Russia send troops into Kazakhstan?",
    "Will Russia or the CSTO send troops to defend Armenia against Azerbaijan?",
    "Would Russia intervene militarily in Belarus to keep Lukashenko in power?",
    "Will Russia send forces into Moldova through Transnistria?",
    "Will Russia use force in Georgia over South Ossetia?",
    "Will Russia send troops to southern Kyrgyzstan?",
    "Will Russia seize Crimea by force?",
    "Will Russian peacekeepers fight in Nagorno-Karabakh?",
]


class InstantLLM:
    """Answers at once with a valid, cited structured output: isolates the pipeline's own time."""

    model_name = "instant:bench"

    def generate(self, system: str, prompt: str, schema):
        var_model = schema.model_fields["trigger"].annotation
        v = var_model(insufficient_evidence=False, score=3, confidence="medium", rationale="r " * 40, citations=[1, 2])
        return schema(subject="bench", summary="s " * 80, **{k: v for k in VARIABLES})


def _render(a, sink: Console) -> None:
    sink.print(render_assessment(a))
    try:
        from bot.discord.render import render_assessment as discord_render  # optional: the bot's renderer
    except ImportError:
        return
    discord_render(a)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sink = Console(file=io.StringIO(), width=120)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)
        app = App(settings, llm=InstantLLM())
        t = time.perf_counter()
        ingest_items(app.store(), [str(ROOT / "knowledge")], settings)
        print(f"indexed knowledge/ ({app.store().count()} chunks) in {time.perf_counter() - t:.1f} s")

        pipe: list[float] = []
        for _ in range(args.rounds):
            for q in QUESTIONS:
                t0 = time.perf_counter()
                a = app.assess(q, engine="llm")
                _render(a, sink)
                pipe.append((time.perf_counter() - t0) * 1000 - a.timings.llm_ms)
                assert a.engine == "llm"

        cold: list[float] = []
        warm: list[float] = []
        for r in range(args.rounds):
            for q in QUESTIONS:
                t0 = time.perf_counter()
                a = app.assess(q, engine="indicators")
                _render(a, sink)
                (cold if r == 0 else warm).append((time.perf_counter() - t0) * 1000)
        app.close()

    print(f"{'measure':44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  aim")
    for name, xs, aim in (
        ("pipeline without the LLM call (LLM path)", pipe, "p95 <= 150"),
        ("indicator engine, cold (first sight)", cold, "p95 <= 2000"),
        ("indicator engine, warm (sentences cached)", warm, "p95 <= 2000"),
    ):
        print(f"{name:44} {len(xs):>4} {statistics.median(xs):>8.1f} {float(np.percentile(xs, 95)):>8.1f} {max(xs):>8.1f}  {aim}")


if __name__ == "__main__":
    main()
