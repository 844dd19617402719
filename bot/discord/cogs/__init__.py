"""One cog per feature, loaded as extensions by :class:`bot.discord.bot.AnalystBot`."""
