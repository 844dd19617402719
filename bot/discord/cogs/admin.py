"""Owner-only maintenance by mention: ``@Analyst sync`` (this server), ``@Analyst sync global``.

Why a mention-prefixed text command and not a slash command: a slash command cannot be used to
sync slash commands the first time. Mention-prefixed commands need no message-content intent
(Discord delivers the content of messages that mention the bot).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from discord.ext import commands

if TYPE_CHECKING:
    from ..bot import AnalystBot


class Admin(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot

    @commands.command(name="sync")
    @commands.is_owner()
    @commands.guild_only()
    async def sync(self, ctx: commands.Context, scope: Literal["here", "global"] = "here") -> None:
        """Sync application commands to this server (instant) or globally (up to an hour to appear)."""
        guild_id = None if scope == "global" else ctx.guild.id  # type: ignore[union-attr]
        synced = await self.bot.sync_commands(guild_id)
        where = "globally" if guild_id is None else "to this server"
        await ctx.reply(f"Synced {len(synced)} commands {where}.", mention_author=False)


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Admin(bot))
