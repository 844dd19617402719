"""The first start of a server and of the bot: commands synced when they changed, servers seeded
in the background, and a command that arrives while its server is being seeded (issue 10, 2-3)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import simcord
from discord_helpers import guild_with_members, make_bot, running, shared_app

import bot.discord.bot as bot_module
from bot.config import REPO_ROOT
from bot.discord.bot import SEEDING

SEED = REPO_ROOT / "knowledge" / "kazakhstan-2022-csto-deployment.md"
QUESTION = "Will Russia send troops into Kazakhstan?"


@pytest.fixture(scope="module")
def shared():
    return shared_app()


def puts(env: Any, start: int = 0) -> list[str]:
    return [r.path for r in env.http_requests[start:] if r.method == "PUT"]


def sync_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.discord.sync"]


async def test_the_first_start_syncs_globally_and_a_restart_with_the_same_commands_does_not(
    shared, caplog, tmp_path
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.sync")
    bot = make_bot(shared, data_dir=tmp_path)  # nothing synced before: no hash file yet
    env = simcord.Env(bot, settle_timeout=120)
    guild = env.create_guild(id=910_000_000_000_000_081)
    await env.start()
    try:
        assert puts(env) == [f"/applications/{bot.application_id}/commands"]  # global, at once
        assert sync_lines(caplog) == ["synced 6 commands globally"]  # one line: what, where
        alice = guild.add_member(env.create_user("alice"))
        channel = guild.create_text_channel("desk")
        assert {"assess", "sources", "history"} <= set(alice.available_commands(channel))
        assert (tmp_path / "commands-synced.json").is_file()

        start = len(env.http_requests)
        restarted = make_bot(shared, history=bot.history, data_dir=tmp_path)
        await env.restart_bot(restarted)
        assert puts(env, start) == []  # unchanged: not synced again (Discord rate-limits syncs)
        assert sync_lines(caplog)[-1] == "commands unchanged since the last sync globally; not syncing"
        result = await alice.slash(channel, "sources", query="CSTO")
        assert result.response is not None

        class WithAnotherCommand(bot_module.AnalystBot):
            async def setup_hook(self) -> None:
                from discord import app_commands

                @app_commands.command(name="ping", description="A command added in a new release.")
                async def ping(interaction) -> None:  # pragma: no cover - never invoked
                    await interaction.response.send_message("pong")

                self.tree.add_command(ping)
                await super().setup_hook()

        start = len(env.http_requests)
        changed = WithAnotherCommand(
            restarted.settings, app=shared.app, history=bot.history, seed_paths=[]
        )
        await env.restart_bot(changed)
        assert puts(env, start) == [f"/applications/{bot.application_id}/commands"]  # changed: synced
        assert sync_lines(caplog)[-1] == "synced 7 commands globally"
        await changed.finish_work()
        await restarted.finish_work()
    finally:
        await env.shutdown()
        await bot.finish_work()


async def test_sync_guild_is_repeatable_and_never_global(shared, caplog, tmp_path) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.sync")
    a, b = 910_000_000_000_000_082, 910_000_000_000_000_083
    bot = make_bot(shared, sync_guilds=[a, b], data_dir=tmp_path)
    env = simcord.Env(bot, settle_timeout=120)
    env.create_guild(id=a)
    env.create_guild(id=b)
    await env.start()
    try:
        app = bot.application_id
        assert puts(env) == [f"/applications/{app}/guilds/{a}/commands", f"/applications/{app}/guilds/{b}/commands"]
        assert sync_lines(caplog) == [f"synced 6 commands to servers {a}, {b}"]
    finally:
        await env.shutdown()
        await bot.finish_work()


async def test_known_servers_are_seeded_at_start_and_new_ones_on_join_in_the_background(
    shared, monkeypatch
) -> None:
    known, joined = 910_000_000_000_000_084, 910_000_000_000_000_085
    seeded: list[str] = []
    real = bot_module.ingest_items

    def slow_ingest(store, items, settings):  # the real seeding, a second slower (a big corpus)
        time.sleep(1.0)
        seeded.append(store.name)
        return real(store, items, settings)

    monkeypatch.setattr(bot_module, "ingest_items", slow_ingest)
    bot = make_bot(shared, seed_paths=[SEED])
    async with running(bot) as env:
        env.create_guild(id=known)
        await env.settle()
        assert bot.collection(known) in seeded  # no command was needed
        assert shared.app.store(bot.collection(known)).count() > 0

        # a server joined while the bot runs, and a command that arrives while it is being seeded
        _, channel, (alice,) = guild_with_members(env, joined)
        result = await alice.slash(channel, "assess", question=QUESTION)
        contents = [
            (r.json or {}).get("content") for r in env.http_requests if r.method == "PATCH" and isinstance(r.json, dict)
        ]
        assert SEEDING in contents  # the asker was told why it takes longer
        assert result.response.embeds and result.response.embeds[0].title.startswith("Kazakhstan")
        assert seeded.count(bot.collection(joined)) == 1  # seeded once, not once per request
        assert not env.errors
