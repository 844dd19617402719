"""What a question is about (its subject: a place) and who it asks about (its actor).

List-based, over the gazetteer of :mod:`bot.core.places`: every name the gazetteer knows is found
in the question, wherever it is and however it is written ("Ukraine's", "nagorno karabakh",
"Kiev", "Artsakh"), then read by its position:

* **The actor** is the state or alliance the question asks to act: a name in the position of the
  subject of an intervention verb ("Will *China* send troops...", "Would *Moscow* intervene...",
  "*Russian* troops enter...") or before an intervention noun ("a *Russian* invasion"). Russia,
  Moscow, the Kremlin, Putin and the Russian-led CSTO are all "Russia". When no name is in that
  position but Russia is named at all, the actor is Russia; when nothing is named, None.
* **The subject** is the place the action is aimed at: a place named after "into", "in", "to",
  "against", "invade", "defend"... (after the actor when there is one), names before demonyms,
  earlier before later. The actor's own names are never the subject ("Russia's army" is not a
  place the question is about), nor is anything that is not in the gazetteer ("President
  Tokayev"). The most specific place wins: a region over its country ("Moldova's Transnistria
  region" -> Transnistria), a country over one of its cities.

An optional ``llm_extract`` callable (a local model, say) may choose the subject; its answer is
accepted only when it names a gazetteer place that the question names (or that contains, or lies
in, a place the question names), so a model cannot invent a subject.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from bot.core.places import Gazetteer, Kind, Mention, Place, clean_text, compile_forms, fold, load_gazetteer

log = logging.getLogger(__name__)

RUSSIA = "Russia"

_WORD = re.compile(r"[^\W\d_][\w'\-]*")
_DETERMINERS = {"the", "a", "an", "its", "their", "his", "her", "our", "any", "some", "more", "further", "new"}
# words after which a name can be the subject of a clause ("Will Russia...", "...that China...")
_CLAUSE_START = {
    "will", "would", "could", "can", "should", "might", "may", "must", "shall", "is", "are", "was", "were",
    "does", "do", "did", "has", "have", "had", "that", "whether", "if", "when", "why", "how", "and", "or",
    "nor", "either", "neither", "both", "where", "while", "unless", "once", "then", "so", "but", "not",
    "won't", "wont", "isn't", "aren't", "doesn't", "didn't", "wouldn't", "couldn't", "shouldn't", "what",
    "after", "before", "until", "because", "as", "q", "question", "likely", "chance", "probability",
}
_COORDINATION = {"or", "and", "nor", "and/or", "the", "its", "together", "with", "jointly", "along"}
# adjectives between a preposition and a place ("into southern Kyrgyzstan", "into breakaway Abkhazia")
_PLACE_ADJECTIVES = {
    "southern", "northern", "eastern", "western", "central", "south", "north", "east", "west", "breakaway",
    "separatist", "occupied", "disputed", "neighbouring", "neighboring", "independent", "self-proclaimed",
    "rebel", "rebel-held", "entire", "whole", "all", "mainland", "coastal", "contested", "unrecognised",
    "unrecognized", "russian-speaking", "pro-russian", "ethnic", "autonomous", "mountainous", "nearby",
}
_TARGET_WORDS = {
    "into", "in", "inside", "within", "to", "towards", "toward", "against", "on", "onto", "over", "across",
    "at", "through", "throughout", "of", "for", "with", "near", "between", "around",
}
_TARGET_VERB = re.compile(
    r"^(?:enter|invad|attack|occup|annex|defen[cd]|protect|help|aid|rescu|liberat|seiz|strik|struck|bomb|"
    r"reinforc|garrison|intervene|assist|support|save|secure|retak|recaptur|captur|conquer|partition|"
    r"dismember|absorb|overrun|storm|shell|blockad)\w*$"
)
# what an actor does: a verb within a few words of its name ("Will China [really] send troops")
_ACTION_VERB = re.compile(
    r"^(?:send|sent|deploy|invad|interven|enter|attack|occup|annex|use|using|uses|used|move|moving|strik|"
    r"struck|march|launch|mount|station|dispatch|mobili[sz]|seiz|commit|bomb|wag|roll|cross|airlift|"
    r"defend|protect|fight|fought|liberat|retak|recaptur|captur|reinforc|rescu|retaliat|conquer|"
    r"absorb|overrun|storm|shell|blockad|incurs)\w*$"
)
# what an actor's intervention is called ("a Russian invasion", "Chinese troops")
_ACTION_NOUN = re.compile(
    r"^(?:intervention|interventions|invasion|invasions|deployment|deployments|incursion|incursions|"
    r"occupation|offensive|attack|attacks|troops|forces|army|armies|military|soldiers|peacekeepers|"
    r"peacekeeping|paratroopers|tanks|boots|operation|mission|strikes|aggression|annexation|"
    r"contingent|units|servicemen|marines|force|presence|war|base|bases|peacekeeper|soldier|troop)$"
)
_VERB_TOO = {"attack", "attacks", "strikes", "war", "force", "base", "bases", "mission", "occupation"}
_TERRITORY = re.compile(r"^(?:territory|territories|soil|border|borders|land|lands|side|region|regions|areas?|villages?|towns?|cities|province|provinces)$")
_ACTION_WINDOW = 5
_PASSIVE = {"be", "been", "being", "get", "gets", "got", "getting", "is", "are", "was", "were"}


class Subject(BaseModel):
    """The place a question is about, with every form a search for it should use."""

    model_config = ConfigDict(frozen=True)

    name: str  # canonical ("Nagorno-Karabakh")
    aliases: tuple[str, ...]  # every form to search: the name first, other names, demonyms, parts
    place: Kind  # "country", "region" or "city"
    country: str | None  # the country it lies in (itself for a country; None for a multi-country area)
    matched_text: str  # as the question wrote it ("Artsakh", "Ukraine")
    also: tuple[str, ...] = ()  # other places the question names, canonical, in order
    inner: tuple[str, ...] = ()  # names of places inside it (Tskhinvali for South Ossetia; a country's cities)
    context: tuple[str, ...] = ()  # forms of the named places that contain the subject ("Georgia" for South Ossetia)
    exact: tuple[str, ...] = ()  # the forms (of aliases, inner and context) matched only as written ("DPR")

    def search_terms(self, max_extra: int = 4) -> list[str]:
        """The canonical name, then up to ``max_extra`` other forms that add a word a search for the
        name would not contain ("Nagorno-Karabakh", "Artsakh", "Nagorny Karabakh", ...)."""
        out = [self.name]
        name = seen = _tokens(self.name)
        for form in self.aliases[1:]:
            if len(out) > max_extra:
                break
            t = _tokens(form)
            if t and not t <= seen and not name <= t:  # not "Republic of Kazakhstan" after "Kazakhstan"
                out.append(form)
                seen |= t
        return out

    def query(self, template: str, max_extra: int = 4) -> str:
        """A per-variable query template ("... in {subject} ...") filled with the canonical name,
        followed by the distinct alias forms it does not already contain."""
        q = template.format(subject=self.name)
        have = _tokens(q)
        extra = [t for t in self.search_terms(max_extra)[1:] if not _tokens(t) <= have]
        return " ".join([q, *extra])

    def mentioned_in(self, text: str, *, strict: bool = False) -> bool:
        """Whether ``text`` names the subject (any of its forms, or a place inside it); unless
        ``strict``, naming a place the question itself names as containing the subject counts too."""
        forms = self.aliases + self.inner + (() if strict else self.context)
        pattern = _pattern(forms, self.exact)
        return bool(pattern and pattern.search(fold(text)))


def expand_query(template: str, subject: Subject | None, fallback: str = "", *, max_extra: int = 4) -> str:
    """``template`` filled with the subject and its aliases, or with ``fallback`` (the question)."""
    if subject is None:
        return template.format(subject=fallback)
    return subject.query(template, max_extra)


@lru_cache(maxsize=256)
def _pattern(forms: tuple[str, ...], exact: tuple[str, ...]) -> re.Pattern[str] | None:
    return compile_forms(forms, exact)


def _tokens(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", fold(text))}


# --- reading a question -------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """What :func:`read_question` found: the actor, the subject and every name in the question."""

    question: str  # cleaned
    actor: str | None
    subject: Subject | None
    mentions: tuple[Mention, ...]
    agents: tuple[Mention, ...]


def _words(segment: str) -> list[str]:
    return [w.lower().strip("'") for w in _WORD.findall(fold(segment))]


def _eligible_as_clause_subject(q: str, ms: list[Mention], i: int) -> bool:
    """Whether mention ``i`` stands where the subject of a clause stands (not after a preposition)."""
    m = ms[i]
    prev_end = ms[i - 1].end + (2 if ms[i - 1].possessive else 0) if i else 0
    seg = q[prev_end : m.start]
    words = _words(seg)
    while words and words[-1] in _DETERMINERS:
        words.pop()
    if words:
        return words[-1] in _CLAUSE_START or (
            words[-1] == "of" and bool(_after_words(q, ms, i)[:1]) and _after_words(q, ms, i)[0].endswith("ing")
        )
    if i == 0:
        return True
    if ms[i - 1].possessive:  # "Putin's Russia", "Moscow's CSTO": the head of a possessive
        return True
    return bool(re.search(r"[,;:?!.(\"/]\s*(?:the\s+|a\s+|an\s+)?$", seg, re.I))


def _after_words(q: str, ms: list[Mention], i: int) -> list[str]:
    """The words after mention ``i`` up to the next mention (its "'s" dropped)."""
    m = ms[i]
    start = m.end + (2 if m.possessive else 0)
    stop = ms[i + 1].start if i + 1 < len(ms) else len(q)
    return _words(q[start:stop])


def _acts(q: str, ms: list[Mention], i: int, depth: int = 0) -> bool:
    """Whether an action verb follows mention ``i`` within a few words (through coordination:
    "Russia or the CSTO send...")."""
    words = _after_words(q, ms, i)
    for j, w in enumerate(words[:_ACTION_WINDOW]):
        if j == 0 and ms[i].possessive:  # "Azerbaijan's attack": the word after "'s" is a noun
            continue
        if _ACTION_VERB.match(w):
            return not (j and words[j - 1] in _PASSIVE)  # "Would Ukraine be invaded?": Ukraine does not act
    gap = q[ms[i].end + (2 if ms[i].possessive else 0) : ms[i + 1].start] if i + 1 < len(ms) else None
    if gap is not None and depth < 4:
        coord = all(w in _COORDINATION for w in words) and (words or re.fullmatch(r"[\s,/&]*", gap))
        possessive_head = ms[i].possessive and not words
        if coord or possessive_head:
            return _acts(q, ms, i + 1, depth + 1)
    return False


def _names_action(q: str, ms: list[Mention], i: int) -> bool:
    """"a Russian invasion", "Chinese troops", "Turkey's military intervention", "an invasion by China"."""
    m = ms[i]
    if m.actor is None:
        return False
    words = _after_words(q, ms, i)
    if words[:1] and _ACTION_NOUN.match(words[0]):
        # "Belarus attack Ukraine": after a bare name, "attack" is a verb; "Belarusian attack" a noun
        return not (m.form == "name" and not m.possessive and words[0] in _VERB_TOO)
    if words[:2] and words[0] in {"military", "armed", "ground", "air", "special"} and len(words) > 1 and _ACTION_NOUN.match(words[1]):
        return True
    prev_end = ms[i - 1].end if i else 0
    before = _words(q[prev_end : m.start])
    while before and before[-1] in _DETERMINERS:
        before.pop()
    return len(before) >= 2 and before[-1] == "by" and bool(_ACTION_NOUN.match(before[-2]) or _ACTION_VERB.match(before[-2]))


def _target_strength(q: str, ms: list[Mention], i: int) -> int:
    """How plainly mention ``i`` is what an action aims at: 2 after a verb that aims at a place or
    after an action and its preposition ("invade X", "send troops into X", "intervene in X",
    "invasion of X"), 1 after a preposition alone ("riots in X", "based in X"), else 0."""
    m = ms[i]
    prev_end = ms[i - 1].end + (2 if ms[i - 1].possessive else 0) if i else 0
    words = _words(q[prev_end : m.start])
    while words and (words[-1] in _DETERMINERS or words[-1] in _PLACE_ADJECTIVES):
        words.pop()
    if not words:
        # "into Moldova's Transnistria": the head of a possessive is aimed at as its owner is
        return _target_strength(q, ms, i - 1) if i > 0 and ms[i - 1].possessive else 0
    last = words[-1]
    if _TARGET_VERB.match(last) or _ACTION_VERB.match(last):
        return 1 if _past(last) else 2  # "invaded Ukraine [in 2022]" is history, "invade Moldova" the question
    if last not in _TARGET_WORDS:
        return 0
    before = [w for w in words[:-1] if not w.endswith("ly") and w not in _DETERMINERS]
    if before and (_ACTION_VERB.match(before[-1]) or _TARGET_VERB.match(before[-1]) or _ACTION_NOUN.match(before[-1])):
        return 1 if _past(before[-1]) else 2  # "stationed in X" says where, "send troops into X" where to
    return 1


def _past(word: str) -> bool:
    return word.endswith("ed") or word in {"sent", "struck", "fought", "based"}


def _name_like(q: str, ms: list[Mention], i: int) -> bool:
    m = ms[i]
    if m.form == "name":
        return True
    words = _after_words(q, ms, i)
    return bool(words[:1] and _TERRITORY.match(words[0]))


def read_question(
    question: str,
    *,
    gazetteer: Gazetteer | None = None,
    llm_extract: Callable[[str], str | None] | None = None,
) -> Reading:
    """The actor and subject of ``question`` (see the module docstring for the rules)."""
    g = gazetteer or load_gazetteer()
    q = clean_text(question)
    ms = g.mentions(q)

    clause_agents = [i for i in range(len(ms)) if ms[i].actor and _eligible_as_clause_subject(q, ms, i) and _acts(q, ms, i)]
    noun_agents = [i for i in range(len(ms)) if i not in clause_agents and _names_action(q, ms, i)]
    # precedence: a clause's subject (Russia first), then Russia in any role ("Will Azerbaijan's
    # attack draw in Russia?"), then another state's intervention named as a noun ("a Chinese invasion")
    russian = [i for i in range(len(ms)) if ms[i].actor == RUSSIA]
    actor_i: int | None = None
    if clause_agents:
        actor_i = next((i for i in clause_agents if i in russian), clause_agents[0])
    elif russian:
        actor_i = next((i for i in noun_agents if i in russian), None)
    elif noun_agents:
        actor_i = noun_agents[0]
    actor: str | None = ms[actor_i].actor if actor_i is not None else (RUSSIA if russian else None)
    agents = set(clause_agents) | set(noun_agents)

    candidates = [
        i for i, m in enumerate(ms)
        if m.place is not None
        and i not in agents
        and not (actor and (m.actor == actor or m.place.name == actor))
    ]
    subject = _choose(g, q, ms, candidates, actor_i)
    if llm_extract is not None:
        chosen = _from_llm(g, q, ms, candidates, actor, llm_extract)
        if chosen is not None:
            subject = chosen
    return Reading(q, actor, subject, tuple(ms), tuple(ms[i] for i in sorted(agents)))


def _choose(g: Gazetteer, q: str, ms: list[Mention], candidates: list[int], actor_i: int | None) -> Subject | None:
    if not candidates:
        return None

    def rank(i: int) -> tuple[bool, int, bool, int]:
        strength = _target_strength(q, ms, i)
        after_actor = strength > 0 and actor_i is not None and ms[i].start > ms[actor_i].start
        return (after_actor, strength, _name_like(q, ms, i), -ms[i].start)

    best = max(candidates, key=rank)
    return _subject(g, ms, candidates, _most_specific(g, ms, candidates, best))


def _most_specific(g: Gazetteer, ms: list[Mention], candidates: list[int], best: int) -> int:
    """A region named inside the chosen place wins over it; a country or region wins over one of its
    cities ("Transnistria" over "Moldova", "Kazakhstan" over "Almaty")."""
    place = ms[best].place
    assert place is not None
    if place.kind == "city":
        named = {ms[i].place.name: i for i in candidates if ms[i].place is not None}  # type: ignore[union-attr]
        for anc in g.ancestors(place):
            if anc.name in named:
                best, place = named[anc.name], anc
                break
    for _ in range(5):
        inner = [
            i for i in candidates
            if ms[i].place is not None and ms[i].place.kind == "region"  # type: ignore[union-attr]
            and ms[i].place.name != place.name and g.contains(place, ms[i].place)  # type: ignore[union-attr, arg-type]
            and ms[i].place.name not in place.parts  # type: ignore[union-attr]
        ]
        if not inner:
            break
        best = inner[0]
        place = ms[best].place
    return best


def _subject(g: Gazetteer, ms: list[Mention], candidates: list[int], i: int, *, place: Place | None = None) -> Subject:
    p = place or ms[i].place
    assert p is not None
    aliases = g.forms(p)
    others = [ms[j].place for j in candidates if ms[j].place is not None and ms[j].place.name != p.name]  # type: ignore[union-attr]
    also = tuple(dict.fromkeys(o.name for o in others if o is not None))
    context: list[str] = []
    for o in others:
        if o is not None and g.contains(o, p):
            context.extend(f for f in (*o.names, *o.demonyms) if f not in aliases)
    ctx = tuple(dict.fromkeys(context))
    inner = tuple(n for n in g.inner_names(p) if n not in aliases)
    return Subject(
        name=p.name,
        aliases=aliases,
        place=p.kind,
        country=p.country,
        matched_text=ms[i].text,
        also=also,
        inner=inner,
        context=ctx,
        exact=g.exact_forms(aliases + inner + ctx),
    )


def _from_llm(
    g: Gazetteer, q: str, ms: list[Mention], candidates: list[int], actor: str | None,
    llm_extract: Callable[[str], str | None],
) -> Subject | None:
    """The model's subject, when it names a gazetteer place related to one the question names."""
    try:
        answer = llm_extract(q)
    except Exception as exc:  # the list-based answer stands; a model failure is not the user's problem
        log.warning("subject extraction by the model failed, using the list: %s", exc)
        return None
    if not answer or not answer.strip():
        return None
    answer = clean_text(answer).strip(" .\"'`*")
    place = g.get(answer)
    if place is None:
        found = [m.place for m in g.mentions(answer) if m.place is not None]
        place = found[0] if found else None
    if place is None or place.name == actor:
        log.info("the model's subject %r is not a place in the gazetteer; using the list", answer[:80])
        return None
    for i in candidates:
        named = ms[i].place
        assert named is not None
        if named.name == place.name or g.contains(named, place) or g.contains(place, named):
            return _subject(g, ms, candidates, i, place=place)
    log.info("the model's subject %r is not named in the question; using the list", place.name)
    return None


def extract_subject(
    question: str,
    *,
    gazetteer: Gazetteer | None = None,
    llm_extract: Callable[[str], str | None] | None = None,
) -> Subject | None:
    """The place ``question`` is about, or None when it names none the gazetteer knows."""
    return read_question(question, gazetteer=gazetteer, llm_extract=llm_extract).subject


def extract_actor(question: str, *, gazetteer: Gazetteer | None = None) -> str | None:
    """Who the question asks to intervene: "Russia" (also for Moscow, the Kremlin, Putin, the
    CSTO), another state or alliance ("China", "United States", "NATO"), or None when none is named."""
    return read_question(question, gazetteer=gazetteer).actor
