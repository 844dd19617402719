"""/assess and "Assess this": defer at once, queue, assess off the loop, answer with the scored, cited embed.

This cog owns the answer's persistent buttons (:class:`~bot.discord.answer.AssessmentButton`) and
registers them when it loads, as RoboDanny's cogs do with their views.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.pipeline import EXAMPLE, check_question, guess_subject
from bot.errors import BadInput, BadQuestion

from ..answer import AssessmentButton, deliver
from ..util import interaction_wait_budget

if TYPE_CHECKING:
    from ..bot import AnalystBot


class DateTransformer(app_commands.Transformer):
    """ "2022-01-05" -> date; anything else is a one-sentence BadInput (shown as-is)."""

    async def transform(self, interaction: discord.Interaction, value: str) -> dt.date:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise BadInput(f"“{value[:40]}” is not a date; use YYYY-MM-DD, e.g. 2022-01-05.") from None


AsOf = app_commands.Transform[dt.date, DateTransformer]


def _cooldown_error(bot: AnalystBot, wait: float) -> app_commands.CommandOnCooldown:
    return app_commands.CommandOnCooldown(app_commands.Cooldown(1, bot.cooldown.per), wait)


async def assess_cooldown(interaction: discord.Interaction) -> bool:
    """Per-user cooldown (settings.assess_cooldown_s), shared with the "Re-run" button.

    The check only looks; the use is counted in the command once the question and date are
    valid (discord.py runs checks before it converts options), so a refused question is free.
    """
    bot: AnalystBot = interaction.client  # type: ignore[assignment]
    wait = bot.cooldown.retry_after(interaction.guild_id, interaction.user.id, consume=False)
    if wait > 0:
        raise _cooldown_error(bot, wait)
    return True


_URL = re.compile(r"https?://\S+|<https?://[^>]+>")


def question_from_message(text: str, max_chars: int) -> str:
    """The question in a message, or, for an article or a news line, the question about its place.

    A message that is itself a valid question is assessed as written; otherwise the place it
    names gives "Will Russia send troops into <place>?". No place: a one-sentence BadQuestion.
    """
    body = " ".join(_URL.sub(" ", text or "").split())
    if not body:
        raise BadQuestion(f"That message has no text to assess; ask with /assess instead, {EXAMPLE}")
    first = body[:max_chars]
    try:
        q = check_question(first, max_chars)
        if "?" in q and guess_subject(q):
            return q
    except BadQuestion:
        pass
    subject = guess_subject(body[:4000])
    if not subject:
        raise BadQuestion(f"That message names no place to assess; ask with /assess instead, {EXAMPLE}")
    return f"Will Russia send troops into {subject}?"


class Assess(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot
        self.assess_this = app_commands.ContextMenu(name="Assess this", callback=self._assess_message)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(AssessmentButton)  # persistent: works for messages sent before a restart
        self.bot.tree.add_command(self.assess_this)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(AssessmentButton)
        self.bot.tree.remove_command(self.assess_this.name, type=self.assess_this.type)

    async def _run(self, interaction: discord.Interaction, question: str, as_of: dt.date | None) -> None:
        started = time.perf_counter()
        wait = self.bot.cooldown.retry_after(interaction.guild_id, interaction.user.id)
        if wait > 0:  # a second request raced past the check
            raise _cooldown_error(self.bot, wait)
        await interaction.response.defer(thinking=True)
        await deliver(
            self.bot,
            interaction.edit_original_response,
            question,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            as_of=as_of,
            started=started,
            max_wait_s=interaction_wait_budget(interaction, self.bot.settings),
        )

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
        q = check_question(question, self.bot.settings.max_question_chars)  # pure: no request before the defer
        await self._run(interaction, q, as_of)

    @app_commands.guild_only()
    async def _assess_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Right-click a message, Apps → "Assess this": its question, or the place its article is about."""
        await assess_cooldown(interaction)
        q = question_from_message(message.content, self.bot.settings.max_question_chars)
        await self._run(interaction, check_question(q, self.bot.settings.max_question_chars), None)


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Assess(bot))
