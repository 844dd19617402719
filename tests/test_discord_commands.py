"""/sources, /history, command syncing (flag and owner command) and ``analyst serve`` in simcord."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import discord
import pytest
import simcord
import typer
from discord_helpers import bot_posts, guild_with_members, make_bot, running, seed, shared_app
from typer.testing import CliRunner

from bot.discord import cli as discord_cli
from bot.discord.bot import AnalystBot
from bot.history import HistoryStore

GUILD = 910_000_000_000_000_001


@pytest.fixture(scope="module")
def shared():
    s = shared_app()
    seed(s, GUILD)
    return s


async def test_sources_pages_dated_passages_without_an_llm(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = guild_with_members(env, GUILD)
        start = len(env.http_requests)
        result = await alice.slash(channel, "sources", query="CSTO peacekeepers Kazakhstan Tokayev", k=10)
        assert env.http_requests[start].json == {"type": 5}
        page = result.response
        assert (
            page.content
            == "Background passages for “CSTO peacekeepers Kazakhstan Tokayev”: 10 found · page 1/3"
        )
        assert [e.title[:4] for e in page.embeds] == ["[1] ", "[2] ", "[3] ", "[4] "]
        assert all(e.url and e.footer.text for e in page.embeds)
        turned = await alice.click(page.message, label="Next")
        assert turned.response.content.endswith("page 2/3")
        assert turned.response.embeds[0].title.startswith("[5] ")

        old = await alice.slash(
            channel, "sources", query="Russian troops peacekeepers", k=5, as_of="2009-01-01"
        )
        dates = [dt.date.fromisoformat(e.footer.text.split(" · ")[0]) for e in old.response.embeds]
        assert dates and all(d <= dt.date(2009, 1, 1) for d in dates)
        assert "(as of 2009-01-01)" in old.response.content and len(dates) <= 5


async def test_pages_turn_only_for_the_person_who_asked(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        guild, channel, (alice,) = guild_with_members(env, GUILD)
        bob = guild.add_member(env.create_user("bob"))
        result = await alice.slash(channel, "sources", query="sanctions after Crimea", k=8)
        refused = await bob.click(result.response.message, label="Next")
        assert (
            refused.ephemeral
            and refused.response.content == "Only the person who asked can turn these pages."
        )
        assert result.response.content.endswith("page 1/2")


async def test_history_lists_recent_assessments_with_a_chart(shared) -> None:
    bot = make_bot(shared)
    async with running(bot) as env:
        _, channel, (alice,) = guild_with_members(env, GUILD)
        empty = await alice.slash(channel, "history")
        assert empty.response.embeds[0].description == "No assessment yet in this server; ask with /assess."
        await alice.slash(
            channel, "assess", question="Will Russia send troops into Kazakhstan?", as_of="2021-12-31"
        )
        await alice.slash(channel, "assess", question="Will Russia send troops into Armenia?")
        await alice.slash(channel, "assess", question="Will Russia send troops into Kazakhstan?")

        everything = await alice.slash(channel, "history")
        embed = everything.response.embeds[0]
        assert embed.description.count("`#") == 3 and embed.description.startswith("`#3`")
        assert embed.image.url == "attachment://history.png"
        (png,) = everything.response.attachments
        assert png.filename == "history.png" and (await png.read()).startswith(b"\x89PNG")

        kaz = (await alice.slash(channel, "history", subject="kazakh")).response
        assert kaz.embeds[0].title == "Recent assessments: kazakh"
        assert kaz.embeds[0].description.count("`#") == 2 and "as of 2021-12-31" in kaz.embeds[0].description
        assert kaz.embeds[0].footer.text.startswith("Chart: Kazakhstan")
        # without a subject the chart shows the most assessed subject, not whatever came last
        await alice.slash(channel, "assess", question="Will Russia send troops into Belarus?")
        latest = (await alice.slash(channel, "history")).response.embeds[0]
        assert latest.description.startswith("`#4`") and "**Belarus**" in latest.description.split("\n")[0]
        assert latest.footer.text.startswith("Chart: Kazakhstan (the most assessed subject)")
        none = (await alice.slash(channel, "history", subject="Narnia")).response
        assert none.embeds[0].description.startswith("No assessment of “Narnia” yet") and not none.attachments


async def test_sync_guild_syncs_to_that_server_only(shared) -> None:
    bot = make_bot(shared, sync_guilds=[GUILD])
    env = simcord.Env(bot, settle_timeout=120)
    guild = env.create_guild(id=GUILD)
    other = env.create_guild(id=GUILD + 1)
    await env.start()
    try:
        puts = [r.path for r in env.http_requests if r.method == "PUT"]
        assert puts == [f"/applications/{bot.application_id}/guilds/{GUILD}/commands"]  # never global
        alice = guild.add_member(env.create_user("alice"))
        assert {"assess", "sources", "history"} <= set(
            alice.available_commands(guild.create_text_channel("x"))
        )
        bob = other.add_member(env.create_user("bob"))
        with pytest.raises(simcord.SetupError):
            await bob.slash(
                other.create_text_channel("y"), "assess", question="Will Russia send troops into Belarus?"
            )
    finally:
        await env.shutdown()
        await bot.finish_work()


async def test_owner_syncs_by_mention_and_others_cannot(shared) -> None:
    bot = make_bot(shared, sync=False)
    async with running(bot) as env:
        guild = env.create_guild(id=GUILD)
        channel = guild.create_text_channel("ops")
        owner = guild.add_member(env.create_user("owner"))
        someone = guild.add_member(env.create_user("someone"))
        bot.owner_ids = {owner.id}
        await someone.send(channel, f"{bot.user.mention} sync")
        assert bot_posts(env)[-1]["content"] == "Only the bot's owner can do that, in a server."
        with pytest.raises(simcord.SetupError):
            await owner.slash(channel, "sources", query="CSTO")  # nothing synced yet
        await owner.send(channel, f"{bot.user.mention} sync")
        assert channel.last_message.content == "Synced 6 commands to this server."  # 4 slash, 2 menus
        result = await owner.slash(channel, "sources", query="CSTO")
        assert result.response.embeds
        assert [type(e).__name__ for e in env.errors] == ["NotOwner"]


# -- analyst serve -------------------------------------------------------------------------------


def cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """The main CLI's stand-in."""

    discord_cli.register(app)
    return app


def test_serve_without_a_token_exits_2_with_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ANALYST_DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    result = CliRunner().invoke(cli_app(), ["serve"])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        == "error: no Discord bot token; set ANALYST_DISCORD_TOKEN (see docs/discord.md)."
    )


def test_serve_rejects_a_bad_sync_guild(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANALYST_DISCORD_TOKEN", "x")
    monkeypatch.delenv("ANALYST_DISCORD_TEST_GUILD", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_app(), ["serve", "--sync-guild", "test"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: --sync-guild test needs ANALYST_DISCORD_TEST_GUILD to be set."
    result = CliRunner().invoke(cli_app(), ["serve", "--sync-guild", "general"])
    assert result.exit_code == 2 and "expects a server (guild) id or 'test'" in result.output


class RejectedToken(AnalystBot):
    async def login(self, token: str) -> None:
        raise discord.LoginFailure("Improper token has been passed.")


def test_a_wrong_token_is_one_line(shared, capsys) -> None:
    bot = RejectedToken(shared.settings, app=shared.app, history=HistoryStore("sqlite://"), seed_paths=[], sync=False)
    assert discord_cli.run_bot(bot, "wrong") == 1
    err = capsys.readouterr().err.strip()
    assert (
        err == "error: Discord rejected the token (ANALYST_DISCORD_TOKEN); reset it in the Developer Portal."
    )
    assert bot._closed_work


class StopsOnSigterm(AnalystBot):
    """Instead of connecting, wait for SIGTERM the way the real gateway loop would run until closed."""

    async def start(self, token: str, *, reconnect: bool = True) -> None:
        self.pool = ThreadPoolExecutor(1)  # as setup_hook would
        self.stopped = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        await self.stopped.wait()

    async def close(self) -> None:
        await super().close()
        self.stopped.set()


def test_sigterm_closes_the_gateway_then_the_stores(shared) -> None:
    history = HistoryStore("sqlite://")
    bot = StopsOnSigterm(shared.settings, app=shared.app, history=history, seed_paths=[], sync=False)
    assert discord_cli.run_bot(bot, "token") == 0
    assert bot._closed_work and bot.pool is None and bot.is_closed()  # serve closes the stores next
