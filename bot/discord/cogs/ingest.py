"""/ingest and "Add to corpus": add files, URLs or a chat message to this server's corpus
(Manage Server or the ingest role).

Documents added from chat record who added them and when (tags ``added-by:``, ``added-by-id:``,
``added-on:``; the passages view shows them). URLs, typed or found in a message, go through the
same SSRF-safe fetch as ``analyst ingest`` (:mod:`bot.corpus.fetch`).

``default_permissions(manage_guild=True)`` only hides the command from other members by default;
server admins can override that in Server Settings -> Integrations. The real gate is the
:func:`can_ingest` check, run by discord.py on every invocation.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.corpus.document import Document
from bot.corpus.loaders import document_from_text, load_bytes
from bot.errors import BadInput, UserError
from bot.ingest import is_url, load_url
from bot.store import CorpusStore, IngestOutcome

from ..render import ADDED_BY, ADDED_BY_ID, ADDED_ON, cut, render_ingest
from ..replies import NotAllowed
from ..util import NO_MENTIONS

if TYPE_CHECKING:
    from ..bot import AnalystBot

log = logging.getLogger(__name__)

MAX_URLS = 20
PROGRESS_EVERY_S = 1.0


def member_may_ingest(
    member: discord.Member | discord.User, permissions: discord.Permissions, role: str | None
) -> bool:
    """Manage Server (or Administrator), or the configured role (by name, case-insensitive, or id)."""
    if permissions.manage_guild or permissions.administrator:
        return True
    if role and isinstance(member, discord.Member):
        wanted = role.strip().casefold()
        return any(r.name.casefold() == wanted or str(r.id) == wanted for r in member.roles)
    return False


async def can_ingest(interaction: discord.Interaction) -> bool:
    bot: AnalystBot = interaction.client  # type: ignore[assignment]
    role = bot.settings.ingest_role
    if member_may_ingest(interaction.user, interaction.permissions, role):
        return True
    who = "the Manage Server permission" + (f" or the “{role}” role" if role else "")
    raise NotAllowed(f"Only members with {who} can add documents.")


Provenance = list[str]


def provenance_tags(user: discord.abc.User, when: dt.datetime) -> Provenance:
    """The tags that record who added a document from chat and when (shown in the passages view).

    Tags, because they are what a document's metadata already carries into every passage.
    """
    name = re.sub(r"[|,;\s]+", "_", str(getattr(user, "name", "") or user.id)).strip("_")[:40] or str(user.id)
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    return [f"{ADDED_BY}{name}", f"{ADDED_BY_ID}{user.id}", f"{ADDED_ON}{stamp}"]


def _is_provenance(tag: str) -> bool:
    return tag.startswith((ADDED_BY, ADDED_BY_ID, ADDED_ON))


def _first_provenance(store: CorpusStore, doc_id: str) -> list[str]:
    """The provenance tags the stored version of ``doc_id`` carries (none when it is not stored)."""
    try:
        with store.lexical._lock:
            row = store.lexical._db.execute(
                "SELECT tags FROM documents WHERE collection=? AND doc_id=?", (store.name, doc_id)
            ).fetchone()
        return [t for t in json.loads(row[0] or "[]") if _is_provenance(t)] if row else []
    except Exception:  # noqa: BLE001 - only an optimisation: without it the document is re-indexed
        log.debug("could not read the stored provenance of %s", doc_id, exc_info=True)
        return []


def _index(store: CorpusStore, doc: Document, name: str, tags: Provenance) -> IngestOutcome:
    """Index ``doc`` with its provenance. The same content added again (by anyone) keeps its
    first provenance, so it is "skipped (unchanged)", not re-indexed as an update."""
    own = [t for t in doc.tags if not _is_provenance(t)]
    first = _first_provenance(store, doc.id)
    if first:
        doc.tags = sorted({*own, *first})
        if (current := store.lexical.document(store.name, doc.id)) is not None and current[2] == doc.content_hash:
            return _named(store.ingest(doc), name)
    doc.tags = sorted({*own, *tags})
    return _named(store.ingest(doc), name)


def _named(outcome: IngestOutcome, name: str) -> IngestOutcome:
    outcome.name = name
    return outcome


def _guarded(name: str, load: Callable[[], Document], store: CorpusStore, tags: Provenance) -> IngestOutcome:
    """Load and index one item (blocking; runs in the worker pool); any failure is a one-line outcome."""
    try:
        return _index(store, load(), name, tags)
    except UserError as exc:
        return IngestOutcome("failed", name, reason=exc.message)
    except Exception as exc:  # a bug or outage on one item must not lose the batch
        log.exception("ingest of %s failed", name)
        return IngestOutcome("failed", name, reason=f"internal error ({type(exc).__name__}); see the log")


Item = tuple[str, "discord.Attachment | str | Document | IngestOutcome"]


class Ingest(commands.Cog):
    def __init__(self, bot: AnalystBot) -> None:
        self.bot = bot
        self.add_to_corpus = app_commands.ContextMenu(name="Add to corpus", callback=self._add_message)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.add_to_corpus)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.add_to_corpus.name, type=self.add_to_corpus.type)

    @app_commands.command(
        name="ingest", description="Add a document (attached file or URLs) to this server's corpus."
    )
    @app_commands.describe(
        file="A .txt, .md, .html or .pdf file (front matter: title, date, source, url).",
        urls="One or more http(s) URLs, separated by spaces.",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.check(can_ingest)
    async def ingest(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        urls: str | None = None,
    ) -> None:
        items: list[Item] = []
        if file is not None:
            items.append((file.filename, file))
        for u in re.split(r"[\s,]+", urls or ""):
            if u:
                items.append((u, u))
        if not items:
            raise BadInput("Attach a file or give one or more http(s) URLs.")
        await self._ingest(interaction, items)

    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def _add_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Right-click a message, Apps → "Add to corpus": its text, attachments and links."""
        await can_ingest(interaction)
        items = message_items(message)
        if not items:
            if (message.content or "").strip():
                raise BadInput(
                    f"That message is too short to be an article (at least {MIN_TEXT_WORDS} words) "
                    "and has no attachment or link to add."
                )
            raise BadInput("That message has no text, attachment or link to add.")
        await self._ingest(interaction, items)

    async def _ingest(self, interaction: discord.Interaction, items: list[Item]) -> None:
        if len(items) > MAX_URLS + 1:
            raise BadInput(f"At most {MAX_URLS} URLs at a time, please.")
        await interaction.response.defer(thinking=True)
        tags = provenance_tags(interaction.user, discord.utils.utcnow())

        async def progress(embed: discord.Embed) -> None:
            await interaction.edit_original_response(content=None, embed=embed, allowed_mentions=NO_MENTIONS)

        async def notice(text: str) -> None:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)

        collection = await self.bot.ensure_collection(interaction.guild_id, notice)
        store = await self.bot.run_blocking(self.bot.app.store, collection)
        outcomes: list[IngestOutcome] = []
        last_edit = float("-inf")
        for i, (name, item) in enumerate(items):
            if len(items) > 1 and (i == 0 or time.perf_counter() - last_edit >= PROGRESS_EVERY_S):
                await progress(render_ingest(outcomes, total=len(items), current=name))
                last_edit = time.perf_counter()
            outcomes.append(await self._one(store, name, item, tags))
        await progress(render_ingest(outcomes, total=len(items)))

    async def _one(
        self,
        store: CorpusStore,
        name: str,
        item: discord.Attachment | str | Document | IngestOutcome,
        tags: Provenance,
    ) -> IngestOutcome:
        settings = self.bot.settings
        if isinstance(item, IngestOutcome):  # failed already while reading the message
            return item
        if isinstance(item, Document):
            return await self.bot.run_blocking(_guarded, name, lambda: item, store, tags)
        if isinstance(item, discord.Attachment):
            if item.size > settings.max_file_bytes:
                return IngestOutcome(
                    "failed",
                    name,
                    reason=f"{item.size:,} bytes is over the {settings.max_file_bytes:,}-byte limit",
                )
            try:
                data = await item.read()
            except discord.HTTPException as exc:
                return IngestOutcome("failed", name, reason=f"could not download the attachment ({exc.status})")
            return await self.bot.run_blocking(
                _guarded, name, lambda: load_bytes(name, data, max_bytes=settings.max_file_bytes), store, tags
            )
        if not is_url(item):
            return IngestOutcome("failed", name, reason="not an http(s) URL")
        # the same SSRF-safe fetch as `analyst ingest` (checked addresses, redirects, size, time)
        return await self.bot.run_blocking(_guarded, name, lambda: load_url(item, settings), store, tags)


_LINK = re.compile(r"<?(https?://[^\s<>]+)>?")
MIN_TEXT_WORDS = 12  # a message shorter than this (beside its links) is a caption, not an article


def message_items(message: discord.Message) -> list[Item]:
    """What "Add to corpus" takes from a message: its text (as a document of its own when it is
    more than a caption), every attachment, and every link (fetched like /ingest's URLs)."""
    items: list[Item] = []
    content = message.content or ""
    links = list(dict.fromkeys(m.group(1).rstrip(").,;!?'\"") for m in _LINK.finditer(content)))
    text = _LINK.sub(" ", content).strip()
    if len(text.split()) >= MIN_TEXT_WORDS:
        created = message.created_at
        author = getattr(message.author, "display_name", None) or message.author.name
        meta = {
            "date": created.date().isoformat(),
            "source": f"Discord message by {author}",
            "url": message.jump_url,
        }
        meta["title"] = cut(" ".join(text.split("\n", 1)[0].lstrip("#* ").split()), 90)
        try:
            doc = document_from_text(text, origin=message.jump_url, default_id=f"discord-{message.id}", meta=meta)
            doc.id = f"discord-{message.id}"  # never an id from front matter typed in chat
            items.append((f"message {message.id}", doc))
        except UserError as exc:
            items.append((f"message {message.id}", IngestOutcome("failed", f"message {message.id}", reason=exc.message)))
    for a in message.attachments:
        items.append((a.filename, a))
    for link in links:
        items.append((link, link))
    return items


async def setup(bot: AnalystBot) -> None:
    await bot.add_cog(Ingest(bot))
