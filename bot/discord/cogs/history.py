"""/history: this server's recent assessments, with a chart of how one subject's scores moved."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.history import HistoryRow, render_chart

from ..render import render_history
from ..util import NO_MENTIONS

if TYPE_CHECKING:
    from ..bot import AnalystBot


class History(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="history", description="The team's recent assessments, with a chart of how they moved."
    )
    @app_commands.describe(
        subject="A place, e.g. Kazakhstan (default: everything; the chart shows the most assessed subject)."
    )
    @app_commands.guild_only()
    async def history(
        self, interaction: discord.Interaction, subject: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        await interaction.response.defer(thinking=True)
        store = self.bot.history
        rows: list[HistoryRow] = await self.bot.run_blocking(
            store.recent, guild_id=interaction.guild_id, subject=subject, limit=10
        )
        chart: bytes | None = None
        if subject:  # the newest match's subject ("kazakh" -> Kazakhstan)
            chart_subject = rows[0].subject if rows else None
        else:  # everything: chart the subject this server assessed most, not whatever came last
            chart_subject = await self.bot.run_blocking(store.most_assessed, guild_id=interaction.guild_id)
        if chart_subject:
            series = await self.bot.run_blocking(
                store.series, guild_id=interaction.guild_id, subject=chart_subject
            )
            chart = await self.bot.run_blocking(render_chart, series, chart_subject) if series else None
        embed = render_history(
            rows, subject=subject, chart_subject=chart_subject if chart else None, most_assessed=not subject
        )
        if chart:
            await interaction.edit_original_response(
                embed=embed,
                attachments=[discord.File(io.BytesIO(chart), "history.png")],
                allowed_mentions=NO_MENTIONS,
            )
        else:
            await interaction.edit_original_response(embed=embed, allowed_mentions=NO_MENTIONS)


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(History(bot))
