"""``analyst serve``: run the Discord bot. The main CLI (bot/cli.py) calls :func:`register`.

Commands are synced only on request: ``--sync-guild ID`` (or ``--sync-guild test`` for
``ANALYST_DISCORD_TEST_GUILD``) syncs them to that one server at start, instantly; production
deployments sync globally once with the owner command ``@Analyst sync global``. Syncing globally
at every start would hit Discord's rate limits and take up to an hour to show changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import NoReturn

import aiohttp
import discord
import typer

from bot.config import Settings
from bot.errors import UserError

from .bot import AnalystBot

log = logging.getLogger(__name__)


def _settings(ctx: typer.Context) -> Settings:
    """The main CLI's settings when it put them in ``ctx.obj``; otherwise built from the environment."""
    obj = ctx.find_object(Settings)
    return obj if isinstance(obj, Settings) else Settings()


def parse_sync_guild(value: str | None, settings: Settings) -> int | None:
    """``None`` (no sync), a guild id, or ``"test"`` for ``settings.discord_test_guild``.

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
    """Run until Ctrl-C/SIGTERM (both close the gateway, then the stores). Returns an exit code;
    a failure is one line on stderr."""

    async def main() -> None:
        async with bot:  # __aexit__ -> bot.close(): gateway first, then pool and stores
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(
                    NotImplementedError, RuntimeError
                ):  # not on Windows / not main thread
                    loop.add_signal_handler(sig, lambda s=sig: _stop(bot, s))
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
        sync_guild: str | None = typer.Option(
            None,
            "--sync-guild",
            metavar="ID",
            help="Sync slash commands to this server (guild id, or 'test' for ANALYST_DISCORD_TEST_GUILD) at start.",
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
        guild = parse_sync_guild(sync_guild, settings)
        if not logging.getLogger().handlers:
            discord.utils.setup_logging(level=logging.INFO)
        else:  # the main CLI configured WARNING: a server should still say what it is doing
            for name in ("bot", "discord"):
                logging.getLogger(name).setLevel(logging.INFO)
        bot = AnalystBot(settings, sync_guild=guild, seed_paths=None if seed else [])
        code = run_bot(bot, token)
        if code:
            raise SystemExit(code)
