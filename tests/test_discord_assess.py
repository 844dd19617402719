"""/assess in simcord's in-memory Discord: real discord.py, real chromadb, real embedder, indicator engine.

One App (and the starter corpus, ingested once into this guild's collection) is shared by the
whole process (``bot.discord.testing.shared_app``); each test gets its own bot, history database
and simulated Discord.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import discord
import pytest
from discord_helpers import guild_with_members, make_bot, running, seed, shared_app, simultaneous

from bot.core.models import VARIABLES, Assessment, Citation, Passage, VariableAssessment
from bot.discord.replies import GENERIC

GUILD = 910_000_000_000_000_001
QUESTION = "Will Russia send troops into Kazakhstan?"


@pytest.fixture(scope="module")
def shared():
    s = shared_app()
    seed(s, GUILD)
    return s


def setup_world(env: Any, n_members: int = 1):
    return guild_with_members(env, GUILD, [f"analyst{i}" for i in range(n_members)], channel="analysis")


def requests_since(env: Any, start: int) -> list[Any]:
    return list(env.http_requests[start:])


def sent_bodies(env: Any) -> list[dict]:
    """Every request body that posts or edits a message (content, embeds or components)."""
    out = []
    for r in env.http_requests:
        body = r.json
        if isinstance(body, dict) and "data" in body and isinstance(body["data"], dict):
            body = body["data"]  # interaction callbacks wrap the message
        if isinstance(body, dict) and ({"content", "embeds"} & body.keys()) and r.method in ("POST", "PATCH"):
            out.append(body)
    return out


class WrappedApp:
    """The real App with ``assess`` replaced (to produce an oversized answer, a failure, or to count)."""

    def __init__(self, app: Any, assess: Any) -> None:
        self._app = app
        self.assess = assess

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


async def test_assess_defers_first_then_answers_with_scored_cited_embed(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        start = len(env.http_requests)
        result = await alice.slash(channel, "assess", question=QUESTION)

        first = requests_since(env, start)[0]
        assert (first.method, first.json) == ("POST", {"type": 5})  # the deferral, before anything else
        assert first.path.endswith("/callback")
        assert not result.ephemeral

        main, sources = result.response.embeds
        # the indicator engine has no proven skill: no number, and the embed says so
        assert main.title == "Kazakhstan: no likelihood"
        assert len(main.fields) == 5 and all(("■" in f.name or "no evidence" in f.name) for f in main.fields)
        assert not any("?" in f.name for f in main.fields)  # words, not "????", for a variable without evidence
        assert any("cites [" in f.value for f in main.fields)
        assert sources.title == "Sources" and "**[1]**" in sources.description
        footer = sources.footer.text
        assert footer.startswith("indicators:all-MiniLM-L6-v2 · corpus ") and " s · #1" in footer
        assert footer.count("indicators") == 1  # the engine named once
        labels = [c["label"] for row in result.response.components for c in row["components"]]
        assert labels == ["Show passages", "0", "0", "Re-run with latest articles"]
        assert all(b.get("allowed_mentions") == {"parse": []} for b in sent_bodies(env))

        stored = bot.history.get(1, guild_id=GUILD)
        assert stored.assessment.question == QUESTION and stored.row.user_id == alice.id


async def test_show_passages_is_ephemeral_and_paged(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        result = await alice.slash(channel, "assess", question=QUESTION)
        shown = await alice.click(result.response.message, label="Show passages")
        assert shown.ephemeral
        page = shown.response
        assert page.content.startswith("Cited passages for: Will Russia send troops into Kazakhstan?")
        assert page.embeds and page.embeds[0].title.startswith("[")
        if "page 1/" in page.content:  # more than one page: the pager turns it
            turned = await alice.click(page.message, label="Next")
            assert "page 2/" in turned.response.content


async def test_votes_are_stored_one_per_user_and_can_change(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice, bob) = setup_world(env, 2)
        result = await alice.slash(channel, "assess", question=QUESTION)
        message = result.response.message
        up = next(
            c["custom_id"]
            for row in result.response.components
            for c in row["components"]
            if c["custom_id"].endswith(":up")
        )
        down = up.replace(":up", ":down")

        first = await alice.click(message, custom_id=up)
        assert first.followups[-1].content == "Recorded your 👍." and first.followups[-1].ephemeral
        again = await alice.click(message, custom_id=up)
        assert again.followups[-1].content == "You had already voted 👍."
        assert bot.history.tally(1) == (1, 0)
        await alice.click(message, custom_id=down)  # changes alice's vote
        await bob.click(message, custom_id=up)
        assert bot.history.tally(1) == (1, 1)
        assert bot.history.user_vote(1, alice.id) == -1
        labels = [c.label for row in channel.last_message.components for c in row.children]
        assert labels[1:3] == ["1", "1"]  # the counts on the buttons follow the votes


async def test_rerun_posts_a_fresh_assessment(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        result = await alice.slash(channel, "assess", question=QUESTION, as_of="2021-12-31")
        assert "as of **2021-12-31**" in result.response.embeds[0].description
        rerun = await alice.click(result.response.message, label="Re-run with latest articles")
        main = rerun.response.embeds[0]
        assert main.description.startswith("Re-run of #1 with the latest articles.")
        assert "as of" not in main.description  # latest articles: no date limit
        assert bot.history.get(2, guild_id=GUILD).row.question == QUESTION


async def test_oversized_assessment_still_posts(shared) -> None:
    long_title = "An extremely long article title about the Collective Security Treaty Organization " * 6
    passages = [
        Passage(
            id=f"d{i}:0",
            doc_id=f"d{i}",
            title=f"{long_title}{i}",
            url=f"https://example.org/{i}/" + "p" * 200,
            text="t " * 3000,
        )
        for i in range(1, 31)
    ]
    huge = Assessment(
        question=QUESTION,
        subject="Kazakhstan " * 40,
        variables=[
            VariableAssessment(
                variable=k,
                status="assessed",
                score=2,
                confidence="low",
                rationale="Because. " * 500,
                citations=[Citation(passage=n) for n in range(1 + 6 * i, 7 + 6 * i)],
            )
            for i, k in enumerate(VARIABLES)
        ],
        likelihood=42,
        verdict="uncertain",
        confidence="low",
        summary="Long. " * 3000,
        passages=passages,
        engine="llm",
        model="x" * 3000,
        notes=["note " * 500] * 8,
    )
    bot = make_bot(shared)
    bot.app = WrappedApp(shared.app, lambda *a, **k: huge)  # type: ignore[assignment]
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        result = await alice.slash(channel, "assess", question=QUESTION)
        embeds = result.response.embeds
        assert len(embeds) == 2 and sum(len(e) for e in embeds) <= 6000
        assert embeds[0].title.startswith("Kazakhstan Kazakhstan") and len(embeds[0].fields) == 5
        shown = await alice.click(result.response.message, label="Show passages")
        assert shown.ephemeral and "page 1/" in shown.response.content
        assert not env.errors


async def test_cooldown_is_a_polite_ephemeral_reply(shared) -> None:
    bot = make_bot(shared, assess_cooldown_s=30)
    async with running(bot) as env:
        _, channel, (alice, bob) = setup_world(env, 2)
        await alice.slash(channel, "assess", question=QUESTION)
        again = await alice.slash(channel, "assess", question=QUESTION)
        assert again.ephemeral and not again.deferred
        assert again.response.content.startswith("You can ask for another assessment in ")
        other = await bob.slash(channel, "assess", question=QUESTION)  # per user
        assert other.response.embeds
        await env.advance_time(31)
        later = await alice.slash(channel, "assess", question=QUESTION)
        assert later.response.embeds
        assert [type(e).__name__ for e in env.errors] == ["CommandOnCooldown"]  # seen by the tree's on_error


async def test_a_refused_question_is_answered_at_once_and_costs_no_cooldown(shared) -> None:
    bot = make_bot(shared, assess_cooldown_s=30)
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        refused = await alice.slash(channel, "assess", question="what is the weather like")
        assert refused.ephemeral and not refused.deferred
        assert refused.response.content.startswith("This bot assesses whether Russia will intervene")
        bad_date = await alice.slash(channel, "assess", question=QUESTION, as_of="last week")
        assert bad_date.response.content == "“last week” is not a date; use YYYY-MM-DD, e.g. 2022-01-05."
        ok = await alice.slash(channel, "assess", question=QUESTION)
        assert ok.response.embeds
        assert len(env.errors) == 2


async def test_an_unexpected_error_gets_a_generic_ephemeral_answer_and_a_logged_traceback(
    shared, caplog
) -> None:
    def broken(*_a: Any, **_k: Any) -> Assessment:
        raise RuntimeError("chroma exploded")

    bot = make_bot(shared)
    bot.app = WrappedApp(shared.app, broken)  # type: ignore[assignment]
    caplog.set_level(logging.ERROR, logger="bot.discord")
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        start = len(env.http_requests)
        result = await alice.slash(channel, "assess", question=QUESTION)
        assert requests_since(env, start)[0].json == {"type": 5}
        assert result.response is None  # the public "thinking…" message is gone
        (answer,) = result.followups
        assert answer.ephemeral and answer.content == GENERIC
        (err,) = env.errors
        assert isinstance(err, discord.app_commands.CommandInvokeError)
    records = [r for r in caplog.records if r.exc_info and "chroma exploded" in str(r.exc_info[1])]
    assert records, "the traceback must be logged"


async def test_ten_simultaneous_assessments_are_all_answered_within_the_concurrency_limit(shared) -> None:
    lock = threading.Lock()
    running_now = peak = 0

    def counting(*args: Any, **kwargs: Any) -> Assessment:
        nonlocal running_now, peak
        with lock:
            running_now += 1
            peak = max(peak, running_now)
        try:
            return shared.app.assess(*args, **kwargs)
        finally:
            with lock:
                running_now -= 1

    bot = make_bot(shared, assess_cooldown_s=0, max_concurrent_llm=2)
    bot.app = WrappedApp(shared.app, counting)  # type: ignore[assignment]
    async with running(bot) as env:
        _, channel, members = setup_world(env, 10)
        with simultaneous(env):
            results = [await m.slash(channel, "assess", question=QUESTION) for m in members]
        await env.settle()
        callbacks = [r.json for r in env.http_requests if r.path.endswith("/callback")]
        assert callbacks[-10:] == [{"type": 5}] * 10  # every interaction was deferred first
        assert all(r.response is not None and len(r.response.embeds) == 2 for r in results)
        assert 1 <= peak <= 2
        queued = [b["content"] for b in sent_bodies(env) if (b.get("content") or "").startswith("Queued: ")]
        assert "Queued: 1st in line…" in queued and any(q.startswith("Queued: 8th") for q in queued)
        assert len(bot.history.recent(guild_id=GUILD, limit=50)) == 10


async def test_buttons_keep_working_after_a_restart(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        result = await alice.slash(channel, "assess", question=QUESTION)
        message = result.response.message
        restarted = make_bot(shared, history=bot.history, data_dir=bot.settings.data_dir)  # the same deployment
        await env.restart_bot(restarted)
        up = next(
            c.custom_id for row in message.components for c in row.children if c.custom_id.endswith(":up")
        )
        clicked = await alice.click(message, custom_id=up)
        assert clicked.followups[-1].content == "Recorded your 👍."
        shown = await alice.click(message, label="Show passages")
        assert shown.ephemeral and shown.response.embeds
        await restarted.finish_work()


async def test_assessment_numbers_count_per_server(shared) -> None:
    other = GUILD + 50
    seed(shared, other)
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        _, other_channel, (bob,) = guild_with_members(env, other, ["bob"])
        for _ in range(2):
            first = await alice.slash(channel, "assess", question=QUESTION)
        theirs = await bob.slash(other_channel, "assess", question=QUESTION)
        assert first.response.embeds[1].footer.text.endswith(" · #2")
        assert theirs.response.embeds[1].footer.text.endswith(" · #1")  # nothing hints at the other server
        rerun = await bob.click(theirs.response.message, label="Re-run with latest articles")
        assert rerun.response.embeds[0].description.startswith("Re-run of #1 with the latest articles.")
        assert rerun.response.embeds[1].footer.text.endswith(" · #2")


async def test_the_answer_fills_in_variable_by_variable_at_most_once_a_second(shared) -> None:
    calls: list[float] = []

    def streaming(question: str, *, collection: str, as_of: Any = None, progress: Any = None) -> Assessment:
        real = shared.app.assess(question, collection=collection, as_of=as_of)
        for v in real.variables:  # the pipeline's calls, from the worker thread, 0.3 s apart
            time.sleep(0.3)
            calls.append(time.monotonic())
            if progress is not None:
                progress("variable", v)
        return real

    bot = make_bot(shared)
    bot.app = WrappedApp(shared.app, streaming)  # type: ignore[assignment]
    async with running(bot) as env:
        _, channel, (alice,) = setup_world(env)
        start = len(env.http_requests)
        result = await alice.slash(channel, "assess", question=QUESTION)
        edits = [
            r.json["embeds"][0]["title"]
            for r in env.http_requests[start:]
            if r.method == "PATCH" and isinstance(r.json, dict) and r.json.get("embeds")
        ]
        partial = [t for t in edits if t.startswith("Assessing… ")]
        assert len(calls) == 5
        assert 1 <= len(partial) <= 3, edits  # 5 variables over 1.5 s: throttled to about one edit a second
        assert partial[0].startswith("Assessing… 1/5") and partial[-1] != "Assessing… 1/5 variables"
        assert edits[-1].startswith("Kazakhstan: ")  # the answer is always the last edit
        assert result.response.embeds[0].title.startswith("Kazakhstan: ")


async def test_progress_edits_are_throttled_and_thread_safe() -> None:
    import asyncio

    from bot.discord.answer import ProgressEdits

    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def edit(**kwargs: Any) -> None:
        times.append(loop.time())
        await asyncio.sleep(0.05)  # an HTTP round trip

    edits = ProgressEdits(edit, QUESTION, loop, every=0.5)
    variables = [VariableAssessment(variable=k, status="insufficient_evidence") for k in VARIABLES]

    def worker() -> None:  # the pipeline's thread
        for v in variables:
            edits("variable", v)
            time.sleep(0.15)

    await asyncio.to_thread(worker)
    await edits.stop()
    assert 2 <= len(times) <= 3
    assert all(b - a >= 0.45 for a, b in zip(times, times[1:], strict=False))
    count = len(times)
    edits("variable", variables[0])  # after stop: ignored
    await asyncio.sleep(0.1)
    assert len(times) == count
