"""The ``commands.Bot`` subclass: shared resources passed in, one cog per feature.

Shape (after discord.py's ``examples/advanced_startup.py`` and RoboDanny's ``bot.py``):

* the entry point (``analyst serve``, or a test) builds the :class:`~bot.app.App` and the
  :class:`~bot.history.HistoryStore`, passes them in, and closes them after the bot has stopped:
  the bot never has to know whether it owns them;
* ``setup_hook`` starts a bounded thread pool, loads the cogs (each registers what it owns: the
  assess cog its persistent answer buttons, the ingest cog its "Add to corpus" menu) and syncs
  the application commands when they differ from the last sync (:mod:`bot.discord.sync`);
* known servers are seeded with the starter corpus in the background once connected, and a new
  server as soon as the bot joins it (:meth:`AnalystBot.ensure_collection`);
* everything blocking (embedding, chromadb, SQLAlchemy, a local LLM, matplotlib) goes through
  :meth:`AnalystBot.run_blocking`, i.e. the worker pool, never the event loop;
* ``close`` stops the gateway first, then waits for running work.

Isolation: each guild has its own collection (:func:`~bot.discord.util.collection_for`) and its
own history rows; every message goes out with ``AllowedMentions.none()`` (set on the Bot, and
again per send).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.config import Settings, packaged_dir
from bot.core.models import Assessment
from bot.core.ports import ProgressCallback
from bot.errors import UserError
from bot.history import HistoryStore
from bot.ingest import ingest_items

from .queue import AssessQueue, Report, UserCooldown
from .replies import answer_error
from .sync import CommandSync
from .util import NO_MENTIONS, collection_for, default_intents

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

Notice = Callable[[str], Awaitable[None]]
SEEDING = "Setting up this server's starter corpus (its first use); your answer follows as soon as it is ready…"


@dataclass
class AssessOutcome:
    """One finished assessment, stored in history, ready to render."""

    id: int  # the history row (button custom ids)
    number: int  # this server's assessment number, what users see ("#3")
    assessment: Assessment
    corpus_updated: str | None
    elapsed_s: float


def _log_seeding_failure(task: asyncio.Task[str]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("seeding %s failed; the next command in that server tries again", task.get_name(), exc_info=exc)


class AnalystTree(app_commands.CommandTree):
    """The command tree whose ``on_error`` answers every failed interaction (see ``replies``)."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await answer_error(interaction, error)


class AnalystBot(commands.Bot):
    """The analyst bot over an App and a history store that the caller built (and will close).

    ``sync_guilds``: ``None`` syncs the commands globally, a list syncs them to those servers
    only; ``sync=False`` never syncs at start (the owner's ``@Analyst sync`` still does).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        app: App,
        history: HistoryStore,
        sync_guilds: Sequence[int] | None = None,
        sync: bool = True,
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
        self.app = app
        self.history = history
        self.sync_guilds: list[int] | None = list(sync_guilds) if sync_guilds is not None else None
        self.sync_at_start = sync
        self.command_sync = CommandSync(self, settings.data_dir / "commands-synced.json")
        knowledge = packaged_dir("knowledge")  # the checkout's, or the copy inside an installed wheel
        self.seed_paths: list[Path] = (
            list(seed_paths) if seed_paths is not None else ([knowledge] if knowledge.is_dir() else [])
        )
        self.pool: ThreadPoolExecutor | None = None
        self.queue = AssessQueue(settings.max_concurrent_llm)
        self.cooldown = UserCooldown(settings.assess_cooldown_s)
        self._ready_collections: set[str] = set()
        self._seeding: dict[str, asyncio.Task[str]] = {}
        self._seed_slot = asyncio.Semaphore(1)
        self._closed_work = False
        self.refusal_ttl_s = 60.0  # a refusal on the mention path deletes itself after this

    # -- startup --------------------------------------------------------------------------------
    async def setup_hook(self) -> None:
        # One thread per concurrent assessment, plus two so /sources, votes and /history stay quick.
        workers = self.settings.max_concurrent_llm + 2
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyst")
        await self._start_workers(workers)
        for ext in EXTENSIONS:
            await self.load_extension(ext)
        if self.sync_at_start:
            await self.command_sync.sync_if_changed(self.sync_guilds)
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
        """Sync now (the owner command): to one guild (instant), or with None globally."""
        return await self.command_sync.sync([guild_id] if guild_id is not None else None)

    async def on_command_error(self, context: commands.Context, exception: commands.CommandError, /) -> None:
        """Mention-prefixed text commands (only ``sync``): a mention that is a question is not an error."""
        if isinstance(exception, commands.CommandNotFound):
            return
        if isinstance(exception, commands.CheckFailure):
            await context.reply(
                "Only the bot's owner can do that, in a server.",
                mention_author=False,
                delete_after=self.refusal_ttl_s,
            )
            return
        log.error("command %s failed", context.command, exc_info=exception)
        await context.reply("That did not work; the error was logged.", mention_author=False)

    async def on_ready(self) -> None:
        log.info(
            "logged in as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds)
        )
        for guild in self.guilds:  # on every (re)connect; a seeded guild is a no-op
            self.start_seeding(guild.id)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        log.info("joined guild %s", guild.id)
        self.start_seeding(guild.id)

    async def on_guild_available(self, guild: discord.Guild) -> None:  # back after an outage
        self.start_seeding(guild.id)

    # -- blocking work ------------------------------------------------------------------------------
    async def run_blocking(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call in the worker pool (never on the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(func, *args, **kwargs))

    def collection(self, guild_id: int | None) -> str:
        return collection_for(self.settings.collection, guild_id)

    # -- the guild's corpus -------------------------------------------------------------------------
    def start_seeding(self, guild_id: int | None) -> asyncio.Task[str] | None:
        """Open the guild's collection and seed it when empty, in the background (once)."""
        name = self.collection(guild_id)
        if name in self._ready_collections:
            return None
        task = self._seeding.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._prepare(name), name=f"seed-{name}")
            task.add_done_callback(_log_seeding_failure)
            self._seeding[name] = task
        return task

    async def _prepare(self, name: str) -> str:
        try:
            store = await self.run_blocking(self.app.store, name)
            if self.seed_paths and await self.run_blocking(store.count) == 0:
                # one server at a time: seeding many servers at start must not take every worker
                # thread from the commands being answered meanwhile
                async with self._seed_slot:
                    t0 = time.perf_counter()
                    await self.run_blocking(
                        ingest_items, store, [str(p) for p in self.seed_paths], self.settings
                    )
                log.info("seeded collection %s in %.1f s", name, time.perf_counter() - t0)
            self._ready_collections.add(name)
            return name
        finally:
            self._seeding.pop(name, None)

    def is_seeding(self, guild_id: int | None) -> bool:
        return self.collection(guild_id) in self._seeding

    async def ensure_collection(self, guild_id: int | None, notify: Notice | None = None) -> str:
        """The guild's collection, opened and seeded. While it is being seeded, ``notify`` is told
        so (once) and the call waits for the seeding to finish."""
        name = self.collection(guild_id)
        if name in self._ready_collections:
            return name
        task = self.start_seeding(guild_id)
        if task is None:
            return name
        if not task.done() and notify is not None and self.seed_paths:
            try:
                await notify(SEEDING)
            except discord.HTTPException:
                log.debug("could not say the corpus is being seeded", exc_info=True)
        return await asyncio.shield(task)

    # -- assessing ----------------------------------------------------------------------------------
    async def assess(
        self,
        question: str,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        as_of: dt.date | None = None,
        report: Report | None = None,
        notify: Notice | None = None,
        progress: ProgressCallback | None = None,
        started: float | None = None,
        max_wait_s: float | None = None,
    ) -> AssessOutcome:
        """Queue, assess off the loop, store in history. ``report(position)`` tells a waiter its place,
        ``notify`` that the server's corpus is still being seeded, ``progress`` each variable.

        ``max_wait_s`` bounds the time in line (an interaction's token lasts 15 minutes: better a
        clear "too busy" than an answer that can no longer be delivered).
        """
        t0 = started if started is not None else time.perf_counter()
        collection = await self.ensure_collection(guild_id, notify)
        app, history = self.app, self.history

        def work() -> tuple[int, int, Assessment, str | None]:
            if progress is not None:
                assessment = app.assess(question, collection=collection, as_of=as_of, progress=progress)
            else:
                assessment = app.assess(question, collection=collection, as_of=as_of)
            updated = app.store(collection).last_updated()
            record_id, number = history.record_numbered(
                assessment, guild_id=guild_id, channel_id=channel_id, user_id=user_id
            )
            return record_id, number, assessment, updated

        try:
            await asyncio.wait_for(self.queue.acquire(report), timeout=max_wait_s)
        except TimeoutError:
            raise UserError(
                "The bot is busy and your question waited too long in line; please ask again in a few minutes."
            ) from None
        try:
            record_id, number, assessment, updated = await self.run_blocking(work)
        finally:
            self.queue.release()
        return AssessOutcome(record_id, number, assessment, updated, time.perf_counter() - t0)

    # -- shutdown -------------------------------------------------------------------------------
    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.finish_work()

    async def finish_work(self) -> None:
        """Wait for running work and stop the pool (idempotent). The App and history store are
        the caller's to close."""
        if self._closed_work:
            return
        self._closed_work = True
        for task in list(self._seeding.values()):
            task.cancel()
        pool, self.pool = self.pool, None
        if pool is not None:
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(pool.shutdown, wait=True, cancel_futures=True)
            )
        log.info("work finished")
