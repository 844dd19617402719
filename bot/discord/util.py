"""Free helpers of the Discord layer (no bot class here, so every module may import this one)."""

from __future__ import annotations

import discord

from bot.config import Settings

NO_MENTIONS = discord.AllowedMentions.none()
CHROMA_NAME_MAX = 63  # chromadb: 3-63 characters, alphanumeric at both ends


def collection_for(base: str, guild_id: int | None) -> str:
    """The guild's own collection: ``f"{base}-g{guild_id}"`` (the base shortened to fit chroma's 63)."""
    if guild_id is None:
        return base
    suffix = f"-g{guild_id}"
    prefix = base[: CHROMA_NAME_MAX - len(suffix)].rstrip("-_.") or "c"
    name = f"{prefix}{suffix}"
    return name if len(name) >= 3 else name.rjust(3, "c")


def default_intents() -> discord.Intents:
    """Only what the bot needs; no privileged intent (see docs/discord.md).

    ``guilds`` for the guild/channel/thread cache, ``guild_messages`` for mentions (Discord
    delivers the content of messages that mention the bot without the message-content intent,
    and the content of the message a context-menu command is used on).
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    return intents


def interaction_wait_budget(interaction: discord.Interaction, settings: Settings) -> float:
    """Seconds an interaction may still wait in line: its 15-minute token, minus a minute of margin
    and the time one assessment may take (the LLM timeout)."""
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    return max(30.0, 14 * 60 - age - settings.llm_timeout_s)
