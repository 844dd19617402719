"""Re-ranking per-variable evidence toward the subject and as_of (bot/core/relevance.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.models import Passage
from bot.core.relevance import Weights, age_days, age_factor, is_about, relevance_weight, rerank
from bot.core.subject import extract_subject

AS_OF = dt.date(2023, 9, 19)


def passage(pid: str, text: str, *, title: str = "Note", date: dt.date | None = AS_OF) -> Passage:
    return Passage(id=pid, doc_id=pid, title=title, date=date, text=text)


@pytest.fixture(scope="module")
def karabakh():
    s = extract_subject("Will Russia send peacekeepers to Nagorno-Karabakh?")
    assert s is not None
    return s


def test_age_days() -> None:
    assert age_days(passage("a", "x", date=dt.date(2023, 9, 1)), AS_OF) == 18
    assert age_days(passage("a", "x", date=None), AS_OF) is None
    assert age_days(passage("a", "x", date=dt.date(2023, 9, 20)), AS_OF) == -1
    today = dt.date.today()
    assert age_days(passage("a", "x", date=today - dt.timedelta(days=3))) == 3


@pytest.mark.parametrize(
    ("text", "title", "about"),
    [
        ("Azerbaijani forces shelled positions in Karabakh.", "Note", True),
        ("The Artsakh authorities declared a state of emergency.", "Note", True),
        ("Fighting around Stepanakert intensified overnight.", "Note", True),  # a city inside it
        ("Gas prices rose in the winter.", "Nagorno Karabakh: the blockade", True),  # the title counts
        ("Protesters in Almaty seized the city hall.", "Kazakhstan, January", False),
        ("The karabakhski horse breed is famous.", "Note", False),  # whole words only
    ],
)
def test_is_about(karabakh, text: str, title: str, about: bool) -> None:
    assert is_about(passage("p", text, title=title), karabakh) is about


def test_is_about_no_subject() -> None:
    assert not is_about(passage("p", "Anything at all."), None)


def test_is_about_the_containing_place_the_question_named() -> None:
    s = extract_subject("Will Russia send troops into Georgia over South Ossetia?")
    p = passage("p", "Georgian artillery opened fire at night.")
    assert is_about(p, s) and not is_about(p, s, strict=True)


def test_age_factor() -> None:
    w = Weights()
    assert age_factor(passage("a", "x", date=AS_OF - dt.timedelta(days=100)), AS_OF, w) == 1.0
    assert age_factor(passage("a", "x", date=AS_OF - dt.timedelta(days=730)), AS_OF, w) == pytest.approx(0.5)
    assert age_factor(passage("a", "x", date=AS_OF - dt.timedelta(days=365 * 20)), AS_OF, w) == w.old_floor
    assert age_factor(passage("a", "x", date=None), AS_OF, w) == w.undated


def test_rerank_prefers_recent_passages_about_the_subject(karabakh) -> None:
    old = AS_OF - dt.timedelta(days=365 * 6)
    ps = [
        passage("other-crisis", "Russian peacekeepers deployed to Kazakhstan after the request for help."),
        passage("old-background", "In 2016 fighting in Nagorno-Karabakh killed dozens.", date=old),
        passage("recent-other", "Western sanctions on Russia were tightened."),
        passage("recent-about", "Azerbaijan launched an operation in Karabakh; Russian peacekeepers stood aside."),
    ]
    got = [p.id for p in rerank(ps, karabakh, AS_OF)]
    assert got[0] == "recent-about"
    assert got.index("recent-about") < got.index("old-background")
    assert set(got) == {p.id for p in ps}  # nothing dropped


def test_a_strong_passage_sinks_but_is_not_dropped(karabakh) -> None:
    ps = [passage("strong-off-subject", "Sanctions on Russia were discussed in Brussels.")]
    ps += [passage(f"about-{i}", f"Karabakh report number {i}.") for i in range(10)]
    got = rerank(ps, karabakh, AS_OF)
    assert 1 <= [p.id for p in got].index("strong-off-subject") <= 8
    top = rerank(ps, karabakh, AS_OF, k=4)
    assert len(top) == 4 and "strong-off-subject" in [p.id for p in top]


def test_rerank_without_a_subject_orders_by_rank_and_date() -> None:
    ps = [
        passage("old", "x", date=AS_OF - dt.timedelta(days=365 * 10)),
        passage("new", "y"),
    ]
    assert [p.id for p in rerank(ps, None, AS_OF)] == ["new", "old"]
    same = [passage("a", "x"), passage("b", "y"), passage("c", "z")]
    assert [p.id for p in rerank(same, None, AS_OF)] == ["a", "b", "c"]  # stable: retrieval order kept
    assert rerank([], None, AS_OF) == []
    assert [p.id for p in rerank(same, None, AS_OF, k=0)] == []


def test_relevance_weight_is_rank_times_boosts(karabakh) -> None:
    about = passage("a", "Karabakh.")
    other = passage("b", "Elsewhere.")
    w = Weights(about_boost=2.0, rank_scale=5.0)
    assert relevance_weight(about, 0, karabakh, AS_OF, w) == pytest.approx(2.0)
    assert relevance_weight(other, 5, karabakh, AS_OF, w) == pytest.approx(0.5)
