"""Helpers to drive the real bot in simcord's in-memory Discord (tests and benchmarks/bench_discord.py).

Not shipped in the package: simcord is a dev dependency. One process-wide :class:`~bot.app.App`
(embedder, chroma in a temp dir, starter corpus ingested once per guild) keeps the whole suite
fast on two cores; each bot gets its own history database and its own data directory (so the
command-sync hash of one test never makes another skip its sync).
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
from bot.discord.bot import AnalystBot
from bot.discord.util import collection_for
from bot.history import HistoryStore
from bot.ingest import ingest_items

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
    app: App | None = None,
    sync_guilds: list[int] | None = None,
    sync: bool = True,
    owner_ids: set[int] | None = None,
    seed_paths: list[Path] | None = None,
    data_dir: Path | None = None,
    **overrides: Any,
) -> AnalystBot:
    """A bot on the shared App (syncing its commands at start, globally unless ``sync_guilds``);
    ``overrides`` change settings (e.g. ``assess_cooldown_s=30``). Its history and data directory
    are its own unless given (give both to stand for a restart of the same deployment)."""
    own = Path(tempfile.mkdtemp(dir=shared.tmp.name))
    settings = shared.settings.model_copy(update={"data_dir": data_dir or own, **overrides})
    if history is None:
        history = HistoryStore(f"sqlite:///{(own / 'history.sqlite3').as_posix()}")
    bot = AnalystBot(
        settings,
        app=app or shared.app,
        history=history,
        seed_paths=[] if seed_paths is None else seed_paths,
        sync_guilds=sync_guilds,
        sync=sync,
        owner_ids=owner_ids,
    )
    # simcord's settle waits for real timers: a refusal that deletes itself after a minute
    # would make each such test last a minute (tests read the refusal from the requests)
    bot.refusal_ttl_s = 0.05
    return bot


def bot_posts(env: Any, start: int = 0) -> list[dict]:
    """Bodies of the messages the bot posted (POST .../messages) since request ``start``."""
    return [
        r.json
        for r in env.http_requests[start:]
        if r.method == "POST" and r.path.startswith("/channels/") and r.path.endswith("/messages")
    ]


def deleted_ids(env: Any, start: int = 0) -> set[int]:
    """Ids of the messages the bot deleted since request ``start``."""
    return {
        int(r.path.rsplit("/", 1)[1])
        for r in env.http_requests[start:]
        if r.method == "DELETE" and "/messages/" in r.path
    }


@contextlib.asynccontextmanager
async def running(bot: AnalystBot, **options: Any) -> AsyncIterator[Any]:
    """``simcord.run`` with a generous settle timeout (assessments take real CPU time); the bot's
    work is finished at the end (the history store is the test's, as it is serve's)."""
    import simcord

    options.setdefault("settle_timeout", 120.0)
    try:
        async with simcord.run(bot, **options) as env:
            yield env
    finally:
        await bot.finish_work()


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
