"""Mentions answered in a new thread, follow-ups with the thread's context, without message content.

simcord's ``approved_intents`` is the Developer Portal's privileged-intent switches: here none is
approved, so a message that does not mention the bot reaches it with empty content, as on Discord.
"""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord_helpers import bot_posts, deleted_ids, guild_with_members, make_bot, running, seed, shared_app

from bot.discord.cogs.mentions import focus_of, follow_up_question
from bot.discord.replies import GENERIC

GUILD = 910_000_000_000_000_001
NO_PRIVILEGED = discord.Intents.default()  # message_content, members and presences all off
assert not NO_PRIVILEGED.message_content


@pytest.fixture(scope="module")
def shared():
    s = shared_app()
    seed(s, GUILD)
    return s


def bot_messages(channel: Any, bot: Any) -> list[discord.Message]:
    return [m for m in channel.history() if m.author.id == bot.user.id]


async def test_a_mention_is_answered_in_a_new_thread_and_a_follow_up_keeps_its_context(shared) -> None:
    bot = make_bot(shared)
    async with running(bot, approved_intents=NO_PRIVILEGED) as env:
        _, channel, (alice,) = guild_with_members(env, GUILD)
        await alice.send(channel, f"{bot.user.mention} Will Russia send troops into Kazakhstan?")
        (thread,) = channel.threads
        assert thread.name.startswith("Kazakhstan: Will Russia send troops")
        (answer,) = bot_messages(thread, bot)
        assert answer.embeds[0].title.startswith("Kazakhstan: ")
        assert [c.label for c in answer.components[0].children][0] == "Show passages"

        await alice.send(thread, f"{bot.user.mention} and what about the costs?")
        follow = bot_messages(thread, bot)[-1]
        main = follow.embeds[0]
        assert main.title.startswith("Kazakhstan: ")  # the thread's subject, not a new one
        assert main.description.startswith("Follow-up to #1: Will Russia send troops into Kazakhstan?")
        assert (
            "**Q:** Will Russia send troops into Kazakhstan? Follow-up: and what about the costs?"
            in main.description
        )
        assert "Follow-up focus: **Political & economic costs**" in main.description
        assert main.fields[4].name.startswith("▶ Political & economic costs")
        rows = bot.history.recent(guild_id=GUILD)
        assert [r.channel_id for r in rows] == [thread.id, thread.id]

        # a full question in the thread stands on its own
        await alice.send(thread, f"{bot.user.mention} Would Russia send troops into Armenia instead?")
        alone = bot_messages(thread, bot)[-1].embeds[0]
        assert alone.title.startswith("Armenia: ") and not alone.description.startswith("Follow-up to")

        # without the message-content intent, a message that does not mention the bot is not read
        before = len(bot_messages(thread, bot))
        await alice.send(thread, "what about feasibility?")
        assert len(bot_messages(thread, bot)) == before
        assert not env.errors


async def test_a_mention_that_is_not_a_question_gets_a_one_line_reply_and_no_thread(shared) -> None:
    bot = make_bot(shared)
    async with running(bot, approved_intents=NO_PRIVILEGED) as env:
        _, channel, (alice,) = guild_with_members(env, GUILD)
        start = len(env.http_requests)
        asked = await alice.send(channel, f"{bot.user.mention} hello there")
        assert channel.threads == []
        (reply,) = bot_posts(env, start)
        assert reply["content"].startswith("This bot assesses whether Russia will intervene militarily")
        assert int(reply["message_reference"]["message_id"]) == asked.id  # a reply to the asker
        assert reply["allowed_mentions"] == {"parse": [], "replied_user": False}  # no ping
        assert channel.last_message.id == asked.id  # and it deleted itself (after a minute in production)
        assert len(deleted_ids(env, start)) == 1
        start = len(env.http_requests)
        await alice.send(channel, f"{bot.user.mention}")
        assert bot_posts(env, start)[0]["content"].startswith("Ask me a question after the mention")


async def test_mention_answers_respect_the_cooldown(shared) -> None:
    bot = make_bot(shared, assess_cooldown_s=60)
    async with running(bot, approved_intents=NO_PRIVILEGED) as env:
        _, channel, (alice,) = guild_with_members(env, GUILD)
        await alice.send(channel, f"{bot.user.mention} Will Russia send troops into Belarus?")
        start = len(env.http_requests)
        asked = await alice.send(channel, f"{bot.user.mention} Will Russia send troops into Moldova?")
        assert len(channel.threads) == 1
        (refusal,) = bot_posts(env, start)
        assert refusal["content"].startswith("You can ask for another assessment in ")
        assert int(refusal["message_reference"]["message_id"]) == asked.id
        assert deleted_ids(env, start)  # short-lived


async def test_a_failed_mention_answer_turns_the_thinking_message_into_one_sentence(shared, caplog) -> None:
    class Broken:
        def __init__(self, app: Any) -> None:
            self._app = app

        def __getattr__(self, name: str) -> Any:
            return getattr(self._app, name)

        def assess(self, *_a: Any, **_k: Any) -> Any:
            raise RuntimeError("index on fire")

    bot = make_bot(shared)
    bot.app = Broken(shared.app)  # type: ignore[assignment]
    async with running(bot, approved_intents=NO_PRIVILEGED) as env:
        _, channel, (alice,) = guild_with_members(env, GUILD)
        await alice.send(channel, f"{bot.user.mention} Will Russia send troops into Kazakhstan?")
        (thread,) = channel.threads
        (status,) = bot_messages(thread, bot)
        assert status.content == GENERIC and not status.embeds
    assert any(r.exc_info and "index on fire" in str(r.exc_info[1]) for r in caplog.records)


def test_follow_up_rules() -> None:
    root = "Will Russia send troops into Kazakhstan?"
    assert follow_up_question(root, "and what about the costs?", 500) == (
        "Will Russia send troops into Kazakhstan? Follow-up: and what about the costs?",
        False,
    )
    assert follow_up_question(root, "Would Russia invade Georgia?", 500) == (
        "Would Russia invade Georgia?",
        True,
    )
    combined, alone = follow_up_question(root, "x " * 400, 120)
    assert not alone and len(combined) <= 120
    assert focus_of("and what about sanctions?") == "costs"
    assert focus_of("would NATO react?") == "military_opposition"
    assert focus_of("anything else?") is None


async def test_without_thread_permission_the_answer_is_a_reply_to_the_question(shared) -> None:
    bot = make_bot(shared)
    async with running(bot, approved_intents=NO_PRIVILEGED) as env:
        guild, _, (alice,) = guild_with_members(env, GUILD)
        channel = guild.create_text_channel(
            "no-threads", overwrites={bot.user: discord.PermissionOverwrite(create_public_threads=False)}
        )
        start = len(env.http_requests)
        asked = await alice.send(channel, f"{bot.user.mention} Will Russia send troops into Kazakhstan?")
        assert channel.threads == []
        (status,) = bot_posts(env, start)
        assert int(status["message_reference"]["message_id"]) == asked.id  # a reply, not a loose message
        answer = channel.last_message
        assert answer.author.id == bot.user.id and answer.embeds[0].title.startswith("Kazakhstan: ")
        assert answer.reference is not None and answer.reference.message_id == asked.id
