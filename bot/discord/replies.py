"""Answering errors: every failed interaction gets one ephemeral sentence, and bugs get a traceback.

:class:`~bot.errors.UserError` messages are written for users and shown as-is; discord.py's own
check/cooldown/transformer errors get a short explanation; anything else is a bug or an outage,
logged with its traceback and answered with :data:`GENERIC`. After a public deferral the
"thinking…" message is removed, so the error is seen by the asker only and nothing is left in the
channel saying the bot is still thinking.
"""

from __future__ import annotations

import logging
import math

import discord
from discord import app_commands

from bot.errors import UserError

from .util import NO_MENTIONS

log = logging.getLogger(__name__)

__all__ = ["GENERIC", "NO_MENTIONS", "NotAllowed", "answer_error", "message_for", "send_ephemeral"]
GENERIC = "Something went wrong on our side; it has been logged, please try again in a moment."


class NotAllowed(app_commands.CheckFailure):
    """A check failure whose message is written for the user."""


def unwrap(error: BaseException) -> BaseException:
    """The error behind discord.py's wrappers (a command's exception, a transformer's UserError)."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    if isinstance(error, app_commands.TransformerError) and isinstance(error.__cause__, UserError):
        return error.__cause__
    return error


def message_for(error: BaseException) -> tuple[str, bool]:
    """(one sentence for the user, whether this is a bug to log with its traceback)."""
    err = unwrap(error)
    if isinstance(err, UserError):
        return err.message, False
    if isinstance(err, app_commands.CommandOnCooldown):
        return f"You can ask for another assessment in {math.ceil(err.retry_after)} s.", False
    if isinstance(err, NotAllowed):
        return str(err), False
    if isinstance(err, app_commands.MissingPermissions):
        return "You need the Manage Server permission (or the ingest role) to do this.", False
    if isinstance(err, app_commands.NoPrivateMessage):
        return "This command works in a server, not in direct messages.", False
    if isinstance(err, app_commands.TransformerError):
        return f"“{str(err.value)[:80]}” is not a valid {err.type.name.lower()} for this option.", False
    if isinstance(err, app_commands.CheckFailure):
        return "You cannot use this command here.", False
    return GENERIC, True


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Tell the user what went wrong (ephemeral, one sentence) and log it."""
    text, is_bug = message_for(error)
    command = (
        interaction.command.qualified_name
        if interaction.command
        else interaction.data and interaction.data.get("custom_id")
    )
    if is_bug:
        log.error("interaction %s failed", command, exc_info=unwrap(error))
    else:
        log.info("interaction %s refused: %s", command, text)
    await send_ephemeral(interaction, text)


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Ephemeral reply whatever the interaction's state (fresh, deferred publicly, answered)."""
    text = text if len(text) <= 2000 else text[:1999] + "…"
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            # Right after a deferral, Discord turns the first follow-up into an edit of the public
            # "thinking…" message (ignoring ephemeral). So: settle that message, send the
            # ephemeral answer as a real follow-up, then delete the public message.
            try:
                await interaction.edit_original_response(content="…", embeds=[], view=None)
            except discord.HTTPException:
                log.debug("could not settle the thinking message", exc_info=True)
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("could not delete the thinking message", exc_info=True)
            return
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.exception("could not send an error reply")
