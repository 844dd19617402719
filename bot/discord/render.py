"""Assessment (and passages, ingest outcomes, history) -> Discord embeds: pure functions, no I/O.

Every Discord limit is respected *by construction*: each piece of text goes through :func:`cut`
with the limit of the place it lands in (title 256, description 4,096, field name 256, field value
1,024, footer 2,048, 25 fields), the per-message totals (6,000 characters over all embeds, 10
embeds) are planned with explicit budgets, and :func:`fit_message` is the final safety net that
shortens the longest text until the message fits. Long text ends with an ellipsis; nothing here
can make Discord answer 400.

Retrieved text is data. Titles, passages and rationales (which quote passages) pass through
:func:`clean`, which neutralises mentions (``@everyone`` becomes ``@\u200beveryone``), on top of
the ``AllowedMentions.none()`` every message is sent with: a document saying "ping @everyone"
can neither ping nor even look like a ping.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import discord

from bot.core.models import Assessment, Passage, VariableAssessment, VariableKey
from bot.core.scoring import score_bar

# --- Discord's limits ---------------------------------------------------------------------------
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
TOTAL = 6000
EMBEDS = 10
CONTENT = 2000

ELLIPSIS = "…"

LABELS: dict[VariableKey, str] = {
    "trigger": "Trigger",
    "local_support": "Local support",
    "military_opposition": "Military opposition",
    "feasibility": "Feasibility",
    "costs": "Political & economic costs",
}

# Low likelihood of intervention reads calm (green), high reads alarming (red).
VERDICT_COLOURS: dict[str, int] = {
    "very unlikely": 0x2E7D32,
    "unlikely": 0x7CB342,
    "uncertain": 0xF9A825,
    "likely": 0xEF6C00,
    "very likely": 0xC62828,
}


def cut(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters, ending with an ellipsis when cut."""
    text = text or ""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + ELLIPSIS


_MENTION = re.compile(r"@(everyone|here)|<@(!?&?)(\d+)>")


def clean(text: str) -> str:
    """Neutralise mentions in untrusted text (a zero-width space after the @)."""
    return _MENTION.sub(lambda m: m.group(0).replace("@", "@\u200b", 1), text or "")


def link_text(text: str) -> str:
    """Text safe inside ``[...]`` of a markdown link."""
    return clean(text).replace("[", "(").replace("]", ")").replace("\n", " ")


def safe_url(url: str | None) -> str | None:
    """An http(s) URL usable in an embed or a markdown link, else None (no javascript:, no spaces)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=":/?#[]@!$&'*+,;=%~-._")[:2000].replace(")", "%29").replace("(", "%28")


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def embed_length(embed: discord.Embed) -> int:
    """Characters Discord counts towards the 6,000 per message (discord.py's ``len(embed)``)."""
    return len(embed)


def fit_message(
    embeds: list[discord.Embed], total: int = TOTAL, max_embeds: int = EMBEDS
) -> list[discord.Embed]:
    """Make a message's embeds fit Discord's per-message limits, in place, and return them.

    Shortens the longest description or field value by the excess (never below 64 characters),
    then drops trailing fields and embeds as a last resort. Deterministic and always terminates.
    """
    del embeds[max_embeds:]
    while embeds and sum(len(e) for e in embeds) > total:
        excess = sum(len(e) for e in embeds) - total
        best: tuple[int, discord.Embed, int | None] | None = None  # (length, embed, field index or None)
        for e in embeds:
            if e.description and (best is None or len(e.description) > best[0]):
                best = (len(e.description), e, None)
            for i, f in enumerate(e.fields):
                if f.value and (best is None or len(f.value) > best[0]):
                    best = (len(f.value), e, i)
        if best is not None and best[0] > 64:
            length, e, idx = best
            new_len = max(64, length - excess)
            if idx is None:
                e.description = cut(e.description or "", new_len)
            else:
                f = e.fields[idx]
                e.set_field_at(idx, name=f.name, value=cut(f.value or "", new_len), inline=f.inline)
            continue
        last = embeds[-1]
        if last.fields:
            last.remove_field(len(last.fields) - 1)
        elif len(embeds) > 1:
            embeds.pop()
        else:  # one embed with only short texts left: cut the title and footer too
            last.title = cut(last.title or "", 64)
            if last.footer.text:
                last.set_footer(text=cut(last.footer.text, 64))
            if len(last) > total:
                last.description = cut(last.description or "", 32)
            break
    return embeds


def within_lines(lines: Sequence[str], limit: int, more: str = "… and {n} more") -> str:
    """Whole lines joined by newlines within ``limit``, ending "… and N more" when some are left out."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        line = cut(line, limit)
        left_after = len(lines) - i - 1
        need = used + (1 if out else 0) + len(line)
        tail = 1 + len(more.format(n=left_after)) if left_after else 0
        if need + tail > limit:
            return cut("\n".join([*out, more.format(n=len(lines) - i)]), limit)
        out.append(line)
        used = need
    return "\n".join(out)


def passage_source_line(n: int, p: Passage) -> str:
    """ "**[3]** [Why Russia Sent Troops (2022-01-07), ¶5](https://...) · Reuters"."""
    when = p.date.isoformat() if p.date else "undated"
    label = link_text(f"{cut(p.title, 150)} ({when}), {p.paragraphs}")
    url = safe_url(p.url)
    head = f"[{label}]({url})" if url and len(url) <= 300 else label  # a huge URL would crowd out the list
    tail = f" · {clean(p.source)}" if p.source else ""
    return f"**[{n}]** {head}{tail}"


def _cites(v: VariableAssessment) -> str:
    nums = sorted({c.passage for c in v.citations})
    return " ".join(f"[{n}]" for n in nums)


def _field_name(v: VariableAssessment, focus: VariableKey | None) -> str:
    mark = "▶ " if focus == v.variable else ""
    if v.assessed:
        return cut(f"{mark}{LABELS[v.variable]}  {score_bar(v.score)}  {v.score}/4", FIELD_NAME)
    return cut(f"{mark}{LABELS[v.variable]}  {score_bar(None)}  no evidence", FIELD_NAME)


def _field_value(v: VariableAssessment, limit: int) -> str:
    cites = _cites(v)
    meta = f"*{v.confidence} confidence*" if v.assessed else "*insufficient evidence*"
    suffix = f"\n{meta}" + (f" · cites {cites}" if cites else "")
    body = clean(v.rationale.strip()) or (
        "No rationale given." if v.assessed else "The corpus holds no usable evidence on this variable."
    )
    return cut(body, max(16, limit - len(suffix))) + suffix


@dataclass(frozen=True)
class AssessmentMeta:
    """What the embed shows besides the assessment itself (all optional)."""

    assessment_id: int | None = None
    corpus_updated: str | None = None  # ISO timestamp of the last ingest in this collection
    elapsed_s: float | None = None
    focus: VariableKey | None = None
    context: str | None = None  # e.g. "Follow-up to: Will Russia send troops into Kazakhstan?"


def _corpus_date(value: str | None) -> str:
    if not value:
        return "empty corpus"
    try:
        return "corpus " + dt.datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        return "corpus " + value[:20]


def footer_text(a: Assessment, meta: AssessmentMeta) -> str:
    parts = [f"{a.engine} · {a.model}", _corpus_date(meta.corpus_updated)]
    if meta.elapsed_s is not None:
        parts.append(f"{meta.elapsed_s:.1f} s")
    if meta.assessment_id is not None:
        parts.append(f"#{meta.assessment_id}")
    return cut(" · ".join(parts), FOOTER)


def render_assessment(a: Assessment, meta: AssessmentMeta = AssessmentMeta()) -> list[discord.Embed]:
    """The answer: a main embed (verdict, summary, one field per variable) and a sources embed.

    Budgets: the main embed is planned to ~4,200 characters (its description to 1,800, each rationale to
    an equal share of what is left), the sources list gets the rest of the 6,000 in whole lines,
    and :func:`fit_message` guarantees the total whatever the inputs.
    """
    colour = discord.Colour(VERDICT_COLOURS.get(a.verdict, 0x607D8B))
    subject = clean(a.subject) if a.subject and a.subject != "unspecified" else "Intervention question"
    title = cut(f"{subject}: {a.verdict} ({a.likelihood}%)", TITLE)

    lines = []
    if meta.context:
        lines.append(cut(clean(meta.context), 200))
    lines.append(f"**Q:** {cut(clean(a.question), 300)}")
    if a.summary:
        lines.append(cut(clean(a.summary), 900))
    info = f"Overall confidence: **{a.confidence}**"
    if a.as_of:
        info += f" · as of **{a.as_of.isoformat()}**"
    lines.append(info)
    if meta.focus:
        v = a.variable(meta.focus)
        shown = f"{v.score}/4" if v.assessed else "no evidence"
        lines.append(f"Follow-up focus: **{LABELS[meta.focus]}** ({shown})")
    for note in a.notes[:3]:
        lines.append(f"⚠ {cut(clean(note), 200)}")
    description = cut("\n".join(lines), 1800)

    main = discord.Embed(title=title, description=description, colour=colour, timestamp=a.created_at)
    names = [_field_name(v, meta.focus) for v in a.variables[:FIELDS]]
    room = 4200 - len(title) - len(description) - sum(len(n) for n in names)
    per_field = max(120, min(FIELD_VALUE, room // max(1, len(names))))
    for v, name in zip(a.variables[:FIELDS], names, strict=True):
        main.add_field(name=name, value=_field_value(v, per_field), inline=False)

    footer = footer_text(a, meta)
    cited = a.cited_passage_numbers()
    sources = discord.Embed(title="Sources", colour=colour)
    budget = TOTAL - len(main) - len(footer) - len(sources.title or "") - 8
    src_lines = [passage_source_line(n, a.passages[n - 1]) for n in cited if 1 <= n <= len(a.passages)]
    uncited = len(a.passages) - len(src_lines)
    if not src_lines:
        src_lines = ["No passage was cited." if a.passages else "No passage in this server's corpus matched."]
    if uncited > 0 and src_lines and a.passages:
        src_lines.append(f"*{uncited} more retrieved passage(s) not cited.*")
    sources.description = within_lines(src_lines, max(64, min(DESCRIPTION, budget)))
    sources.set_footer(text=footer)
    return fit_message([main, sources])


def _passage_embed(n: int | None, p: Passage, colour: int) -> discord.Embed:
    prefix = f"[{n}] " if n is not None else ""
    e = discord.Embed(
        title=cut(f"{prefix}{clean(p.title)}", TITLE),
        url=safe_url(p.url),
        description=cut(clean(p.text), 3800),
        colour=discord.Colour(colour),
    )
    bits = [p.date.isoformat() if p.date else "undated", p.paragraphs]
    if p.source:
        bits.append(clean(p.source))
    e.set_footer(text=cut(" · ".join(bits), FOOTER))
    return e


@dataclass(frozen=True)
class Page:
    content: str
    embeds: list[discord.Embed]


def paginate_passages(
    numbered: Sequence[tuple[int | None, Passage]], header: str, *, colour: int = 0x546E7A, per_page: int = 4
) -> list[Page]:
    """Passages as pages: each page at most ``per_page`` embeds and 6,000 characters; "page i/n" in content."""
    embeds = [_passage_embed(n, p, colour) for n, p in numbered]
    pages: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    size = 0
    for e in embeds:
        fit_message([e])  # one passage alone always fits
        if current and (len(current) >= min(per_page, EMBEDS) or size + len(e) > TOTAL):
            pages.append(current)
            current, size = [], 0
        current.append(e)
        size += len(e)
    if current:
        pages.append(current)
    if not pages:
        return [Page(cut(f"{header}\nNothing found.", CONTENT), [])]
    n = len(pages)
    return [
        Page(cut(f"{header} · page {i}/{n}" if n > 1 else header, CONTENT), page)
        for i, page in enumerate(pages, 1)
    ]


def render_cited_passages(a: Assessment) -> list[Page]:
    """The cited passages' text (what "Show passages" answers), paged to fit."""
    cited = [(n, a.passages[n - 1]) for n in a.cited_passage_numbers() if 1 <= n <= len(a.passages)]
    header = f"Cited passages for: {cut(clean(a.question), 300)}"
    if not cited:
        cited = list(enumerate(a.passages, start=1))
        header = f"No passage was cited; retrieved passages for: {cut(clean(a.question), 300)}"
    return paginate_passages(cited, header, colour=VERDICT_COLOURS.get(a.verdict, 0x546E7A))


def render_sources(query: str, passages: Sequence[Passage], as_of: dt.date | None = None) -> list[Page]:
    """/sources: the background passages for a query, numbered, paged to fit."""
    when = f" (as of {as_of.isoformat()})" if as_of else ""
    header = f"Background passages for “{cut(clean(query), 200)}”{when}: {len(passages)} found"
    return paginate_passages(list(enumerate(passages, start=1)), header)


# --- ingest and history -----------------------------------------------------------------------------

_STATUS_ICON = {"added": "✅", "updated": "♻️", "skipped": "⏭️", "failed": "❌"}


def render_ingest(outcomes: Sequence[object], *, total: int, current: str | None = None) -> discord.Embed:
    """Progress or final report of an /ingest batch (outcomes are ``bot.store.IngestOutcome``)."""
    counts = {"added": 0, "updated": 0, "skipped": 0, "failed": 0}
    lines = []
    for o in outcomes:
        status = getattr(o, "status", "failed")
        counts[status] = counts.get(status, 0) + 1
        name = link_text(str(getattr(o, "name", "?")))
        if status in ("added", "updated"):
            detail = f" ({getattr(o, 'chunks', 0)} chunks)"
        else:
            reason = str(getattr(o, "reason", ""))
            raw_name = str(getattr(o, "name", ""))
            if raw_name and reason.startswith(f"{raw_name}: "):  # loaders prefix reasons with the name
                reason = reason[len(raw_name) + 2 :]
            detail = f" — {clean(reason)}" if reason else ""
        warnings = getattr(o, "warnings", None) or []
        if warnings:
            detail += f" ⚠ {clean('; '.join(warnings))}"
        lines.append(cut(f"{_STATUS_ICON.get(status, '•')} **{status}** {name}{detail}", 400))
    done = len(outcomes)
    finished = current is None and done >= total
    if finished:
        title = "Ingest finished"
        colour = 0xC62828 if counts["failed"] and not (counts["added"] or counts["updated"]) else 0x2E7D32
    else:
        title = f"Ingesting {min(done + 1, total)}/{total}…"
        colour = 0x546E7A
    summary = " · ".join(f"{k}: {v}" for k, v in counts.items())
    if current:
        lines.append(f"⏳ {link_text(current)}")
    e = discord.Embed(title=cut(title, TITLE), colour=discord.Colour(colour))
    e.description = within_lines(lines, 3800) if lines else "Nothing to ingest."
    e.set_footer(text=cut(summary, FOOTER))
    return fit_message([e])[0]


def render_history(
    rows: Sequence[object], *, subject: str | None, chart_subject: str | None
) -> discord.Embed:
    """/history: the newest assessments (``bot.history.HistoryRow``), and the chart when attached."""
    title = f"Recent assessments: {clean(subject)}" if subject else "Recent assessments"
    e = discord.Embed(title=cut(title, TITLE), colour=discord.Colour(0x37474F))
    lines = []
    for r in rows:
        when = r.created_at.date().isoformat()  # type: ignore[attr-defined]
        bars = " ".join(score_bar(r.scores[k]) for k in LABELS)  # type: ignore[attr-defined]
        who = f" · <@{r.user_id}>" if r.user_id else ""  # type: ignore[attr-defined]
        as_of = f" · as of {r.as_of.isoformat()}" if r.as_of else ""  # type: ignore[attr-defined]
        lines.append(
            cut(
                f"`#{r.id}` {when} · **{clean(r.subject)}** · {r.verdict} ({r.likelihood}%){as_of}{who}\n"  # type: ignore[attr-defined]
                f"{bars} · {clean(r.question)}",  # type: ignore[attr-defined]
                350,
            )
        )
    if not lines:
        e.description = (
            f"No assessment of “{clean(subject)}” yet in this server; ask with /assess."
            if subject
            else "No assessment yet in this server; ask with /assess."
        )
    else:
        e.description = within_lines(lines, 3800)
    if chart_subject:
        e.set_image(url="attachment://history.png")
        e.set_footer(
            text=cut(
                f"Chart: {chart_subject} · bars = trigger, local support, opposition, feasibility, costs",
                FOOTER,
            )
        )
    return fit_message([e])[0]
