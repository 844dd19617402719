"""Fusion and near-duplicate collapse: pure functions, no store."""

from __future__ import annotations

import numpy as np
import pytest

from bot.store.fusion import Fused, collapse_near_duplicates, rrf, score_fusion
from bot.store.terms import query_words


def ids(fused: list[Fused]) -> list[str]:
    return [f.id for f in fused]


def test_rrf_sums_reciprocal_ranks_and_keeps_each_sides_rank():
    got = rrf([("a", 0.9), ("b", 0.8)], [("b", 12.0), ("c", 3.0)], k=60)
    assert ids(got) == ["b", "a", "c"]
    b = got[0]
    assert b.score == pytest.approx(1 / 62 + 1 / 61) and (b.vector_rank, b.lexical_rank) == (2, 1)
    assert (got[1].vector_rank, got[1].lexical_rank) == (1, None)


def test_rrf_weights():
    assert ids(rrf([("a", 1)], [("b", 1)], k=60, lexical_weight=0.5)) == ["a", "b"]
    assert ids(rrf([("a", 1)], [("b", 1)], k=60, vector_weight=0.5)) == ["b", "a"]


def test_rrf_lets_two_low_ranks_beat_a_first_place():
    """The failure the score fusion fixes: found by both sides at ranks 36 and 20 outranks the vector
    side's first hit."""
    vector = [("top", 0.81)] + [(f"v{i}", 0.80 - i * 0.001) for i in range(2, 36)] + [("both", 0.60)]
    lexical = [(f"l{i}", 5.0 - i * 0.01) for i in range(1, 20)] + [("both", 0.4)]
    assert ids(rrf(vector, lexical, k=60))[0] == "both"
    assert ids(score_fusion(vector, lexical))[0] == "top"


def test_score_fusion_normalises_each_side():
    vector = [("a", 0.70), ("b", 0.60), ("c", 0.50)]
    lexical = [("c", 10.0), ("d", 5.0)]
    got = {f.id: f for f in score_fusion(vector, lexical, vector_weight=0.6)}
    assert got["a"].score == pytest.approx(0.6)  # best vector, not lexical
    assert got["b"].score == pytest.approx(0.3)
    assert got["c"].score == pytest.approx(0.0 + 0.4)  # last vector (0) + best lexical
    assert got["d"].score == pytest.approx(0.2)
    assert (got["c"].vector_rank, got["c"].lexical_rank) == (3, 1)


def test_score_fusion_a_strong_lexical_only_hit_enters_the_top():
    vector = [(f"v{i}", 0.6 - i * 0.01) for i in range(10)]
    got = ids(score_fusion(vector, [("rare", 20.0)], vector_weight=0.55))
    assert got.index("rare") <= 2


@pytest.mark.parametrize(
    ("vector", "lexical", "expected"),
    [
        ([], [], []),
        ([("a", 0.5)], [], ["a"]),  # one candidate: full weight
        ([], [("x", 2.0), ("y", 1.0)], ["x", "y"]),
        ([("a", 0.5), ("b", 0.5)], [], ["a", "b"]),  # ties keep the vector side's order
    ],
)
def test_score_fusion_edge_cases(vector, lexical, expected):
    assert ids(score_fusion(vector, lexical)) == expected


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_collapse_keeps_the_first_of_near_duplicates_and_fills_up_to_k():
    vectors = {"a": unit(1, 0, 0), "a2": unit(1, 0.01, 0), "b": unit(0, 1, 0), "c": unit(0, 0, 1)}
    assert collapse_near_duplicates(["a", "a2", "b", "c"], vectors, threshold=0.92, k=3) == ["a", "b", "c"]
    assert collapse_near_duplicates(["a", "a2", "b"], vectors, threshold=1.01, k=3) == ["a", "a2", "b"]
    assert collapse_near_duplicates(["a", "gone", "b"], vectors, threshold=0.92, k=5) == ["a", "b"]  # no vector: skipped
    assert collapse_near_duplicates(["a", "b", "c"], vectors, threshold=0.92, k=1) == ["a"]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("Will Russia send troops into Kazakhstan?", ["kazakhstan"]),
        ("What did Natalya Timakova say?", ["natalya", "timakova", "say"]),
        ("the of and", ["the", "of", "and"]),  # only stop words: kept
        ("!!!", []),
        ("Kharkiv Pact Kharkiv", ["kharkiv", "pact"]),
    ],
)
def test_query_words(query, words):
    assert query_words(query) == words
