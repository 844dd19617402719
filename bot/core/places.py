"""A gazetteer of place names and the actors that may intervene, and a matcher that finds them in text.

The names live in ``prompts/places.yaml`` (countries of the former Soviet space, their contested and
breakaway regions, the regions and cities crises centre on, and other states a question may name,
each with its aliases, spellings and demonyms). This module only reads that file and matches names:

* case- and accent-insensitively ("chisinau" finds Chișinău), except the few forms listed under
  ``exact`` ("US", "CAR", "DPR"), which are words in lower case;
* as whole words, longest form first, so "Nagorno-Karabakh" is one name and never "Karabakh" plus
  noise, and "South Ossetia" is not "Ossetia"; a hyphen in a name also matches a space;
* with the possessive "'s" noted, not swallowed into the name ("Ukraine's" is Ukraine).

Pure: no I/O except reading the YAML file once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from bot.corpus.cleaning import ESCAPE_SEQUENCES
from bot.errors import ConfigError

Kind = Literal["country", "region", "city"]
Form = Literal["name", "demonym", "actor"]
KINDS: tuple[Kind, ...] = ("country", "region", "city")

_QUOTES = dict.fromkeys(map(ord, "\u2018\u2019\u02bc\u0060\u00b4\u2032"), "'")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2212"), "-")
# letters NFKD does not decompose, as transliterations write them ("Naxçıvan", "Xankəndi", "Suwałki")
_LETTERS = str.maketrans({"ı": "i", "ə": "e", "Ə": "E", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D"})
_PLAIN = {**_QUOTES, **_DASHES, **_LETTERS}


def clean_text(text: str) -> str:
    """The text without terminal escape sequences, control characters (each becomes a space) and
    invisible format characters (zero-width spaces, soft hyphens: removed), whitespace collapsed."""
    text = ESCAPE_SEQUENCES.sub(" ", text or "")  # the ingest's pattern: one definition of an escape
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            out.append(" ")
        elif cat != "Cf":
            out.append(ch)
    return " ".join("".join(out).split())


def fold_char(ch: str) -> str:
    """One character without its accents, with typographic quotes and dashes made plain ASCII."""
    ch = ch.translate(_PLAIN)
    if ch.isascii():
        return ch
    return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))


def fold(text: str) -> str:
    """``text`` with accents removed and quotes and dashes made plain ("Chișinău" -> "Chisinau")."""
    text = text.translate(_PLAIN)
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def norm_form(form: str) -> str:
    """A form folded, with hyphens and runs of spaces between its words made one space."""
    return " ".join(w for w in re.split(r"[\s\-]+", fold(form)) if w)


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text and, for every folded character, the index of the original character."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        f = fold_char(ch)
        out.append(f)
        where.extend([i] * len(f))
    where.append(len(text))
    return "".join(out), where


def _form_regex(form: str) -> str:
    """A regex for one (folded) form: spaces and hyphens between its words match either."""
    parts = re.split(r"[\s\-]+", form.strip())
    return r"[\s\-]+".join(re.escape(p) for p in parts if p)


def compile_forms(forms: Iterable[str], exact: Iterable[str] = ()) -> re.Pattern[str] | None:
    """One pattern matching any of ``forms`` as whole words (longest first), case-insensitively
    unless the form is in ``exact``. Matches are on :func:`fold`-ed text. None for no forms."""
    exact_set = {norm_form(e) for e in exact}
    alts: list[tuple[int, str]] = []
    for f in dict.fromkeys(norm_form(f) for f in forms if f and f.strip()):
        rx = _form_regex(f)
        alts.append((len(f), rx if f in exact_set else f"(?i:{rx})"))
    if not alts:
        return None
    alts.sort(key=lambda a: -a[0])
    return re.compile(r"(?<![\w])(?:" + "|".join(a for _, a in alts) + r")(?![\w])")


@dataclass(frozen=True)
class Place:
    name: str
    kind: Kind
    country: str | None  # the country that contains it (itself for a country; None for a multi-country area)
    within: str | None = None  # the next larger place, when that is not the country
    aliases: tuple[str, ...] = ()
    demonyms: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def parent(self) -> str | None:
        """The next larger place: ``within``, else the country (None for a country or an area)."""
        if self.within:
            return self.within
        return self.country if self.country != self.name else None


@dataclass(frozen=True)
class Mention:
    """One name found in a text. ``start``/``end`` index the cleaned text; ``end`` excludes "'s"."""

    start: int
    end: int
    text: str
    form: Form
    place: Place | None  # the place this form names (None for an actor-only form: "Kremlin", "NATO")
    actor: str | None  # the actor this form can stand for (a country's names, "Kremlin" -> Russia)
    possessive: bool = False


@dataclass(frozen=True)
class _Entry:
    form: Form
    place: Place | None
    actor: str | None


@dataclass
class Gazetteer:
    places: dict[str, Place]
    actors: dict[str, tuple[str, ...]]  # actor name -> its extra forms (capitals, leaders, institutions)
    exact: frozenset[str] = frozenset()
    _index: dict[tuple[str, bool], _Entry] = field(default_factory=dict, repr=False)
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, bool], _Entry] = {}
        owner: dict[tuple[str, bool], str] = {}

        def key(form: str) -> tuple[str, bool]:
            f = norm_form(form)
            return (f, True) if f in self.exact else (f.lower(), False)

        def add(form: str, entry: _Entry, who: str) -> None:
            k = key(form)
            old = index.get(k)
            if old is None:
                index[k] = entry
                owner[k] = who
            elif old.place is not None and entry.place is not None and old.place.name != entry.place.name:
                raise ConfigError(f"places: {form!r} names both {owner[k]} and {who}")
            else:  # a place name that is also an actor form ("Moscow": a city, and Russia acting)
                index[k] = _Entry(
                    old.form if old.place is not None else entry.form,
                    old.place or entry.place,
                    old.actor or entry.actor,
                )

        for p in self.places.values():
            actor = p.name if p.kind == "country" else None
            for n in p.names:
                add(n, _Entry("name", p, actor), p.name)
            for d in p.demonyms:
                for v in _demonym_forms(d):
                    add(v, _Entry("demonym", p, actor), p.name)
        for actor, extra in self.actors.items():
            for f in (actor, *extra):
                add(f, _Entry("actor", None, actor), f"actor {actor}")
        self._index = index
        forms = [f for f, _ in index]
        self._pattern = compile_forms(forms, [f for f, ex in index if ex])

    # -- look-ups ---------------------------------------------------------------------------------
    def get(self, name: str) -> Place | None:
        """The place whose canonical name, alias or demonym is exactly ``name`` (case-insensitive)."""
        if name in self.places:
            return self.places[name]
        e = self._lookup(name.strip())
        return e.place if e else None

    def _lookup(self, form: str) -> _Entry | None:
        n = norm_form(form)
        return self._index.get((n, True)) or self._index.get((n.lower(), False))

    def actor_for(self, form: str) -> str | None:
        e = self._lookup(form.strip())
        return e.actor if e else None

    def ancestors(self, place: Place) -> list[Place]:
        """The places that contain ``place``, nearest first (Tiraspol: Transnistria, Moldova)."""
        out: list[Place] = []
        seen = {place.name}
        cur = place.parent
        while cur and cur not in seen and cur in self.places:
            seen.add(cur)
            out.append(self.places[cur])
            cur = self.places[cur].parent
        return out

    def contains(self, outer: Place, inner: Place) -> bool:
        return any(a.name == outer.name for a in self.ancestors(inner)) or inner.name in outer.parts

    def forms(self, place: Place, *, with_parts: bool = True) -> tuple[str, ...]:
        """Every form that names ``place``: names, demonyms, then (for an area) its parts' names."""
        out = [*place.names, *place.demonyms]
        if with_parts:
            for name in place.parts:
                part = self.places.get(name)
                if part:
                    out.extend(part.names)
        return tuple(dict.fromkeys(out))

    def inner_names(self, place: Place) -> tuple[str, ...]:
        """The names of the places inside ``place``: every one for a region or an area, the cities
        for a country (its regions are subjects of their own: Crimea is not "Ukraine")."""
        out: list[str] = []
        for p in self.places.values():
            if p.name != place.name and self.contains(place, p) and (place.kind != "country" or p.kind == "city"):
                out.extend(p.names)
        return tuple(dict.fromkeys(out))

    def exact_forms(self, forms: Iterable[str]) -> tuple[str, ...]:
        return tuple(f for f in forms if norm_form(f) in self.exact)

    # -- matching ---------------------------------------------------------------------------------
    def mentions(self, text: str) -> list[Mention]:
        """Every name in ``text`` (already :func:`clean_text`-ed), in order, non-overlapping."""
        if self._pattern is None or not text:
            return []
        folded, where = _fold_with_map(text)
        out: list[Mention] = []
        for m in self._pattern.finditer(folded):
            e = self._lookup(m.group(0))
            if e is None:  # cannot happen: every alternative came from the index
                continue
            end = m.end()
            possessive = folded[end : end + 2].lower() == "'s" and not folded[end + 2 : end + 3].isalnum()
            s, t = where[m.start()], where[end]
            out.append(Mention(s, t, text[s:t], e.form, e.place, e.actor, possessive))
        return out


def _demonym_forms(d: str) -> tuple[str, ...]:
    """"Kazakh" -> ("Kazakh", "Kazakhs"); no plural for forms ending in s, sh, ch, z, x or -ese."""
    if re.search(r"(?:s|sh|ch|z|x|ese|ish|[ ])$", d) or " " in d:
        return (d,)
    return (d, d + "s")


def _tuple(v: object, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
        raise ConfigError(f"places: {where} must be a list of names")
    return tuple(x.strip() for x in v)


def parse_gazetteer(data: object, source: str = "places.yaml") -> Gazetteer:
    """Build a :class:`Gazetteer` from the parsed YAML; a malformed entry is a ConfigError."""
    if not isinstance(data, dict) or not isinstance(data.get("places"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'places' list")
    exact = frozenset(norm_form(x) for x in _tuple(data.get("exact"), "exact"))

    def distinct(forms: Iterable[str], but: str) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for f in forms:
            n = norm_form(f)
            seen.setdefault(n if n in exact else n.lower(), f)
        seen.pop(norm_form(but).lower(), None)
        return tuple(seen.values())

    places: dict[str, Place] = {}
    for i, raw in enumerate(data["places"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise ConfigError(f"{source}: place #{i + 1} has no name")
        name = raw["name"].strip()
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{source}: {name}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if name in places:
            raise ConfigError(f"{source}: {name} is listed twice")
        places[name] = Place(
            name=name,
            kind=kind,
            country=raw.get("country") or (name if kind == "country" else None),
            within=raw.get("within"),
            aliases=distinct(_tuple(raw.get("aliases"), f"{name}: aliases"), name),
            demonyms=_tuple(raw.get("demonyms"), f"{name}: demonyms"),
            parts=_tuple(raw.get("parts"), f"{name}: parts"),
        )
    for p in places.values():
        for ref, what in ((p.country, "country"), (p.within, "within"), *((x, "parts") for x in p.parts)):
            if ref and ref not in places:
                raise ConfigError(f"{source}: {p.name}: {what} {ref!r} is not in the gazetteer")
    actors: dict[str, tuple[str, ...]] = {}
    for i, raw in enumerate(data.get("actors") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ConfigError(f"{source}: actor #{i + 1} has no name")
        name = raw["name"].strip()
        actors[name] = actors.get(name, ()) + _tuple(raw.get("aliases"), f"actor {name}: aliases")
    return Gazetteer(places, actors, exact)


@lru_cache(maxsize=8)
def load_gazetteer(path: Path | None = None) -> Gazetteer:
    """The gazetteer in ``path`` (default: the packaged ``prompts/places.yaml``, the checkout's or
    the copy inside an installed wheel), read once."""
    if path is None:
        from bot.config import packaged_dir

        path = packaged_dir("prompts") / "places.yaml"
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"The gazetteer {path} is missing.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"The gazetteer {path} is not valid YAML: {exc}") from exc
    return parse_gazetteer(data, str(path))
