"""A pager for long passage lists (the answer's own buttons live with the answer, in ``answer.py``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord

from .render import Page
from .replies import answer_error, send_ephemeral
from .util import NO_MENTIONS

log = logging.getLogger(__name__)


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
