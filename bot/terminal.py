"""Rendering for the terminal (rich): the same content the Discord answer carries.

Everything that comes from data (titles, questions, rationales, links) goes in as ``Text``, never as a
markup string, so a ``[/]`` in a title is shown as written instead of breaking the output. Control
characters are stripped at ingest (``bot.corpus.cleaning.strip_controls``) and again here
(``safe``), so a document or an LLM answer cannot move the cursor, clear the screen, write the
clipboard (OSC 52) or plant a hidden link (OSC 8) in the analyst's terminal.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.core.framework import labels
from bot.core.models import Assessment, Passage, VariableAssessment
from bot.core.scoring import score_bar
from bot.corpus.cleaning import strip_controls


def safe(value: object) -> str:
    """Data as plain text for the terminal: no control characters, no escape sequences."""
    return strip_controls(str(value))


def markup_safe(value: object) -> str:
    """Data to interpolate into a rich markup string: safe, and its brackets escaped."""
    return escape(safe(value))

VERDICT_STYLE = {
    "very unlikely": "bold green",
    "unlikely": "green",
    "uncertain": "yellow",
    "likely": "red",
    "very likely": "bold red",
}


def passage_line(n: int, p: Passage) -> Text:
    line = Text(f"[{n}] ", style="bold")
    line.append(safe(p.label))
    if p.source:
        line.append(f" — {safe(p.source)}", style="dim")
    if p.url:
        line.append(f"\n    {safe(p.url)}", style="blue underline")
    return line


def _claims(a: Assessment, v: VariableAssessment) -> Text:
    out = Text()
    for label, claims, style in (("for", v.evidence_for, "red"), ("against", v.evidence_against, "green")):
        for c in claims[:2]:
            if out:
                out.append("\n")
            out.append(f"{label} [{c.passage}] ", style=f"bold {style}")
            out.append(f"\u201c{short(safe(c.quote), 150)}\u201d")
    return out


def short(text: str, limit: int) -> str:
    """Cut at a sentence or clause boundary before ``limit`` where there is one."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for mark in (". ", "; ", ", "):
        i = cut.rfind(mark)
        if i > limit // 2:
            return cut[: i + 1].rstrip(",;") + " …"
    return cut.rstrip() + "…"


def render_assessment(a: Assessment) -> Group:
    names = {k: f"{i} {label}" for i, (k, label) in enumerate(labels().items(), start=1)}  # "1 Trigger"
    style = VERDICT_STYLE.get(a.verdict or "", "bold")
    head = Text()
    if a.likelihood is not None:
        head.append(f"{a.likelihood}% — {a.verdict}", style=style)
        head.append(f"   (confidence {a.confidence})", style="dim")
    else:
        head.append("No likelihood", style="bold")
        head.append(f" — {a.likelihood_note.removeprefix('No likelihood is shown: ')}", style="dim")
    table = Table(show_header=True, header_style="bold", expand=True, show_lines=True)
    # widths that survive an 80-column pipe: the evidence keeps most of the room
    table.add_column("Variable", max_width=16)
    table.add_column("Lean", no_wrap=True, min_width=12)
    table.add_column("Checked evidence (for / against intervention)", ratio=1, min_width=28)
    for v in a.variables:
        if v.assessed:
            score = Text(f"{score_bar(v.score)} {v.score}/4\n{v.confidence}")
        else:
            score = Text("no checked\nevidence", style="dim italic")
        evidence = _claims(a, v)
        if not evidence:
            evidence = Text(safe(v.rationale or "—"), style="dim")
        table.add_row(names[v.variable], score, evidence)
    parts: list = [head, Text(safe(a.summary)), table]
    cited = a.cited_passage_numbers()
    if cited:
        parts.append(Text("Sources", style="bold"))
        parts.extend(passage_line(n, a.passages[n - 1]) for n in cited if n <= len(a.passages))
    for note in a.notes:
        parts.append(Text(f"Note: {safe(note)}", style="yellow"))
    as_of = f" · as of {a.as_of}" if a.as_of else ""
    engine = "indicator-based (no LLM)" if a.engine == "indicators" else f"LLM {a.model}"
    parts.append(Text(f"{safe(engine)}{as_of} · {a.timings.total_ms / 1000:.2f} s", style="dim"))
    title = Text(safe(f"{a.question}  [{a.subject}]"))  # Text, not markup: the question is the user's
    return Group(Panel(Group(*parts), title=title, title_align="left", border_style=style))


def render_passages(passages: list[Passage]) -> Group:
    items = []
    for i, p in enumerate(passages, start=1):
        items.append(passage_line(i, p))
        items.append(Text(safe(p.text) + "\n"))
    return Group(*items)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)
