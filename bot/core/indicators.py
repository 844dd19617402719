"""The indicator engine: an assessment without an LLM.

For each variable it retrieves evidence with that variable's own queries, splits the passages
about the subject into sentences, and matches the framework's indicators against them by
embedding similarity. An indicator is found when a sentence's cosine similarity to it reaches
that indicator's threshold (``prompts/indicator_thresholds.yaml``, computed from the corpus by
``benchmarks/calibrate_indicators.py``, not guessed). Each found indicator is cited by the
sentence that matched it. The score follows from the balance of indicators found:

    net = (favours - against) / (favours + against + 1)      score = round(2 + 2 * net)

so one sign moves the score by one step and only several concordant signs reach 0 or 4. A
variable with no indicator found is "insufficient evidence".
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from cachetools import LRUCache

from bot.core.framework import Framework, VariableSpec
from bot.core.models import Citation, Claim, Passage, VariableAssessment
from bot.core.ports import Retriever, SentenceEmbedder, retrieve_many
from bot.core.relevance import rerank
from bot.core.subject import Subject, expand_query
from bot.corpus.prose import is_prose

_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(])")
# abbreviations after which a full stop does not end a sentence ("Jan. 7", "Gen. Sidorov", "U.S. troops")
_ABBREV = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Gen|Col|Lt|Maj|Capt|Sgt|Mr|Mrs|Ms|Dr|Prof|St|No|Vol|"
    r"vs|etc|approx|U\.S|U\.K|U\.N|E\.U)\.$"
)
FALLBACK_THRESHOLD = 0.5  # used only for an indicator the thresholds file does not know


def split_sentences(text: str) -> list[str]:
    """Sentences of four words or more; abbreviations such as "Jan." do not end a sentence."""
    out: list[str] = []
    for part in _SENTENCE.split(text):
        part = part.strip()
        if out and _ABBREV.search(out[-1]):
            out[-1] = f"{out[-1]} {part}"
        elif part:
            out.append(part)
    return [s for s in out if len(s.split()) >= 4]


def subject_keys(subject: str) -> list[str]:
    """Lower-case stems that a passage about the subject is likely to contain ("kazak" for Kazakhstan)."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z\-']+", subject)]
    skip = {"the", "of", "and", "south", "north", "east", "west", "republic", "region", "central", "eastern", "western"}
    keys = [w[:5] if len(w) > 5 else w for w in words if w not in skip]
    return keys or [w[:5] for w in words]


def load_thresholds(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): float(v) for k, v in (data.get("thresholds") or {}).items()}


@dataclass
class Match:
    indicator: str
    direction: int  # +1 favours intervention, -1 against
    similarity: float
    sentence: str
    passage: Passage


class IndicatorEngine:
    name = "indicators:all-MiniLM-L6-v2"

    def __init__(
        self,
        framework: Framework,
        embedder: SentenceEmbedder,
        thresholds: dict[str, float] | None = None,
        *,
        k_per_query: int = 5,
        cache_size: int = 20_000,
    ) -> None:
        self.framework = framework
        self.embedder = embedder
        self.thresholds = thresholds or {}
        self.k_per_query = k_per_query
        self._indicators: dict[str, tuple[list[str], list[int], np.ndarray, np.ndarray]] = {}
        for spec in framework.variables:
            texts = spec.indicators.favours + spec.indicators.against
            dirs = [1] * len(spec.indicators.favours) + [-1] * len(spec.indicators.against)
            vecs = embedder.embed(texts)
            thr = np.array([self.thresholds.get(t, FALLBACK_THRESHOLD) for t in texts], dtype=np.float32)
            self._indicators[spec.key] = (texts, dirs, vecs, thr)
        # worker threads share the engine: the LRU cache is only touched under its lock
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=cache_size)
        self._cache_lock = threading.Lock()

    # -- sentence vectors with an LRU cache (passages recur across questions) -------------
    def _embed_sentences(self, sentences: Sequence[str]) -> np.ndarray:
        if not sentences:
            return np.zeros((0, 384), np.float32)
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for s in dict.fromkeys(sentences):
                v = self._cache.get(s)
                if v is not None:
                    found[s] = v
        missing = [s for s in dict.fromkeys(sentences) if s not in found]
        if missing:  # embedded outside the lock: other threads keep reading meanwhile
            vectors = self.embedder.embed(missing)
            with self._cache_lock:
                for s, v in zip(missing, vectors, strict=True):
                    found[s] = v
                    self._cache[s] = v
        return np.stack([found[s] for s in sentences])

    def evidence(
        self, question: str, subject: str, retriever: Retriever, as_of: dt.date | None, place: Subject | None = None
    ) -> dict[str, list[Passage]]:
        """Per variable, the passages its own queries retrieve (about the subject when it is known):
        queries name the place's aliases too, and a passage counts as about it when it names any
        of its forms ("Karabakh" for Nagorno-Karabakh), recent ones first."""
        keys = subject_keys(subject) if subject and place is None else []
        out: dict[str, list[Passage]] = {}
        queries = [question] + [
            expand_query(q, place, subject or question) for spec in self.framework.variables for q in spec.queries
        ]
        results = iter(retrieve_many(retriever, queries, k=self.k_per_query, as_of=as_of))
        base = next(results)
        for spec in self.framework.variables:
            pool: dict[str, Passage] = {p.id: p for p in base}
            for _ in spec.queries:
                for p in next(results):
                    pool.setdefault(p.id, p)
            passages = list(pool.values())
            if place is not None:
                passages = rerank([p for p in passages if place.mentioned_in(p.title + " " + p.text)], place, as_of)
            elif keys:
                passages = [p for p in passages if any(key in (p.title + " " + p.text).lower() for key in keys)]
            out[spec.key] = passages
        return out

    def match(self, spec: VariableSpec, passages: list[Passage]) -> list[Match]:
        # only prose is evidence: a keyword line, a heading or a caption matches topics, not facts
        sentences: list[tuple[str, Passage]] = [
            (s, p) for p in passages for s in split_sentences(p.text) if is_prose(s)
        ]
        if not sentences:
            return []
        texts, dirs, ivecs, thr = self._indicators[spec.key]
        svecs = self._embed_sentences([s for s, _ in sentences])
        sims = svecs @ ivecs.T  # (sentences, indicators)
        margin = sims - thr[None, :]
        # a sentence is evidence for one indicator at most: the one it clears by the widest margin
        owner = np.argmax(margin, axis=1)
        found: list[Match] = []
        for j in range(len(texts)):
            rows = np.where((owner == j) & (margin[:, j] >= 0))[0]
            if len(rows):
                i = int(rows[np.argmax(sims[rows, j])])
                found.append(Match(texts[j], dirs[j], float(sims[i, j]), sentences[i][0], sentences[i][1]))
        return found

    @staticmethod
    def score(matches: list[Match]) -> tuple[int, str]:
        fav = sum(1 for m in matches if m.direction > 0)
        ag = sum(1 for m in matches if m.direction < 0)
        net = (fav - ag) / (fav + ag + 1)
        score = int(math.floor(2 + 2 * net + 0.5))
        n = fav + ag
        confidence = "low" if n <= 1 else "medium" if n <= 3 else "high"
        return max(0, min(4, score)), confidence

    def run(
        self, question: str, subject: str, retriever: Retriever, as_of: dt.date | None, place: Subject | None = None
    ) -> tuple[list[Passage], list[VariableAssessment]]:
        """The cited passages (numbered from 1, in order) and the five variable assessments."""
        evidence = self.evidence(question, subject, retriever, as_of, place)
        numbering: dict[str, int] = {}
        by_id: dict[str, Passage] = {p.id: p for ps in evidence.values() for p in ps}
        variables = [self.assess_variable(spec, evidence[spec.key], numbering) for spec in self.framework.variables]
        passages = [by_id[pid] for pid, _ in sorted(numbering.items(), key=lambda kv: kv[1])]
        return passages, variables

    def assess_variable(
        self, spec: VariableSpec, passages: list[Passage], numbering: dict[str, int]
    ) -> VariableAssessment:
        """Score one variable; passages it cites get the next free numbers in ``numbering``."""
        matches = self.match(spec, passages)
        if not matches:
            return VariableAssessment(
                variable=spec.key,
                status="insufficient_evidence",
                rationale="No passage matched any of this variable's indicators.",
            )
        score, confidence = self.score(matches)
        matches.sort(key=lambda m: -m.similarity)
        for m in matches:  # number passages in order of first (strongest) use
            numbering.setdefault(m.passage.id, len(numbering) + 1)
        citations: list[Citation] = []
        for m in matches:
            n = numbering[m.passage.id]
            if all(c.passage != n for c in citations):
                citations.append(Citation(passage=n, quote=m.sentence))
        fav = [m for m in matches if m.direction > 0]
        ag = [m for m in matches if m.direction < 0]
        parts = []
        if fav:
            parts.append("For: " + "; ".join(f"{_short(m.sentence)} [{numbering[m.passage.id]}]" for m in fav[:2]))
        if ag:
            parts.append("Against: " + "; ".join(f"{_short(m.sentence)} [{numbering[m.passage.id]}]" for m in ag[:2]))
        def claims(ms: list[Match]) -> list[Claim]:
            return [Claim(text=m.indicator, passage=numbering[m.passage.id], quote=m.sentence) for m in ms]

        return VariableAssessment(
            variable=spec.key,
            status="assessed",
            score=score,
            confidence=confidence,
            rationale=f"{len(fav)} sign(s) for, {len(ag)} against. " + " ".join(parts),
            citations=citations,
            evidence_for=claims(fav),
            evidence_against=claims(ag),
            judgement=(len(fav) - len(ag)) / (len(fav) + len(ag) + 1),
        )


def _short(sentence: str, limit: int = 120) -> str:
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
