"""Citation checks: a citation must point at a passage that was actually given."""

from __future__ import annotations

from bot.core.models import Citation, VariableAssessment


def check_citations(variable: VariableAssessment, n_passages: int) -> tuple[VariableAssessment, int]:
    """Drop citations outside 1..n_passages (and repeats). A scored variable left with no valid
    citation becomes "insufficient evidence": an uncited claim is never shown as if it were backed.

    Returns the checked variable and how many citations were removed.
    """
    valid: list[Citation] = []
    seen: set[int] = set()
    removed = 0
    for c in variable.citations:
        if 1 <= c.passage <= n_passages and c.passage not in seen:
            valid.append(c)
            seen.add(c.passage)
        elif c.passage not in seen:
            removed += 1
    checked = variable.model_copy(update={"citations": valid})
    if checked.status == "assessed" and not valid:
        checked = checked.model_copy(
            update={
                "status": "insufficient_evidence",
                "score": None,
                "confidence": "low",
                "rationale": (variable.rationale + " " if variable.rationale else "")
                + "(No valid citation supports this, so it is not scored.)",
            }
        )
    if checked.status == "insufficient_evidence":
        checked = checked.model_copy(update={"score": None})
    return checked, removed
