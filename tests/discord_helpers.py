"""Helpers to drive the real bot in simcord's in-memory Discord (used by tests and the benchmark).

Why here and not in a conftest: the benchmark script needs exactly the same setup, and one
process-wide :class:`~bot.app.App` (embedder, chroma in a temp dir, starter corpus ingested once
per guild) keeps the whole suite fast on two cores. simcord is a dev dependency, imported lazily.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import REPO_ROOT, Settings
from bot.history import HistoryStore
from bot.ingest import ingest_items

from .bot import AnalystBot, collection_for

KNOWLEDGE = REPO_ROOT / "knowledge"


@dataclass
class Shared:
    settings: Settings
    app: App
    tmp: tempfile.TemporaryDirectory[str]
    seeded: set[int]
    lock: threading.Lock

    @property
    def data_dir(self) -> Path:
        return Path(self.tmp.name)


@functools.cache
def shared_app() -> Shared:
    """One App per process: a temp data dir, the indicator engine (no LLM), no cooldown."""
    tmp = tempfile.TemporaryDirectory(prefix="analyst-discord-")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=Path(tmp.name),
        llm_provider="none",
        assess_cooldown_s=0,
        max_concurrent_llm=2,
    )
    return Shared(settings, App(settings), tmp, set(), threading.Lock())


def seed(shared: Shared, guild_id: int) -> str:
    """Ingest knowledge/ into the guild's collection once per process (outside the event loop)."""
    name = collection_for(shared.settings.collection, guild_id)
    with shared.lock:
        if guild_id not in shared.seeded:
            ingest_items(shared.app.store(name), [str(KNOWLEDGE)], shared.settings)
            shared.seeded.add(guild_id)
    return name


def make_bot(
    shared: Shared,
    *,
    history: HistoryStore | None = None,
    sync_guild: int | None = None,
    owner_ids: set[int] | None = None,
    **overrides: Any,
) -> AnalystBot:
    """A bot on the shared App; ``overrides`` change settings (e.g. ``assess_cooldown_s=30``)."""
    settings = shared.settings.model_copy(update=overrides)
    if history is None:
        history = HistoryStore(
            f"sqlite:///{(Path(tempfile.mkdtemp(dir=shared.tmp.name)) / 'history.sqlite3').as_posix()}"
        )
    return AnalystBot(
        settings, app=shared.app, history=history, seed_paths=[], sync_guild=sync_guild, owner_ids=owner_ids
    )


@contextlib.asynccontextmanager
async def running(bot: AnalystBot, *, sync: bool = True, **options: Any) -> AsyncIterator[Any]:
    """``simcord.run`` with a generous settle timeout (assessments take real CPU time), the
    commands synced globally (unless the bot syncs a test guild itself), and the bot's own
    resources (pool; history when it built it) closed at the end."""
    import simcord

    options.setdefault("settle_timeout", 120.0)
    try:
        async with simcord.run(bot, **options) as env:
            if sync and bot.sync_guild is None:
                await bot.tree.sync()
            yield env
    finally:
        await bot.close_resources()


def guild_with_members(
    env: Any, guild_id: int, names: list[str] | tuple[str, ...] = ("alice",), *, channel: str = "general"
) -> tuple[Any, Any, list[Any]]:
    """A simcord guild with one text channel and a member per name: (guild, channel, members)."""
    guild = env.create_guild(id=guild_id)
    text_channel = guild.create_text_channel(channel)
    return guild, text_channel, [guild.add_member(env.create_user(name)) for name in names]


@contextlib.contextmanager
def simultaneous(env: Any) -> Iterator[None]:
    """Inside this block actor verbs (``slash``, ``click``, ``send``) dispatch their event without
    waiting for the bot to finish: ten ``slash`` calls in a row then reach the bot together, as
    ten users pressing Enter at once would. Call ``await env.settle()`` afterwards.

    (simcord settles after every verb; this swaps its per-verb settle for a no-op, nothing else.)
    """

    async def no_settle(**_kwargs: Any) -> None:
        return None

    env._settle_internal = no_settle
    try:
        yield
    finally:
        del env._settle_internal
