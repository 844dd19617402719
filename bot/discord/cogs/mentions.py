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

A refusal (a bad question, the cooldown) is a short reply to the asker that deletes itself after
``bot.refusal_ttl_s`` (a minute); without the permission to create threads, the answer is a reply to the
question in the channel.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.models import VariableKey
from bot.core.pipeline import EXAMPLE, check_question, guess_subject
from bot.errors import BadQuestion, UserError

from ..answer import deliver
from ..render import AssessmentMeta, cut
from ..replies import GENERIC
from ..util import NO_MENTIONS

if TYPE_CHECKING:
    from ..bot import AnalystBot

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
        """A refusal: a reply to the asker, without a ping, gone after a minute."""
        try:
            await message.reply(
                text, mention_author=False, allowed_mentions=NO_MENTIONS, delete_after=self.bot.refusal_ttl_s
            )
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
            thread = await message.create_thread(name=name, auto_archive_duration=1440)
        except discord.Forbidden:  # no Create Public Threads here: answer in the channel, as a reply
            await self._answer(message, None, message.channel.id, q, AssessmentMeta(), started)
            return
        await self._answer(message, thread, thread.id, q, AssessmentMeta(), started)

    async def _in_thread(self, message: discord.Message, thread: discord.Thread, text: str) -> None:
        guild_id = message.guild.id if message.guild else None
        root = await self.bot.run_blocking(self.bot.history.first_in_channel, thread.id, guild_id=guild_id)
        if root is None:  # a thread the bot did not start: a new question, answered here
            if not text:
                raise BadQuestion(f"Ask me a question after the mention, {EXAMPLE}")
            q, context, focus = check_question(text, self.bot.settings.max_question_chars), None, None
        else:
            if not text:
                raise BadQuestion("Ask a follow-up after the mention, e.g. “and what about the costs?”")
            q, alone = follow_up_question(root.row.question, text, self.bot.settings.max_question_chars)
            focus = focus_of(text)
            context = None if alone else f"Follow-up to #{root.row.number}: {root.row.question}"
        if (refusal := self._cooldown_ok(message)) is not None:
            raise UserError(refusal)
        started = time.perf_counter()
        await self._answer(
            message, thread, thread.id, q, AssessmentMeta(focus=focus, context=context), started
        )

    async def _answer(
        self,
        message: discord.Message,
        where: discord.abc.Messageable | None,
        channel_id: int,
        question: str,
        meta: AssessmentMeta,
        started: float,
    ) -> None:
        """Post "Thinking…" (in ``where``, or as a reply to the question when None), then turn that
        message into the answer, or into the error if it fails (gone after a minute)."""
        if where is None:
            status = await message.reply("Thinking…", mention_author=False, allowed_mentions=NO_MENTIONS)
        else:
            status = await where.send("Thinking…", allowed_mentions=NO_MENTIONS)
        try:
            await deliver(
                self.bot,
                status.edit,
                question,
                guild_id=message.guild.id if message.guild else None,
                channel_id=channel_id,
                user_id=message.author.id,
                meta=meta,
                started=started,
            )
        except UserError as exc:
            await status.edit(content=exc.message, embeds=[], allowed_mentions=NO_MENTIONS, delete_after=self.bot.refusal_ttl_s)
        except Exception:
            log.exception("assessing a mention failed")
            await status.edit(content=GENERIC, embeds=[], allowed_mentions=NO_MENTIONS)


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Mentions(bot))
