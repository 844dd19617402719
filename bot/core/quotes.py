"""Verbatim quotes: a claim is shown only when code finds its quoted words in the cited passage.

Matching is exact after normalisation: Unicode compatibility forms, curly quotes and dashes made
plain, whitespace collapsed, case folded. A quote shorter than ``MIN_WORDS`` words proves nothing
("the army") and is rejected, as is one that is not in the passage it cites.
"""

from __future__ import annotations

import re
import unicodedata

MIN_WORDS = 4
_PUNCT = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
        "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    }
)
_WS = re.compile(r"\s+")
_EDGE = " \t\n\"'.,;:!?()[]"


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").translate(_PUNCT)
    return _WS.sub(" ", text).strip().casefold()


def clean_quote(quote: str) -> str:
    """The quote as it will be shown: whitespace collapsed, surrounding quote marks and an
    ellipsis at either end removed."""
    q = _WS.sub(" ", unicodedata.normalize("NFKC", quote or "")).strip()
    q = q.strip("\u2026").removeprefix("...").removesuffix("...")
    return q.strip(" \"'\u201c\u201d\u2018\u2019")


def found_in(quote: str, passage_text: str) -> bool:
    """True when ``quote`` (at least MIN_WORDS words) occurs verbatim in ``passage_text``."""
    q = normalise(clean_quote(quote)).strip(_EDGE)
    if len(q.split()) < MIN_WORDS:
        return False
    return q in normalise(passage_text)
