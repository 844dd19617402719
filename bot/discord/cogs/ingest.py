"""/ingest: add an attached file and/or URLs to this server's corpus (Manage Server or the ingest role).

``default_permissions(manage_guild=True)`` only hides the command from other members by default;
server admins can override that in Server Settings -> Integrations. The real gate is the
:func:`can_ingest` check, run by discord.py on every invocation.
"""

from __future__ import annotations

import logging
import re
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.corpus.loaders import load_bytes
from bot.errors import BadInput, UserError
from bot.ingest import ingest_items, is_url
from bot.store import CorpusStore, IngestOutcome

from ..bot import AnalystBot
from ..render import render_ingest
from ..replies import NO_MENTIONS, NotAllowed

log = logging.getLogger(__name__)

MAX_URLS = 20
PROGRESS_EVERY_S = 1.0


def member_may_ingest(
    member: discord.Member | discord.User, permissions: discord.Permissions, role: str | None
) -> bool:
    """Manage Server (or Administrator), or the configured role (by name, case-insensitive, or id)."""
    if permissions.manage_guild or permissions.administrator:
        return True
    if role and isinstance(member, discord.Member):
        wanted = role.strip().casefold()
        return any(r.name.casefold() == wanted or str(r.id) == wanted for r in member.roles)
    return False


async def can_ingest(interaction: discord.Interaction) -> bool:
    bot: AnalystBot = interaction.client  # type: ignore[assignment]
    role = bot.settings.ingest_role
    if member_may_ingest(interaction.user, interaction.permissions, role):
        return True
    who = "the Manage Server permission" + (f" or the “{role}” role" if role else "")
    raise NotAllowed(f"Only members with {who} can add documents.")


def _ingest_upload(store: CorpusStore, name: str, data: bytes, settings: Settings) -> IngestOutcome:
    """Load and index one uploaded file (blocking; runs in the worker pool)."""
    try:
        doc = load_bytes(name, data, max_bytes=settings.max_file_bytes)
        outcome = store.ingest(doc)
        outcome.name = name
        return outcome
    except UserError as exc:
        return IngestOutcome("failed", name, reason=exc.message)
    except Exception as exc:  # a bug or outage on one item must not lose the batch
        log.exception("ingest of upload %s failed", name)
        return IngestOutcome("failed", name, reason=f"internal error ({type(exc).__name__}); see the log")


class Ingest(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="ingest", description="Add a document (attached file or URLs) to this server's corpus."
    )
    @app_commands.describe(
        file="A .txt, .md, .html or .pdf file (front matter: title, date, source, url).",
        urls="One or more http(s) URLs, separated by spaces.",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(can_ingest)
    async def ingest(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        urls: str | None = None,
    ) -> None:
        settings = self.bot.settings
        items: list[tuple[str, discord.Attachment | str]] = []
        if file is not None:
            items.append((file.filename, file))
        for u in re.split(r"[\s,]+", urls or ""):
            if u:
                items.append((u, u))
        if not items:
            raise BadInput("Attach a file or give one or more http(s) URLs.")
        if len(items) > MAX_URLS + 1:
            raise BadInput(f"At most {MAX_URLS} URLs at a time, please.")
        await interaction.response.defer(thinking=True)
        collection = await self.bot.ensure_collection(interaction.guild_id)
        store = await self.bot.run_blocking(self.bot._app().store, collection)

        outcomes: list[IngestOutcome] = []
        last_edit = float("-inf")
        for i, (name, item) in enumerate(items):
            if len(items) > 1 and (i == 0 or time.perf_counter() - last_edit >= PROGRESS_EVERY_S):
                await interaction.edit_original_response(
                    embed=render_ingest(outcomes, total=len(items), current=name),
                    allowed_mentions=NO_MENTIONS,
                )
                last_edit = time.perf_counter()
            outcomes.append(await self._one(store, name, item, settings))
        await interaction.edit_original_response(
            content=None, embed=render_ingest(outcomes, total=len(items)), allowed_mentions=NO_MENTIONS
        )

    async def _one(
        self, store: CorpusStore, name: str, item: discord.Attachment | str, settings: Settings
    ) -> IngestOutcome:
        if isinstance(item, discord.Attachment):
            if item.size > settings.max_file_bytes:
                return IngestOutcome(
                    "failed",
                    name,
                    reason=f"{item.size:,} bytes is over the {settings.max_file_bytes:,}-byte limit",
                )
            try:
                data = await item.read()
            except discord.HTTPException as exc:
                return IngestOutcome(
                    "failed", name, reason=f"could not download the attachment ({exc.status})"
                )
            return await self.bot.run_blocking(_ingest_upload, store, name, data, settings)
        if not is_url(item):
            return IngestOutcome("failed", name, reason="not an http(s) URL")
        results = await self.bot.run_blocking(ingest_items, store, [item], settings)
        return results[0] if results else IngestOutcome("failed", name, reason="nothing to ingest")


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Ingest(bot))
