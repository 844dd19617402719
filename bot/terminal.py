"""Rendering for the terminal (rich): the same content the Discord answer carries."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.core.models import Assessment, Passage, VariableAssessment
from bot.core.scoring import score_bar

VERDICT_STYLE = {
    "very unlikely": "bold green",
    "unlikely": "green",
    "uncertain": "yellow",
    "likely": "red",
    "very likely": "bold red",
}
NAMES = {
    "trigger": "1 Trigger",
    "local_support": "2 Local support",
    "military_opposition": "3 Military opposition",
    "feasibility": "4 Feasibility",
    "costs": "5 Political & economic costs",
}


def passage_line(n: int, p: Passage) -> Text:
    line = Text(f"[{n}] ", style="bold")
    line.append(p.label)
    if p.source:
        line.append(f" — {p.source}", style="dim")
    if p.url:
        line.append(f"\n    {p.url}", style="blue underline")
    return line


def claim_lines(v: VariableAssessment) -> list[str]:
    """One line per claim for (+) and against (-), each with its [n] citation."""
    return [f"+ {c.text} [{c.passage}]" for c in v.evidence_for] + [
        f"- {c.text} [{c.passage}]" for c in v.evidence_against
    ]


def render_assessment(a: Assessment) -> Group:
    style = VERDICT_STYLE.get(a.verdict or "", "bold")
    head = Text()
    if a.likelihood is None:
        head.append(f"no likelihood — {a.likelihood_note or 'no number can be given'}", style="bold")
    else:
        head.append(f"{a.likelihood}% — {a.verdict}", style=style)
    head.append(f"   (confidence {a.confidence})", style="dim")
    table = Table(show_header=True, header_style="bold", expand=True, show_lines=True)
    # widths that survive an 80-column pipe: the rationale keeps most of the room
    table.add_column("Variable", max_width=16)
    table.add_column("Score", no_wrap=True, min_width=12)
    table.add_column("Rationale", ratio=1, min_width=28)
    table.add_column("Cites", max_width=10, overflow="fold")
    for v in a.variables:
        if v.assessed:
            score = Text(f"{score_bar(v.score)} {v.score}/4\n{v.confidence}")
        else:
            score = Text("insufficient\nevidence", style="dim italic")
        cites = " ".join(f"[{c.passage}]" for c in v.citations) or "—"
        claims = claim_lines(v) if (a.likelihood is None or v.evidence_for or v.evidence_against) else []
        body = "\n".join(x for x in [v.rationale, *claims] if x) or "—"
        table.add_row(NAMES[v.variable], score, Text(body), cites)
    parts: list = [head, Text(a.summary), table]
    if a.passages:
        parts.append(Text("Sources", style="bold"))
        parts.extend(passage_line(i, p) for i, p in enumerate(a.passages, start=1))
    for note in a.notes:
        parts.append(Text(f"Note: {note}", style="yellow"))
    as_of = f" · as of {a.as_of}" if a.as_of else ""
    engine = "indicator-based (no LLM)" if a.engine == "indicators" else f"LLM {a.model}"
    parts.append(Text(f"{engine}{as_of} · {a.timings.total_ms / 1000:.2f} s", style="dim"))
    title = f"{a.question}  [{a.subject}]"
    return Group(Panel(Group(*parts), title=title, title_align="left", border_style=style))


def render_passages(passages: list[Passage]) -> Group:
    items = []
    for i, p in enumerate(passages, start=1):
        items.append(passage_line(i, p))
        items.append(Text(p.text + "\n"))
    return Group(*items)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)
