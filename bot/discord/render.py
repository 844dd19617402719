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

from bot.core.framework import labels
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

LABELS: dict[VariableKey, str] = labels()  # from prompts/framework.yaml

NO_NUMBER_COLOUR = 0x607D8B
# Tags recorded on documents added from chat (bot.discord.cogs.ingest)
ADDED_BY = "added-by:"
ADDED_BY_ID = "added-by-id:"
ADDED_ON = "added-on:"

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
    """Text safe inside ``[...]`` of a markdown link: brackets escaped, not replaced (``[::1]`` stays)."""
    return clean(text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


_MASKED_LINK = re.compile(r"\[([^\[\]\n]{0,300})\]\(\s*<?[^)\s>]*>?(?:\s+\"[^\"]*\")?\s*\)")
_BARE_URL = re.compile(r"<?\b(?:https?|ftp|discord)://[^\s<>]+>?|<?\bwww\.[^\s<>]+>?", re.I)


def model_text(text: str) -> str:
    """Text the model wrote (rationale, summary, claims), made inert: links come only from passage
    metadata, so a masked link ``[label](url)`` keeps its label and loses its target, and a URL
    written out is replaced by "(link removed)"; mentions are neutralised as in :func:`clean`."""
    text = _MASKED_LINK.sub(lambda m: m.group(1), text or "")
    text = _BARE_URL.sub("(link removed)", text)
    return clean(text)


def document_text(text: str) -> str:
    """A passage's text for an embed: mentions neutralised, and a masked link written in the
    document (``[official statement](https://elsewhere)``) shown with its real target in plain
    sight, ``official statement (https://elsewhere)``, so no label can hide where it leads."""
    return clean(_MASKED_LINK_WITH_TARGET.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text or ""))


_MASKED_LINK_WITH_TARGET = re.compile(r"\[([^\[\]\n]{0,300})\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_SENTENCE_END = re.compile(r"[.!?…][)\]\"'”’]*(?=\s)")
_CLAUSE_END = re.compile(r"[;:,][)\]\"'”’]*(?=\s)|\s[—–-](?=\s)")


def cut_at_sentence(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut after the last whole sentence that fits; else after
    the last clause (",", ";", ":", a dash) or word, when a sentence would keep too little. Ends
    with an ellipsis when anything was cut."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    if limit < 8:
        return cut(text, limit)
    room = text[: limit - 2]  # " …"
    for pattern, keep in ((_SENTENCE_END, 0.4), (_CLAUSE_END, 0.5)):
        ends = [m.start() + 1 for m in pattern.finditer(room + " ")]
        if ends and ends[-1] >= keep * limit:
            return room[: ends[-1]].rstrip(" ,;:—–-") + " " + ELLIPSIS
    space = room.rfind(" ")
    if space >= 0.5 * limit:
        return room[:space].rstrip(" ,;:—–-") + " " + ELLIPSIS
    return cut(text, limit)


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
    return cut(f"{mark}{LABELS[v.variable]}  —  no evidence", FIELD_NAME)


def claim_lines(v: VariableAssessment) -> list[str]:
    """One line per claim for and against, each with its [n] citation (model text made inert)."""
    lines = [f"➕ {cut(model_text(c.text), 300)} [{c.passage}]" for c in v.evidence_for]
    lines += [f"➖ {cut(model_text(c.text), 300)} [{c.passage}]" for c in v.evidence_against]
    return lines


def _field_value(v: VariableAssessment, limit: int, *, with_claims: bool = False) -> str:
    cites = _cites(v)
    meta = f"*{v.confidence} confidence*" if v.assessed else "*insufficient evidence*"
    suffix = f"\n{meta}" + (f" · cites {cites}" if cites else "")
    claims = claim_lines(v) if with_claims else []
    body = model_text(v.rationale.strip()) or (
        "" if claims else "No rationale given." if v.assessed else "The corpus holds no usable evidence on this variable."
    )
    room = max(16, limit - len(suffix))
    if claims:
        head = cut_at_sentence(body, room // 3) if body else ""
        listed = within_lines(claims, max(16, room - len(head) - 1))
        return "\n".join(x for x in (head, listed) if x) + suffix
    return cut_at_sentence(body, room) + suffix


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


def engine_label(a: Assessment) -> str:
    """The engine once: "indicators:all-MiniLM-L6-v2", "openai:gpt-4o-mini" (not "llm · openai:...")."""
    model = (a.model or "").strip()
    if not model:
        return a.engine
    if model.split(":", 1)[0] == a.engine or a.engine == "llm":
        return model
    return f"{a.engine} · {model}"


def footer_text(a: Assessment, meta: AssessmentMeta) -> str:
    parts = [engine_label(a), _corpus_date(meta.corpus_updated)]
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
    colour = discord.Colour(VERDICT_COLOURS.get(a.verdict or "", NO_NUMBER_COLOUR))
    subject = clean(a.subject) if a.subject and a.subject != "unspecified" else "Intervention question"
    no_number = a.likelihood is None
    title = cut(f"{subject}: no likelihood" if no_number else f"{subject}: {a.verdict} ({a.likelihood}%)", TITLE)

    lines = []
    if meta.context:
        lines.append(cut(clean(meta.context), 200))
    lines.append(f"**Q:** {cut(clean(a.question), 300)}")
    if no_number:
        lines.append(cut(f"**No likelihood** — {model_text(a.likelihood_note) or 'no number can be given.'}", 400))
    if a.summary:
        lines.append(cut_at_sentence(model_text(a.summary), 900))
    info = f"Overall confidence: **{a.confidence}**"
    if a.as_of:
        info += f" · as of **{a.as_of.isoformat()}**"
    lines.append(info)
    if meta.focus:
        v = a.variable(meta.focus)
        shown = f"{v.score}/4" if v.assessed else "no evidence"
        lines.append(f"Follow-up focus: **{LABELS[meta.focus]}** ({shown})")
    for note in a.notes[:3]:
        lines.append(f"⚠ {cut_at_sentence(model_text(note), 200)}")
    description = cut("\n".join(lines), 1800)

    main = discord.Embed(title=title, description=description, colour=colour, timestamp=a.created_at)
    names = [_field_name(v, meta.focus) for v in a.variables[:FIELDS]]
    room = 4200 - len(title) - len(description) - sum(len(n) for n in names)
    per_field = max(120, min(FIELD_VALUE, room // max(1, len(names))))
    for v, name in zip(a.variables[:FIELDS], names, strict=True):
        with_claims = no_number or bool(v.evidence_for or v.evidence_against)
        main.add_field(name=name, value=_field_value(v, per_field, with_claims=with_claims), inline=False)

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


def provenance(p: Passage) -> str | None:
    """ "added by alice on 2026-12-01 10:42 UTC" for a document added from chat, else None."""
    by = next((t[len(ADDED_BY) :] for t in p.tags if t.startswith(ADDED_BY)), None)
    on = next((t[len(ADDED_ON) :] for t in p.tags if t.startswith(ADDED_ON)), None)
    if not by and not on:
        return None
    when = ""
    if on:
        try:
            when = " on " + dt.datetime.strptime(on.upper(), "%Y-%m-%dT%H:%MZ").strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            when = f" on {on[:20]}"
    return clean(f"added by {by or 'someone'}{when}")


def render_progress(question: str, done: Sequence[VariableAssessment]) -> discord.Embed:
    """The answer while it is being worked out: the variables decided so far, the rest pending."""
    by_key = {v.variable: v for v in done}
    e = discord.Embed(
        title=cut(f"Assessing… {len(by_key)}/{len(LABELS)} variables", TITLE),
        description=f"**Q:** {cut(clean(question), 300)}",
        colour=discord.Colour(0x546E7A),
    )
    for key, label in LABELS.items():
        v = by_key.get(key)
        if v is None:
            e.add_field(name=f"{label}  …", value="*working…*", inline=False)
        else:
            e.add_field(name=_field_name(v, None), value=_field_value(v, 300), inline=False)
    return fit_message([e])[0]


def _passage_embed(
    n: int | None, p: Passage, colour: int, quotes: Sequence[str] = ()
) -> discord.Embed:
    prefix = f"[{n}] " if n is not None else ""
    quoted = [f"> “{cut(model_text(q), 300)}”" for q in dict.fromkeys(q.strip() for q in quotes if q.strip())]
    head = "\n".join(quoted[:4])
    e = discord.Embed(
        title=cut(f"{prefix}{clean(p.title)}", TITLE),
        url=safe_url(p.url),
        description=cut((head + "\n\n" if head else "") + document_text(p.text), 3800),
        colour=discord.Colour(colour),
    )
    bits = [p.date.isoformat() if p.date else "undated", p.paragraphs]
    if p.source:
        bits.append(clean(p.source))
    if (added := provenance(p)) is not None:
        bits.append(added)
    e.set_footer(text=cut(" · ".join(bits), FOOTER))
    return e


@dataclass(frozen=True)
class Page:
    content: str
    embeds: list[discord.Embed]


def paginate_passages(
    numbered: Sequence[tuple[int | None, Passage]],
    header: str,
    *,
    colour: int = 0x546E7A,
    per_page: int = 4,
    quotes: dict[int, list[str]] | None = None,
) -> list[Page]:
    """Passages as pages: each page at most ``per_page`` embeds and 6,000 characters; "page i/n" in content.
    ``quotes[n]``: the words claims quote from passage n, shown above its text."""
    quotes = quotes or {}
    embeds = [_passage_embed(n, p, colour, quotes.get(n, []) if n is not None else []) for n, p in numbered]
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
    quotes: dict[int, list[str]] = {}
    for v in a.variables:
        for c in (*v.evidence_for, *v.evidence_against):
            if c.quote:
                quotes.setdefault(c.passage, []).append(c.quote)
    colour = VERDICT_COLOURS.get(a.verdict or "", 0x546E7A)
    return paginate_passages(cited, header, colour=colour, quotes=quotes)


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
    rows: Sequence[object], *, subject: str | None, chart_subject: str | None, most_assessed: bool = False
) -> discord.Embed:
    """/history: the newest assessments (``bot.history.HistoryRow``), and the chart when attached."""
    title = f"Recent assessments: {clean(subject)}" if subject else "Recent assessments"
    e = discord.Embed(title=cut(title, TITLE), colour=discord.Colour(0x37474F))
    lines = []
    for r in rows:
        when = r.created_at.date().isoformat()  # type: ignore[attr-defined]
        bars = " ".join(  # "—" for a variable without evidence: five bars stay aligned
            "—" if r.scores[k] is None else score_bar(r.scores[k]) for k in LABELS  # type: ignore[attr-defined]
        )
        who = f" · <@{r.user_id}>" if r.user_id else ""  # type: ignore[attr-defined]
        as_of = f" · as of {r.as_of.isoformat()}" if r.as_of else ""  # type: ignore[attr-defined]
        number = getattr(r, "number", 0) or r.id  # type: ignore[attr-defined]
        verdict = "no likelihood" if r.likelihood is None else f"{r.verdict} ({r.likelihood}%)"  # type: ignore[attr-defined]
        lines.append(
            cut(
                f"`#{number}` {when} · **{clean(r.subject)}** · {verdict}{as_of}{who}\n"  # type: ignore[attr-defined]
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
                f"Chart: {chart_subject}{' (the most assessed subject)' if most_assessed else ''}"
                " · bars = trigger, local support, opposition, feasibility, costs",
                FOOTER,
            )
        )
    return fit_message([e])[0]
