"""/sources: the background passages for a query from this server's corpus (no LLM), paged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import BadInput
from bot.store import SearchFilter

from ..render import render_sources
from ..util import NO_MENTIONS
from ..views import send_pages
from .assess import AsOf

if TYPE_CHECKING:
    from ..bot import AnalystBot


class Sources(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="sources", description="Show the corpus passages about a topic, with dates and links (no LLM)."
    )
    @app_commands.describe(
        query="What to look for, e.g. CSTO deployment Kazakhstan",
        k="How many passages (1-25).",
        as_of="Only articles published on or before this date (YYYY-MM-DD).",
    )
    @app_commands.guild_only()
    async def sources(
        self,
        interaction: discord.Interaction,
        query: str,
        k: app_commands.Range[int, 1, 25] | None = None,
        as_of: AsOf | None = None,
    ) -> None:
        q = " ".join(query.split())
        if not q or len(q) > self.bot.settings.max_question_chars:
            raise BadInput(f"Give a query of 1 to {self.bot.settings.max_question_chars} characters.")
        await interaction.response.defer(thinking=True)
        async def notice(text: str) -> None:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)

        collection = await self.bot.ensure_collection(interaction.guild_id, notice)
        store = await self.bot.run_blocking(self.bot.app.store, collection)
        passages = await self.bot.run_blocking(
            store.search, q, k or self.bot.settings.k, SearchFilter(as_of=as_of)
        )
        await send_pages(interaction, render_sources(q, passages, as_of), ephemeral=False)


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Sources(bot))
