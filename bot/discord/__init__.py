"""The Discord layer: a thin ``commands.Bot`` subclass, one cog per feature, pure rendering.

Every command body is "defer, call the core off the event loop, render, send". See
docs/discord.md for intents, permissions, inviting the bot and syncing commands.
"""
