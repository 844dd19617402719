"""Set the indicator engine's match thresholds from data, not by guessing.

For every indicator in prompts/framework.yaml, the cosine similarity to every sentence of a
reference corpus (default: knowledge/, the starter corpus; never an evaluation case set) is
computed. An indicator's threshold is the PERCENTILE-th percentile of that distribution (so an
indicator "matches" only the few sentences most like it, however generic or specific its
wording), but never below FLOOR (the similarity MiniLM gives to merely topical sentences; below
it a match is noise). Writes prompts/indicator_thresholds.yaml.

    .venv/bin/python benchmarks/calibrate_indicators.py [--corpus knowledge] [--percentile 97]
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import yaml

from bot.core.framework import load_framework
from bot.core.indicators import split_sentences
from bot.corpus.loaders import iter_paths, load_file
from bot.embeddings import shared_embedder

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="+", default=[str(ROOT / "knowledge")])
    ap.add_argument("--percentile", type=float, default=97.0)
    ap.add_argument("--floor", type=float, default=0.40)
    ap.add_argument("--out", default=str(ROOT / "prompts" / "indicator_thresholds.yaml"))
    args = ap.parse_args()

    framework = load_framework(ROOT / "prompts" / "framework.yaml")
    sentences: list[str] = []
    for path in iter_paths([Path(p) for p in args.corpus]):
        doc = load_file(path, max_bytes=20_000_000)
        for para in doc.paragraphs:
            sentences.extend(split_sentences(para))
    sentences = list(dict.fromkeys(sentences))
    emb = shared_embedder()
    svecs = emb.embed(sentences)
    thresholds: dict[str, float] = {}
    print(f"{len(sentences)} reference sentences from {', '.join(args.corpus)}")
    for spec in framework.variables:
        for text in spec.indicators.favours + spec.indicators.against:
            sims = svecs @ emb.embed([text])[0]
            thr = max(args.floor, float(np.percentile(sims, args.percentile)))
            thresholds[text] = round(thr, 4)
            print(f"{spec.key:20} {thr:.3f} (max {sims.max():.3f})  {text[:70]}")
    header = (
        "# Written by benchmarks/calibrate_indicators.py; do not edit by hand.\n"
        f"# {dt.date.today()}: {len(sentences)} sentences of {', '.join(Path(c).name for c in args.corpus)}; "
        f"threshold = max({args.floor}, P{args.percentile:g} of each indicator's similarities).\n"
    )
    body = {"percentile": args.percentile, "floor": args.floor, "thresholds": thresholds}
    Path(args.out).write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=200), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
