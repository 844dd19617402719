"""Buttons: the persistent ones under every answer, and a pager for long passage lists.

The answer's buttons are one :class:`discord.ui.DynamicItem` whose ``custom_id`` carries the
assessment id and the action (``analyst:a:42:up``). Registered once with
``bot.add_dynamic_items``, they keep working on messages sent before a restart: nothing is held
in memory, the assessment (with its passages) is read back from the history store, scoped to the
clicking guild.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord

from .bot import interaction_wait_budget
from .render import AssessmentMeta, Page, ordinal, render_assessment, render_cited_passages
from .replies import NO_MENTIONS, answer_error, send_ephemeral

if TYPE_CHECKING:
    from .bot import AnalystBot

log = logging.getLogger(__name__)

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
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /
    ) -> AssessmentButton:
        return cls(int(match["id"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
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
        stored = await bot.run_blocking(bot._history().get, self.assessment_id, guild_id=interaction.guild_id)
        pages = render_cited_passages(stored.assessment)
        await send_pages(interaction, pages, ephemeral=True)

    async def _vote(self, interaction: discord.Interaction, value: int) -> None:
        bot: AnalystBot = interaction.client  # type: ignore[assignment]
        tally = await bot.run_blocking(
            bot._history().vote, self.assessment_id, interaction.user.id, value, guild_id=interaction.guild_id
        )
        await interaction.response.edit_message(
            view=assessment_view(self.assessment_id, tally.up, tally.down)
        )
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
        stored = await bot.run_blocking(bot._history().get, self.assessment_id, guild_id=interaction.guild_id)
        outcome = await bot.assess(
            stored.row.question,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            as_of=None,
            report=queued_reporter(interaction),
            started=started,
            max_wait_s=interaction_wait_budget(interaction, bot.settings),
        )
        meta = AssessmentMeta(
            assessment_id=outcome.id,
            corpus_updated=outcome.corpus_updated,
            elapsed_s=outcome.elapsed_s,
            context=f"Re-run of #{self.assessment_id} with the latest articles.",
        )
        await interaction.edit_original_response(
            content=None,
            embeds=render_assessment(outcome.assessment, meta),
            view=assessment_view(outcome.id),
            allowed_mentions=NO_MENTIONS,
        )


def queued_reporter(interaction: discord.Interaction):
    """A queue ``report`` callback that edits the deferred message: "Queued: 3rd in line…"."""

    async def report(position: int) -> None:
        await interaction.edit_original_response(
            content=f"Queued: {ordinal(position)} in line…", allowed_mentions=NO_MENTIONS
        )

    return report


class Pager(discord.ui.View):
    """◀ / ▶ over pre-rendered pages; only the person who asked turns them. Expires after 10 min."""

    def __init__(self, pages: Sequence[Page], owner_id: int, *, timeout: float = 600) -> None:
        super().__init__(timeout=timeout)
        self.pages = list(pages)
        self.owner_id = owner_id
        self.index = 0
        self.origin: discord.Interaction | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await send_ephemeral(interaction, "Only the person who asked can turn these pages.")
            return False
        return True

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync_buttons()
        page = self.pages[self.index]
        await interaction.response.edit_message(content=page.content, embeds=page.embeds, view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)

    async def on_timeout(self) -> None:
        if self.origin is None:
            return
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException:
            log.debug("could not remove expired page buttons", exc_info=True)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await answer_error(interaction, error)


async def send_pages(interaction: discord.Interaction, pages: Sequence[Page], *, ephemeral: bool) -> None:
    """Send the first page (with a pager when there are more); works before or after a deferral."""
    first = pages[0]
    view = Pager(pages, interaction.user.id) if len(pages) > 1 else None
    if view is not None:
        view.origin = interaction
    kwargs: dict[str, Any] = {
        "content": first.content,
        "embeds": first.embeds,
        "allowed_mentions": NO_MENTIONS,
    }
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.edit_original_response(**kwargs)
    else:
        await interaction.response.send_message(ephemeral=ephemeral, **kwargs)
