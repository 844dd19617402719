"""Mentions and threads: "@Analyst Will Russia send troops into X?" is answered in a new thread.

Without the privileged message-content intent Discord still delivers the content of messages that
mention the bot, so the question arrives intact; messages that do not mention the bot arrive
empty and are ignored. Hence a follow-up in the thread must mention the bot too (or enable the
intent; see docs/discord.md).

Follow-ups (the thread's context is its first assessment, read back from the history store):

* a follow-up that is a full question on its own (it passes the question check *and* names a
  place, "Would Russia intervene in Armenia instead?") is assessed alone;
* otherwise ("and what about the costs?") it is assessed as the thread's first question plus the
  follow-up, so the subject and retrieval stay on the thread's topic while the follow-up's words
  pull in passages on what it asks about; when it names one of the five variables that variable is
  marked as the focus of the answer.
"""

from __future__ import annotations

import logging
import re
import time

import discord
from discord.ext import commands

from bot.core.models import VariableKey
from bot.core.pipeline import EXAMPLE, check_question, guess_subject
from bot.errors import BadQuestion, UserError

from ..bot import AnalystBot, AssessOutcome
from ..render import AssessmentMeta, cut, ordinal, render_assessment
from ..replies import GENERIC, NO_MENTIONS
from ..views import assessment_view

log = logging.getLogger(__name__)

FOCUS: tuple[tuple[VariableKey, re.Pattern[str]], ...] = (
    ("costs", re.compile(r"\b(costs?|sanction\w*|economic|economy|price)\b", re.I)),
    (
        "military_opposition",
        re.compile(r"\b(opposition|oppose\w*|resist\w*|nato|reaction\w*|respon\w*|retaliat\w*)\b", re.I),
    ),
    (
        "local_support",
        re.compile(r"\b(local|support\w*|allies|ally|separatist\w*|request\w*|invit\w*)\b", re.I),
    ),
    (
        "feasibility",
        re.compile(r"\b(feasib\w*|logistic\w*|capab\w*|bases?|reach|terrain|forces available)\b", re.I),
    ),
    ("trigger", re.compile(r"\b(trigger\w*|pretext|provocation|incident)\b", re.I)),
)


def focus_of(text: str) -> VariableKey | None:
    """The variable a follow-up asks about ("and what about the costs?" -> costs), if any."""
    for key, pattern in FOCUS:
        if pattern.search(text):
            return key
    return None


def follow_up_question(root_question: str, text: str, max_chars: int) -> tuple[str, bool]:
    """(the question to assess, whether the follow-up stands alone). See the module docstring."""
    try:
        alone = check_question(text, max_chars)
        if guess_subject(alone):
            return alone, True
    except BadQuestion:
        pass
    follow = " ".join(text.split())
    combined = f"{root_question} Follow-up: {follow}"
    if len(combined) > max_chars:
        combined = cut(combined, max_chars)
    return combined, False


class Mentions(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot

    def _question_text(self, message: discord.Message) -> str:
        assert self.bot.user is not None
        text = re.sub(rf"<@!?{self.bot.user.id}>", " ", message.content)
        return " ".join(text.split())

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None or self.bot.user is None:
            return
        if not any(u.id == self.bot.user.id for u in message.mentions):
            return
        ctx = await self.bot.get_context(message)
        if ctx.command is not None:  # "@Analyst sync": an owner command, not a question
            return
        text = self._question_text(message)
        try:
            if isinstance(message.channel, discord.Thread):
                await self._in_thread(message, message.channel, text)
            else:
                await self._new_thread(message, text)
        except UserError as exc:
            await self._say(message, exc.message)
        except Exception:
            log.exception("answering a mention failed")
            await self._say(message, GENERIC)

    async def _say(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.exception("could not reply to a mention")

    def _cooldown_ok(self, message: discord.Message) -> str | None:
        wait = self.bot.cooldown.retry_after(message.guild.id if message.guild else None, message.author.id)
        return None if wait <= 0 else f"You can ask for another assessment in {int(wait) + 1} s."

    async def _new_thread(self, message: discord.Message, text: str) -> None:
        if not text:
            raise BadQuestion(f"Ask me a question after the mention, {EXAMPLE}")
        q = check_question(text, self.bot.settings.max_question_chars)
        if (refusal := self._cooldown_ok(message)) is not None:
            raise UserError(refusal)
        started = time.perf_counter()
        name = cut(guess_subject(q) and f"{guess_subject(q)}: {q}" or q, 100)
        try:
            thread: discord.abc.Messageable = await message.create_thread(
                name=name, auto_archive_duration=1440
            )
            channel_id = thread.id  # type: ignore[attr-defined]
        except discord.Forbidden:  # no Create Public Threads here: answer in the channel instead
            thread, channel_id = message.channel, message.channel.id
        await self._answer(message, thread, channel_id, q, AssessmentMeta(), started)

    async def _in_thread(self, message: discord.Message, thread: discord.Thread, text: str) -> None:
        guild_id = message.guild.id if message.guild else None
        root = await self.bot.run_blocking(self.bot._history().first_in_channel, thread.id, guild_id=guild_id)
        if root is None:  # a thread the bot did not start: a new question, answered here
            if not text:
                raise BadQuestion(f"Ask me a question after the mention, {EXAMPLE}")
            q, context, focus = check_question(text, self.bot.settings.max_question_chars), None, None
        else:
            if not text:
                raise BadQuestion("Ask a follow-up after the mention, e.g. “and what about the costs?”")
            q, alone = follow_up_question(root.row.question, text, self.bot.settings.max_question_chars)
            focus = focus_of(text)
            context = None if alone else f"Follow-up to #{root.row.id}: {root.row.question}"
        if (refusal := self._cooldown_ok(message)) is not None:
            raise UserError(refusal)
        started = time.perf_counter()
        await self._answer(
            message, thread, thread.id, q, AssessmentMeta(focus=focus, context=context), started
        )

    async def _answer(
        self,
        message: discord.Message,
        where: discord.abc.Messageable,
        channel_id: int,
        question: str,
        meta: AssessmentMeta,
        started: float,
    ) -> None:
        """Post "Thinking…", then turn that message into the answer, or into the error if it fails."""
        status = await where.send("Thinking…", allowed_mentions=NO_MENTIONS)
        try:
            outcome = await self.bot.assess(
                question,
                guild_id=message.guild.id if message.guild else None,
                channel_id=channel_id,
                user_id=message.author.id,
                report=self._reporter(status),
                started=started,
            )
        except UserError as exc:
            await status.edit(content=exc.message, allowed_mentions=NO_MENTIONS)
            return
        except Exception:
            log.exception("assessing a mention failed")
            await status.edit(content=GENERIC, allowed_mentions=NO_MENTIONS)
            return
        await self._post(status, outcome, meta)

    @staticmethod
    def _reporter(status: discord.Message):
        async def report(position: int) -> None:
            await status.edit(content=f"Queued: {ordinal(position)} in line…", allowed_mentions=NO_MENTIONS)

        return report

    async def _post(self, status: discord.Message, outcome: AssessOutcome, meta: AssessmentMeta) -> None:
        meta = AssessmentMeta(
            assessment_id=outcome.id,
            corpus_updated=outcome.corpus_updated,
            elapsed_s=outcome.elapsed_s,
            focus=meta.focus,
            context=meta.context,
        )
        await status.edit(
            content=None,
            embeds=render_assessment(outcome.assessment, meta),
            view=assessment_view(outcome.id),
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Mentions(bot))
