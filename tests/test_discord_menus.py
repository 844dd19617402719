"""Right-click a message: "Add to corpus" (ingest role only; text, attachments and links through
the SSRF-safe fetch, with who and when recorded) and "Assess this" (issue 10, items 4-5)."""

from __future__ import annotations

import re
from typing import Any

import discord
import pytest
import simcord
from discord_helpers import make_bot, running, shared_app

from bot.config import REPO_ROOT

KAZAKHSTAN = (REPO_ROOT / "knowledge" / "kazakhstan-2022-csto-deployment.md").read_bytes()
ARTICLE = (
    "Russian paratroopers landed in Almaty on Thursday after President Tokayev asked the CSTO for help, "
    "and the first units took control of the airport within hours of the request.\n\n"
    "Officials in Moscow said the deployment would be temporary and limited to protecting state buildings."
)


@pytest.fixture(scope="module")
def shared():
    return shared_app()


def world(env: Any, guild_id: int):
    guild = env.create_guild(id=guild_id)
    channel = guild.create_text_channel("breaking")
    analysts = guild.create_role("Analysts")
    analyst = guild.add_member(env.create_user("analyst"), roles=[analysts])
    reporter = guild.add_member(env.create_user("reporter"))
    return guild, channel, analysts, analyst, reporter


async def menu_id(bot: Any, name: str) -> int:
    return next(c.id for c in await bot.tree.fetch_commands() if c.name == name)


async def test_add_to_corpus_takes_text_attachments_and_links_and_records_who_and_when(shared) -> None:
    guild_id = 910_000_000_000_000_091
    bot = make_bot(shared, ingest_role="Analysts")
    async with running(bot) as env:
        guild, channel, analysts, analyst, reporter = world(env, guild_id)
        guild.set_command_permissions(await menu_id(bot, "Add to corpus"), {guild.default_role: True})
        posted = await reporter.send(
            channel,
            ARTICLE + "\nSource: https://127.0.0.1:9/internal-page",
            attachments=[("kazakhstan.md", KAZAKHSTAN)],
        )

        refused = await reporter.context_menu(channel, "Add to corpus", posted)  # shown, but the check refuses
        assert refused.ephemeral and refused.response.content == (
            "Only members with the Manage Server permission or the “Analysts” role can add documents."
        )
        assert shared.app.store(bot.collection(guild_id)).count() == 0

        start = len(env.http_requests)
        added = await analyst.context_menu(channel, "Add to corpus", posted)
        assert env.http_requests[start].json == {"type": 5}  # deferred first, as /ingest
        (embed,) = added.response.embeds
        assert embed.title == "Ingest finished"
        lines = embed.description.splitlines()
        assert any(line.startswith(f"✅ **added** message {posted.id} (") for line in lines), lines
        assert any(line.startswith("✅ **added** kazakhstan.md (") for line in lines), lines
        # the link goes through the same SSRF-safe fetch as /ingest: a loopback address is refused
        (link,) = [line for line in lines if "127.0.0.1" in line]
        assert link.startswith("❌ **failed**") and re.search(r"private|loopback|local", link, re.I), link
        assert embed.footer.text == "added: 2 · updated: 0 · skipped: 0 · failed: 1"

        # the passages view says who added it and when
        shown = await analyst.slash(channel, "sources", query="paratroopers Almaty airport Tokayev request", k=3)
        footers = [e.footer.text for e in shown.response.embeds]
        assert any(re.search(r"added by analyst on \d{4}-\d\d-\d\d \d\d:\d\d UTC", f) for f in footers), footers
        message_passage = next(e for e in shown.response.embeds if "paratroopers" in (e.description or ""))
        assert message_passage.url and message_passage.url.startswith("https://discord.com/channels/")

        # the same message added again by someone else is unchanged, and keeps its first provenance
        admin = guild.add_member(
            env.create_user("admin"), roles=[guild.create_role("mods", permissions=discord.Permissions(manage_guild=True))]
        )
        again = await admin.context_menu(channel, "Add to corpus", posted)
        assert again.response.embeds[0].footer.text.startswith("added: 0 · updated: 0 · skipped: 2")
        assert not [type(e).__name__ for e in env.errors if type(e).__name__ != "NotAllowed"]


async def test_add_to_corpus_is_hidden_by_default_and_needs_something_to_add(shared) -> None:
    guild_id = 910_000_000_000_000_092
    bot = make_bot(shared, ingest_role="Analysts")
    async with running(bot) as env:
        guild, channel, analysts, analyst, reporter = world(env, guild_id)
        posted = await reporter.send(channel, "ok")
        with pytest.raises(simcord.SetupError, match="not visible"):  # default_permissions: Manage Server
            await reporter.context_menu(channel, "Add to corpus", posted)
        guild.set_command_permissions(await menu_id(bot, "Add to corpus"), {analysts: True})
        nothing = await analyst.context_menu(channel, "Add to corpus", posted)
        assert nothing.ephemeral and nothing.response.content == (
            "That message is too short to be an article (at least 12 words) and has no attachment or link to add."
        )
        assert [type(e).__name__ for e in env.errors] == ["CommandInvokeError"]  # a UserError, answered


async def test_assess_this_answers_the_question_or_the_place_in_a_message(shared) -> None:
    guild_id = 910_000_000_000_000_001  # the seeded corpus of the other Discord tests
    from discord_helpers import seed

    seed(shared, guild_id)
    bot = make_bot(shared)
    async with running(bot) as env:
        guild = env.create_guild(id=guild_id)
        channel = guild.create_text_channel("news")
        alice = guild.add_member(env.create_user("alice"))
        question = await alice.send(channel, "Will Russia send troops into Kazakhstan?")
        answered = await alice.context_menu(channel, "Assess this", question)
        main = answered.response.embeds[0]
        assert main.title.startswith("Kazakhstan: ")
        assert "**Q:** Will Russia send troops into Kazakhstan?" in main.description
        assert [c["label"] for row in answered.response.components for c in row["components"]][0] == "Show passages"

        article = await alice.send(channel, "Breaking: CSTO peacekeepers are arriving in Kazakhstan, officials say.")
        about = await alice.context_menu(channel, "Assess this", article)
        assert "**Q:** Will Russia send troops into Kazakhstan?" in about.response.embeds[0].description

        chatter = await alice.send(channel, "lol nice weather today")
        refused = await alice.context_menu(channel, "Assess this", chatter)
        assert refused.ephemeral and refused.response.content.startswith("That message names no place to assess")
        assert [type(e).__name__ for e in env.errors] == ["CommandInvokeError"]
