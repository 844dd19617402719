"""The answer message: one flow for every way of asking, and the persistent buttons under it.

:func:`deliver` is "assess, build the meta, render, edit the message", shared by ``/assess``,
"Assess this", the "Re-run" button and mentions. It is given an ``edit(**kwargs)`` coroutine (an
interaction's ``edit_original_response`` or a status message's ``edit``) and uses it for
everything the asker sees while waiting: the place in line, the corpus being seeded, and the
variables as they are decided (at most about one edit a second), then the answer.

The answer's buttons are one :class:`discord.ui.DynamicItem` whose ``custom_id`` carries the
history row and the action (``analyst:a:42:up``). The assess cog registers it
(``bot.add_dynamic_items``), so the buttons keep working on messages sent before a restart:
nothing is held in memory, the assessment (with its passages) is read back from the history
store, scoped to the clicking guild.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord

from bot.core.models import VariableAssessment

from .render import AssessmentMeta, ordinal, render_assessment, render_cited_passages, render_progress
from .replies import answer_error, send_ephemeral
from .util import NO_MENTIONS, interaction_wait_budget
from .views import send_pages

if TYPE_CHECKING:
    from .bot import AnalystBot, AssessOutcome

log = logging.getLogger(__name__)

Edit = Callable[..., Awaitable[Any]]
PROGRESS_EVERY_S = 1.0  # Discord allows ~5 edits per 5 s per message; one a second leaves room


class ProgressEdits:
    """Turns the pipeline's progress calls (from a worker thread) into throttled message edits.

    ``__call__`` is the :data:`~bot.core.ports.ProgressCallback`. It records the variable and, when
    at least ``every`` seconds have passed since the last edit and none is in flight, hands a
    snapshot of the variables known so far to the event loop (``call_soon_threadsafe``), which
    edits the message. The throttle is decided on the caller's side, with no timer on the loop:
    a variable that arrives too soon is shown by the next edit or by the answer itself, which
    follows the last variable at once. :meth:`stop` waits for an edit in flight, so the answer
    is always the last edit.
    """

    def __init__(
        self, edit: Edit, question: str, loop: asyncio.AbstractEventLoop, *, every: float = PROGRESS_EVERY_S
    ) -> None:
        self._edit = edit
        self._question = question
        self._loop = loop
        self._every = every
        self._lock = threading.Lock()
        self._done: dict[str, VariableAssessment] = {}
        self._busy = False
        self._next_ok = float("-inf")
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        # the request's context (not the worker thread's), so the edit sees the same context
        # variables as the command that created this object
        self._context = contextvars.copy_context()
        self.edits = 0

    def __call__(self, stage: str, variable: VariableAssessment | None) -> None:
        if variable is None:
            return
        with self._lock:
            if self._stopped:
                return
            self._done[variable.variable] = variable
            now = time.perf_counter()  # wall time, whatever clock the event loop runs on
            if self._busy or now < self._next_ok:
                return
            self._busy, self._next_ok = True, now + self._every
            snapshot = list(self._done.values())
        try:
            self._loop.call_soon_threadsafe(self._start, snapshot, context=self._context)
        except RuntimeError:  # a closed loop: nobody waits for this answer any more
            with self._lock:
                self._busy = False

    def _start(self, snapshot: list[VariableAssessment]) -> None:
        if self._stopped:
            self._busy = False
            return
        self._task = self._loop.create_task(self._show(snapshot))

    async def _show(self, snapshot: list[VariableAssessment]) -> None:
        try:
            await self._edit(
                content=None, embeds=[render_progress(self._question, snapshot)], allowed_mentions=NO_MENTIONS
            )
            self.edits += 1
        except Exception:  # a lost progress edit must never lose the answer
            log.warning("a progress edit failed", exc_info=True)
        finally:
            with self._lock:
                self._busy = False

    async def stop(self) -> None:
        with self._lock:
            self._stopped = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):  # shutdown
                await self._task  # an edit in flight finishes before the answer is posted


def queued_reporter(edit: Edit):
    """A queue ``report`` callback that edits the waiting message: "Queued: 3rd in line…"."""

    async def report(position: int) -> None:
        await edit(content=f"Queued: {ordinal(position)} in line…", allowed_mentions=NO_MENTIONS)

    return report


def notifier(edit: Edit):
    async def notify(text: str) -> None:
        await edit(content=text, allowed_mentions=NO_MENTIONS)

    return notify


async def deliver(
    bot: AnalystBot,
    edit: Edit,
    question: str,
    *,
    guild_id: int | None,
    channel_id: int | None,
    user_id: int | None,
    as_of: dt.date | None = None,
    meta: AssessmentMeta = AssessmentMeta(),
    started: float | None = None,
    max_wait_s: float | None = None,
    stream: bool = True,
) -> AssessOutcome:
    """Assess ``question`` for this guild, and edit the waiting message into the answer.

    Errors propagate (the caller answers them: ephemerally for an interaction, in place for a
    mention); progress edits are stopped first, so an error or the answer is always the last edit.
    """
    loop = asyncio.get_running_loop()
    progress = ProgressEdits(edit, question, loop) if stream else None
    try:
        outcome = await bot.assess(
            question,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            as_of=as_of,
            report=queued_reporter(edit),
            notify=notifier(edit),
            progress=progress,
            started=started if started is not None else time.perf_counter(),
            max_wait_s=max_wait_s,
        )
    finally:
        if progress is not None:
            await progress.stop()
    meta = replace(
        meta, assessment_id=outcome.number, corpus_updated=outcome.corpus_updated, elapsed_s=outcome.elapsed_s
    )
    await edit(
        content=None,
        embeds=render_assessment(outcome.assessment, meta),
        view=assessment_view(outcome.id),
        allowed_mentions=NO_MENTIONS,
    )
    return outcome


# --- the buttons under every answer -----------------------------------------------------------------

ACTIONS = ("src", "up", "down", "rerun")


def assessment_view(assessment_id: int, up: int = 0, down: int = 0) -> discord.ui.View:
    """The four buttons under an answer (no timeout: they are persistent)."""
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        view.add_item(AssessmentButton(assessment_id, action, up=up, down=down))
    return view


class AssessmentButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"analyst:a:(?P<id>[0-9]{1,19}):(?P<action>src|up|down|rerun)",
):
    def __init__(self, assessment_id: int, action: str, *, up: int = 0, down: int = 0) -> None:
        styles = {
            "src": ("Show passages", "📄", discord.ButtonStyle.secondary),
            "up": (str(up), "👍", discord.ButtonStyle.secondary),
            "down": (str(down), "👎", discord.ButtonStyle.secondary),
            "rerun": ("Re-run with latest articles", "🔄", discord.ButtonStyle.primary),
        }
        label, emoji, style = styles[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"analyst:a:{assessment_id}:{action}"
            )
        )
        self.assessment_id = assessment_id
        self.action = action

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> AssessmentButton:
        return cls(int(match["id"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            if self.action == "src":
                await self._show_passages(interaction)
            elif self.action in ("up", "down"):
                await self._vote(interaction, 1 if self.action == "up" else -1)
            else:
                await self._rerun(interaction)
        except Exception as exc:
            await answer_error(interaction, exc)

    async def _show_passages(self, interaction: discord.Interaction) -> None:
        bot: AnalystBot = interaction.client  # type: ignore[assignment]
        stored = await bot.run_blocking(bot.history.get, self.assessment_id, guild_id=interaction.guild_id)
        await send_pages(interaction, render_cited_passages(stored.assessment), ephemeral=True)

    async def _vote(self, interaction: discord.Interaction, value: int) -> None:
        bot: AnalystBot = interaction.client  # type: ignore[assignment]
        tally = await bot.run_blocking(
            bot.history.vote, self.assessment_id, interaction.user.id, value, guild_id=interaction.guild_id
        )
        await interaction.response.edit_message(view=assessment_view(self.assessment_id, tally.up, tally.down))
        thumb = "👍" if value > 0 else "👎"
        text = f"Recorded your {thumb}." if tally.changed else f"You had already voted {thumb}."
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _rerun(self, interaction: discord.Interaction) -> None:
        bot: AnalystBot = interaction.client  # type: ignore[assignment]
        wait = bot.cooldown.retry_after(interaction.guild_id, interaction.user.id)
        if wait > 0:
            await send_ephemeral(interaction, f"You can ask for another assessment in {int(wait) + 1} s.")
            return
        started = time.perf_counter()
        await interaction.response.defer(thinking=True)
        stored = await bot.run_blocking(bot.history.get, self.assessment_id, guild_id=interaction.guild_id)
        await deliver(
            bot,
            interaction.edit_original_response,
            stored.row.question,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            meta=AssessmentMeta(context=f"Re-run of #{stored.row.number} with the latest articles."),
            started=started,
            max_wait_s=interaction_wait_budget(interaction, bot.settings),
        )
