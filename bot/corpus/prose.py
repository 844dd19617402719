"""Is a piece of text prose (evidence), or a fragment (a keyword line, a heading, a caption)?

A line of bare keywords in an ingested document ("Tokayev CSTO troops Kazakhstan.") was cited
publicly as evidence and moved two scores. Evidence must be sentences: :func:`is_prose` is the
pure predicate the engine and the chunker use to tell them apart. It is deliberately simple and
explainable, with no model: a sentence has enough words, ends like a sentence, and has the glue
words (function words, verbs) that keyword lists, headings and tag lines lack.
"""

from __future__ import annotations

import re

MIN_WORDS = 6
MIN_FUNCTION_SHARE = 0.12  # English prose runs at ~40-50 % function words; keyword lines near 0

# Closed-class words (articles, prepositions, pronouns, auxiliaries, conjunctions): keyword lines,
# headlines and tag lists have almost none, sentences always have some.
_FUNCTION_WORDS = (
    "a an the this that these those there here it its they them their he him his she her we our you your "
    "i me my who whom whose which what when where why how "
    "of in on at to from by with without for about into onto over under after before during since until "
    "against between among through across along around near within upon than as like "
    "and or but nor so yet if because while although though unless whether "
    "is are was were be been being am has have had having do does did done can could will would shall "
    "should may might must not no never also only just very more most less such each every any some all "
    "both either neither other another same own"
)
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
_WORD = re.compile(r"[^\W\d_][\w'’\-]*", re.UNICODE)
_END = re.compile(r"[.!?…:;][\"'”’)\]]*\s*$")


def is_prose(text: str) -> bool:
    """True when ``text`` reads as at least one sentence of prose (usable as evidence).

    Rules, all required:

    * at least :data:`MIN_WORDS` words;
    * it ends like a sentence (``.``, ``!``, ``?``, ``…``, ``:``, ``;``, a closing quote after them),
      or is long enough (25+ words) that it is running text cut mid-sentence by a chunker;
    * at least :data:`MIN_FUNCTION_SHARE` of its words are function words (the, of, was, and…);
    * not mostly capitalised words (a title-case headline, a list of names).
    """
    words = _WORD.findall(text or "")
    if len(words) < MIN_WORDS:
        return False
    if not _END.search(text.strip()) and len(words) < 25:
        return False
    lowered = [w.lower().strip("'’-") for w in words]
    function = sum(1 for w in lowered if w in FUNCTION_WORDS)
    if function / len(words) < MIN_FUNCTION_SHARE:
        return False
    capitalised = sum(1 for w in words[1:] if w[:1].isupper())
    return capitalised / max(1, len(words) - 1) <= 0.6
