"""/assess: defer at once, queue, assess off the loop, answer with the scored, cited embed."""

from __future__ import annotations

import datetime as dt
import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.pipeline import check_question
from bot.errors import BadInput

from ..bot import AnalystBot, interaction_wait_budget
from ..render import AssessmentMeta, render_assessment
from ..replies import NO_MENTIONS
from ..views import assessment_view, queued_reporter


class DateTransformer(app_commands.Transformer):
    """ "2022-01-05" -> date; anything else is a one-sentence BadInput (shown as-is)."""

    async def transform(self, interaction: discord.Interaction, value: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise BadInput(f"“{value[:40]}” is not a date; use YYYY-MM-DD, e.g. 2022-01-05.") from None


AsOf = app_commands.Transform[dt.date, DateTransformer]


async def assess_cooldown(interaction: discord.Interaction) -> bool:
    """Per-user cooldown (settings.assess_cooldown_s), shared with the "Re-run" button.

    The check only looks; the use is counted in the command once the question and date are
    valid (discord.py runs checks before it converts options), so a refused question is free.
    """
    bot: AnalystBot = interaction.client  # type: ignore[assignment]
    wait = bot.cooldown.retry_after(interaction.guild_id, interaction.user.id, consume=False)
    if wait > 0:
        raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, bot.cooldown.per), wait)
    return True


class Assess(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="assess",
        description="Score whether Russia would intervene militarily somewhere, citing the corpus.",
    )
    @app_commands.describe(
        question='e.g. "Will Russia send troops into Kazakhstan?"',
        as_of="Only use articles published on or before this date (YYYY-MM-DD).",
    )
    @app_commands.guild_only()
    @app_commands.check(assess_cooldown)
    async def assess(
        self, interaction: discord.Interaction, question: str, as_of: AsOf | None = None
    ) -> None:
        started = time.perf_counter()
        q = check_question(
            question, self.bot.settings.max_question_chars
        )  # pure: no request before the defer
        wait = self.bot.cooldown.retry_after(interaction.guild_id, interaction.user.id)
        if wait > 0:  # a second request raced past the check
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(1, self.bot.cooldown.per), wait)
        await interaction.response.defer(thinking=True)
        outcome = await self.bot.assess(
            q,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            as_of=as_of,
            report=queued_reporter(interaction),
            started=started,
            max_wait_s=interaction_wait_budget(interaction, self.bot.settings),
        )
        meta = AssessmentMeta(
            assessment_id=outcome.id, corpus_updated=outcome.corpus_updated, elapsed_s=outcome.elapsed_s
        )
        await interaction.edit_original_response(
            content=None,
            embeds=render_assessment(outcome.assessment, meta),
            view=assessment_view(outcome.id),
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Assess(bot))
