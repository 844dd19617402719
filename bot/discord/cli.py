"""``analyst serve``: run the Discord bot. The main CLI (bot/cli.py) calls :func:`register`.

The entry point builds the App and the history store, passes them to the bot and closes them
once it has stopped (discord.py's ``examples/advanced_startup.py`` shape).

Commands are synced at start when they differ from the last sync (a hash in the data directory):
globally by default, or to the servers given with ``--sync-guild ID`` (repeatable; ``test`` means
``ANALYST_DISCORD_TEST_GUILD``), which is instant and meant for testing. ``--no-sync`` skips it;
the owner command ``@Analyst sync [global]`` forces one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from typing import NoReturn

import aiohttp
import discord
import typer

from bot.app import App
from bot.config import Settings
from bot.errors import UserError
from bot.history import HistoryStore

from .bot import AnalystBot

log = logging.getLogger(__name__)


def _settings(ctx: typer.Context) -> Settings:
    """The main CLI's settings when it put them in ``ctx.obj``; otherwise built from the environment."""
    obj = ctx.find_object(Settings)
    return obj if isinstance(obj, Settings) else Settings()


def parse_sync_guilds(values: list[str] | None, settings: Settings) -> list[int] | None:
    """``None`` (sync globally) or the guild ids given (each an id, or ``test``)."""
    if not values:
        return None
    return list(dict.fromkeys(g for v in values if (g := parse_sync_guild(v, settings)) is not None))


def parse_sync_guild(value: str | None, settings: Settings) -> int | None:
    """``None``, a guild id, or ``"test"`` for ``settings.discord_test_guild``.

    A bad value is one line on stderr and exit code 2 (a plain SystemExit, which every way of
    running Typer passes through unchanged)."""
    if value is None:
        return None
    if value.strip().lower() == "test":
        if settings.discord_test_guild is None:
            _fail("--sync-guild test needs ANALYST_DISCORD_TEST_GUILD to be set.")
        return settings.discord_test_guild
    if not value.strip().isdigit():
        _fail(f"--sync-guild expects a server (guild) id or 'test', not {value!r}.")
    return int(value)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(code)  # not typer.Exit: click returns (does not raise) it when standalone_mode=False


def run_bot(bot: AnalystBot, token: str) -> int:
    """Run until Ctrl-C/SIGTERM (both close the gateway, then wait for running work). Returns an
    exit code; a failure is one line on stderr. The caller closes the App and history store."""

    async def main() -> None:
        async with bot:  # __aexit__ -> bot.close(): gateway first, then the running work
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(
                    NotImplementedError, RuntimeError
                ):  # not on Windows / not main thread
                    loop.add_signal_handler(sig, functools.partial(_stop, bot, sig))
            await bot.start(token)

    try:
        asyncio.run(main())
    except discord.LoginFailure:
        typer.echo(
            "error: Discord rejected the token (ANALYST_DISCORD_TOKEN); reset it in the Developer Portal.",
            err=True,
        )
        return 1
    except discord.PrivilegedIntentsRequired:
        typer.echo("error: Discord refused an intent this bot asked for; see docs/discord.md.", err=True)
        return 1
    except UserError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        return 1
    except (
        OSError,  # refused, unreachable, DNS (aiohttp's connector errors are OSErrors)
        aiohttp.ClientError,  # a server that hangs up or answers garbage
        TimeoutError,
        discord.GatewayNotFound,
        discord.ConnectionClosed,
        discord.DiscordServerError,  # 5xx after discord.py's own retries
    ) as exc:
        detail = " ".join(str(exc).split())[:160] or "no detail"
        typer.echo(f"error: cannot reach Discord ({type(exc).__name__}: {detail}).", err=True)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _stop(bot: AnalystBot, sig: signal.Signals) -> None:
    log.info("received %s, shutting down", sig.name)
    asyncio.get_running_loop().create_task(bot.close())


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the main Typer app."""

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        sync_guild: list[str] | None = typer.Option(
            None,
            "--sync-guild",
            metavar="ID",
            help="Sync the commands to this server instead of globally (repeatable; 'test' = ANALYST_DISCORD_TEST_GUILD).",
        ),
        sync: bool = typer.Option(
            True, "--sync/--no-sync", help="Sync the commands at start when they changed since the last sync."
        ),
        seed: bool = typer.Option(
            True, "--seed/--no-seed", help="Seed a server's empty corpus with knowledge/ on first use."
        ),
    ) -> None:
        """Run the Discord bot (needs ANALYST_DISCORD_TOKEN; see docs/discord.md)."""
        settings = _settings(ctx)
        token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
        if not token:
            typer.echo(
                "error: no Discord bot token; set ANALYST_DISCORD_TOKEN (see docs/discord.md).", err=True
            )
            raise SystemExit(
                2
            )  # not typer.Exit: click returns (does not raise) it when standalone_mode=False
        guilds = parse_sync_guilds(sync_guild, settings)
        if not logging.getLogger().handlers:
            discord.utils.setup_logging(level=logging.INFO)
        else:  # the main CLI configured WARNING: a server should still say what it is doing
            for name in ("bot", "discord"):
                logging.getLogger(name).setLevel(logging.INFO)
        try:
            app = App(settings)
            history = HistoryStore(settings.resolved_history_url)
        except UserError as exc:
            _fail(exc.message, 1)
        try:
            bot = AnalystBot(
                settings, app=app, history=history, sync_guilds=guilds, sync=sync, seed_paths=None if seed else []
            )
            code = run_bot(bot, token)
        finally:
            history.close()
            app.close()
            log.info("stores closed")
        if code:
            raise SystemExit(code)
