"""The ``commands.Bot`` subclass: shared resources built once in ``setup_hook``, one cog per feature.

Shape (after discord.py's ``examples/advanced_startup.py`` and RoboDanny's ``bot.py``):

* ``__init__`` takes the settings and, optionally, resources built elsewhere (tests share one
  :class:`~bot.app.App` across many bots; resources passed in are not closed by the bot).
* ``setup_hook`` builds what is missing (the App: embedder, chroma, prompts; the history store;
  a bounded thread pool; the assessment queue), loads the cogs, registers the persistent
  buttons, and syncs application commands to one test guild *only when asked* (``sync_guild``).
* Everything blocking (embedding, chromadb, SQLite/SQLAlchemy, a local LLM, matplotlib) goes
  through :meth:`AnalystBot.run_blocking`, i.e. the worker pool, never the event loop.
* ``close`` stops the gateway first, then waits for running work and closes the stores.

Isolation: each guild has its own collection (:func:`collection_for`) and its own history rows;
every message goes out with ``AllowedMentions.none()`` (set on the Bot, and again per send).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.config import REPO_ROOT, Settings
from bot.core.models import Assessment
from bot.errors import UserError
from bot.history import HistoryStore
from bot.ingest import ingest_items

from .queue import AssessQueue, Report, UserCooldown
from .replies import answer_error

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

EXTENSIONS: tuple[str, ...] = (
    "bot.discord.cogs.admin",
    "bot.discord.cogs.assess",
    "bot.discord.cogs.sources",
    "bot.discord.cogs.ingest",
    "bot.discord.cogs.history",
    "bot.discord.cogs.mentions",
)

NO_MENTIONS = discord.AllowedMentions.none()
CHROMA_NAME_MAX = 63  # chromadb: 3-63 characters, alphanumeric at both ends


def collection_for(base: str, guild_id: int | None) -> str:
    """The guild's own collection: ``f"{base}-g{guild_id}"`` (the base shortened to fit chroma's 63)."""
    if guild_id is None:
        return base
    suffix = f"-g{guild_id}"
    prefix = base[: CHROMA_NAME_MAX - len(suffix)].rstrip("-_.") or "c"
    name = f"{prefix}{suffix}"
    return name if len(name) >= 3 else name.rjust(3, "c")


def default_intents() -> discord.Intents:
    """Only what the bot needs; no privileged intent (see docs/discord.md).

    ``guilds`` for the guild/channel/thread cache, ``guild_messages`` for mentions (Discord
    delivers the content of messages that mention the bot without the message-content intent).
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    return intents


@dataclass
class AssessOutcome:
    """One finished assessment, stored in history, ready to render."""

    id: int
    assessment: Assessment
    corpus_updated: str | None
    elapsed_s: float


class AnalystTree(app_commands.CommandTree):
    """The command tree whose ``on_error`` answers every failed interaction (see ``replies``)."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await answer_error(interaction, error)


class AnalystBot(commands.Bot):
    """The analyst bot. ``app``/``history`` may be injected (then the caller owns and closes them)."""

    def __init__(
        self,
        settings: Settings,
        *,
        app: App | None = None,
        history: HistoryStore | None = None,
        sync_guild: int | None = None,
        seed_paths: Sequence[Path] | None = None,
        owner_ids: set[int] | None = None,
        intents: discord.Intents | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # "@Analyst sync" (owner only); no message-content intent needed
            intents=intents or default_intents(),
            allowed_mentions=NO_MENTIONS,
            tree_cls=AnalystTree,
            help_command=None,
            owner_ids=owner_ids or None,
        )
        self.settings = settings
        self.app: App | None = app
        self.history: HistoryStore | None = history
        self._owns_app = app is None
        self._owns_history = history is None
        self.sync_guild = sync_guild
        knowledge = REPO_ROOT / "knowledge"
        self.seed_paths: list[Path] = (
            list(seed_paths) if seed_paths is not None else ([knowledge] if knowledge.is_dir() else [])
        )
        self.pool: ThreadPoolExecutor | None = None
        self.queue = AssessQueue(settings.max_concurrent_llm)
        self.cooldown = UserCooldown(settings.assess_cooldown_s)
        self._ready_collections: set[str] = set()
        self._collection_locks: dict[str, asyncio.Lock] = {}
        self._resources_closed = False

    # -- startup --------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        # One thread per concurrent assessment, plus two so /sources, votes and /history stay quick.
        workers = self.settings.max_concurrent_llm + 2
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyst")
        await self._start_workers(workers)
        if self.app is None:
            self.app = await self.run_blocking(App, self.settings)
        if self.history is None:
            self.history = await self.run_blocking(HistoryStore, self.settings.resolved_history_url)
        from .views import AssessmentButton

        self.add_dynamic_items(AssessmentButton)  # persistent: works for messages sent before a restart
        for ext in EXTENSIONS:
            await self.load_extension(ext)
        if self.sync_guild is not None:
            await self.sync_commands(self.sync_guild)
        # The App's long-lived object graph (chromadb, onnxruntime, pydantic, prompts) is ~150k
        # objects: every full collection walked it and paused the event loop 100-250 ms
        # (measured with benchmarks/bench_discord.py). Freezing moves what exists now out of the
        # collector's reach; later garbage is collected as usual.
        gc.freeze()

    async def _start_workers(self, n: int) -> None:
        """Start every pool thread now. The pool otherwise starts threads on demand, and starting
        one waits for it to be scheduled: under load that stalled the event loop for 100-200 ms
        right when a burst of requests arrived (measured by benchmarks/bench_discord.py)."""
        barrier = threading.Barrier(n + 1)
        waits = [self.run_blocking(barrier.wait, 10) for _ in range(n)]
        await asyncio.gather(*waits, asyncio.to_thread(barrier.wait, 10))

    async def sync_commands(self, guild_id: int | None) -> list[app_commands.AppCommand]:
        """Sync to one guild (instant; for testing) or, with None, globally (for production, once)."""
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d commands globally", len(synced))
            return synced
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d commands to guild %s", len(synced), guild_id)
        return synced

    async def on_command_error(self, context: commands.Context, exception: commands.CommandError, /) -> None:
        """Mention-prefixed text commands (only ``sync``): a mention that is a question is not an error."""
        if isinstance(exception, commands.CommandNotFound):
            return
        if isinstance(exception, commands.CheckFailure):
            await context.reply("Only the bot's owner can do that, in a server.", mention_author=False)
            return
        log.error("command %s failed", context.command, exc_info=exception)
        await context.reply("That did not work; the error was logged.", mention_author=False)

    async def on_ready(self) -> None:
        log.info(
            "logged in as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds)
        )

    # -- blocking work ------------------------------------------------------------------------------
    async def run_blocking(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call in the worker pool (never on the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(func, *args, **kwargs))

    def collection(self, guild_id: int | None) -> str:
        return collection_for(self.settings.collection, guild_id)

    def _app(self) -> App:
        if self.app is None:
            raise RuntimeError("the bot is not set up yet")
        return self.app

    def _history(self) -> HistoryStore:
        if self.history is None:
            raise RuntimeError("the bot is not set up yet")
        return self.history

    async def ensure_collection(self, guild_id: int | None) -> str:
        """The guild's collection name, opened, and seeded with the starter corpus when empty.

        Seeding happens once per process per guild, under a per-collection lock so that two
        first requests do not ingest twice.
        """
        name = self.collection(guild_id)
        if name in self._ready_collections:
            return name
        lock = self._collection_locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name in self._ready_collections:
                return name
            app = self._app()
            store = await self.run_blocking(app.store, name)
            if self.seed_paths and await self.run_blocking(store.count) == 0:
                log.info("seeding collection %s from %s", name, ", ".join(map(str, self.seed_paths)))
                await self.run_blocking(ingest_items, store, [str(p) for p in self.seed_paths], self.settings)
            self._ready_collections.add(name)
        return name

    async def assess(
        self,
        question: str,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        as_of: dt.date | None = None,
        report: Report | None = None,
        started: float | None = None,
        max_wait_s: float | None = None,
    ) -> AssessOutcome:
        """Queue, assess off the loop, store in history. ``report(position)`` tells a waiter its place.

        ``max_wait_s`` bounds the time in line (an interaction's token lasts 15 minutes: better a
        clear "too busy" than an answer that can no longer be delivered).
        """
        t0 = started if started is not None else time.perf_counter()
        collection = await self.ensure_collection(guild_id)
        app, history = self._app(), self._history()

        def work() -> tuple[int, Assessment, str | None]:
            assessment = app.assess(question, collection=collection, as_of=as_of)
            updated = app.store(collection).last_updated()
            record_id = history.record(assessment, guild_id=guild_id, channel_id=channel_id, user_id=user_id)
            return record_id, assessment, updated

        try:
            await asyncio.wait_for(self.queue.acquire(report), timeout=max_wait_s)
        except TimeoutError:
            raise UserError(
                "The bot is busy and your question waited too long in line; please ask again in a few minutes."
            ) from None
        try:
            record_id, assessment, updated = await self.run_blocking(work)
        finally:
            self.queue.release()
        return AssessOutcome(record_id, assessment, updated, time.perf_counter() - t0)

    # -- shutdown -------------------------------------------------------------------------------
    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.close_resources()

    async def close_resources(self) -> None:
        """Wait for running work, then close what this bot built (idempotent)."""
        if self._resources_closed:
            return
        self._resources_closed = True
        pool, self.pool = self.pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(pool.shutdown, wait=True, cancel_futures=True)
            )
        closers: list[Callable[[], Any]] = []
        if self._owns_history and self.history is not None:
            closers.append(self.history.close)
        if self._owns_app and self.app is not None:
            closers.append(self.app.close)
        for closer in closers:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(None, closer)
        log.info("stores closed")


def interaction_wait_budget(interaction: discord.Interaction, settings: Settings) -> float:
    """Seconds an interaction may still wait in line: its 15-minute token, minus a minute of margin
    and the time one assessment may take (the LLM timeout)."""
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    return max(30.0, 14 * 60 - age - settings.llm_timeout_s)


def guild_id_of(obj: discord.Interaction | discord.Message) -> int | None:
    guild = obj.guild
    return guild.id if guild is not None else None
