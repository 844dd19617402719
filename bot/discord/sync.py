"""Application commands are there on the first start, and synced again only when they change.

Discord rate-limits syncing and a global change takes a while to reach every client, so syncing
blindly at every start is wrong, and never syncing (waiting for the owner) leaves a new bot with
no commands. :class:`CommandSync` hashes the command tree's payload (every slash command and
context menu, as discord.py would send it) per target ("global" or "guild:<id>") and keeps the
hashes of the last successful sync in a small JSON file in the data directory; at start it syncs
each target whose hash differs, and logs one line saying what was synced where.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

if TYPE_CHECKING:
    from .bot import AnalystBot

log = logging.getLogger(__name__)


def tree_payload(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None = None) -> list[dict[str, Any]]:
    """What ``tree.sync(guild=...)`` would send, sorted (command order does not matter to Discord)."""
    payload = []
    for cmd in tree._get_all_commands(guild=guild):
        try:
            payload.append(cmd.to_dict(tree))  # discord.py >= 2.4
        except TypeError:  # pragma: no cover - older discord.py
            payload.append(cmd.to_dict())  # type: ignore[call-arg]
    return sorted(payload, key=lambda d: (d.get("type", 1), d.get("name", "")))


def tree_hash(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None = None) -> str:
    data = json.dumps(tree_payload(tree, guild), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


class CommandSync:
    def __init__(self, bot: AnalystBot, path: Path) -> None:
        self.bot = bot
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self, hashes: dict[str, str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(hashes, indent=1, sort_keys=True), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            log.warning("could not record the command sync in %s", self.path, exc_info=True)

    def _targets(self, guilds: Sequence[int] | None) -> list[tuple[str, discord.Object | None]]:
        """(key, guild) per target; keys name the application too (a new bot token starts afresh)."""
        app = self.bot.application_id
        if guilds is None:
            return [(f"{app}/global", None)]
        return [(f"{app}/guild:{g}", discord.Object(id=g)) for g in guilds]

    def _hash_for(self, guild: discord.Object | None) -> str:
        tree = self.bot.tree
        if guild is None:
            return tree_hash(tree)
        tree.copy_global_to(guild=guild)
        return tree_hash(tree, guild)

    async def sync_if_changed(self, guilds: Sequence[int] | None) -> list[str]:
        """Sync each target whose command tree changed since its last sync; returns the targets synced."""
        known = self._load()
        synced: list[str] = []
        counts: list[int] = []
        unchanged: list[str] = []
        for key, guild in self._targets(guilds):
            digest = self._hash_for(guild)
            if known.get(key) == digest:
                unchanged.append(key)
                continue
            try:
                result = await self.bot.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.error("could not sync the commands (%s): HTTP %s %s", key, exc.status, exc.text[:200])
                continue
            known[key] = digest
            synced.append(key)
            counts.append(len(result))
        if synced:
            self._save(known)
            log.info("synced %d commands %s", max(counts), _where(synced))
        else:
            log.info("commands unchanged since the last sync %s; not syncing", _where(unchanged))
        return synced

    async def sync(self, guilds: Sequence[int] | None) -> list[app_commands.AppCommand]:
        """Sync now whatever the hash says (the owner command), and record it."""
        known = self._load()
        result: list[app_commands.AppCommand] = []
        keys = []
        for key, guild in self._targets(guilds):
            digest = self._hash_for(guild)
            result = await self.bot.tree.sync(guild=guild)
            known[key] = digest
            keys.append(key)
        self._save(known)
        log.info("synced %d commands %s (on request)", len(result), _where(keys))
        return result


def _where(keys: Sequence[str]) -> str:
    keys = [k.split("/", 1)[-1] for k in keys]
    if keys == ["global"]:
        return "globally"
    ids = [k.split(":", 1)[1] for k in keys if k.startswith("guild:")]
    return f"to server{'s' if len(ids) > 1 else ''} {', '.join(ids)}"
