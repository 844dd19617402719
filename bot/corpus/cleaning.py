"""Remove what a pasted web page carries besides its article.

General rules, not strings from one page:

* blocks repeated verbatim (a lead paragraph pasted twice, an image caption shown twice) are kept
  once; a block that is a prefix of the next one (a caption and its longer credited form) is dropped;
* image captions and photo credits (a short block ending in a wire-agency credit) are dropped;
* a byline block ("By ...") is dropped;
* the author's bio ("Jane Doe is a senior analyst at ...") ends the article: the bio and everything
  after it (comment prompts, subscription offers, teasers of other articles) are dropped;
* failing a bio, a trailing run of site furniture (a block matching a small list of generic
  subscription/comment/related-content phrases, in the last part of the page) is cut.
"""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
# Terminal escape sequences, removed whole so that no "[2J" or "]8;;http://..." is left behind:
# OSC (links, window titles, clipboard writes) up to BEL or ST, and DCS/SOS/PM/APC strings up to
# ST (bounded, and only when terminated: a stray ESC never swallows the rest of a document); CSI
# (cursor moves, screen clears, colours; also its one-byte C1 form); other two-byte escapes. What
# is left of a broken sequence loses its control characters below.
ESCAPE_SEQUENCES = re.compile(
    r"\x1b\][^\x07\x1b]{0,4096}(?:\x07|\x1b\\)"
    r"|\x1b[PX^_][^\x1b]{0,4096}\x1b\\"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (newline and tab kept;
    carriage returns become newlines). Applied to documents, their metadata and questions at
    ingest, and to data again at terminal output: text stays text."""
    if text.isprintable():
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", ESCAPE_SEQUENCES.sub("", text))


_CREDIT = re.compile(
    r"(getty images|afp|reuters|associated press|\bap photo\b|/ap\b|epa|shutterstock|anadolu|"
    r"sputnik|tass|photo by|photograph:|image credit|via getty)\W*$"
    # "(AP Photo/Jane Doe)", "Photo: Jane Doe/Reuters", "Image credit: ..." at the end of a caption
    r"|\((?:ap|afp|reuters|epa|xinhua)\s+photos?\s*/[^)]{1,80}\)\W*$"
    r"|\b(?:photo|photograph|image|picture)(?:\s+credit)?\s*:\s*[^.]{1,80}$",
    re.I,
)
_BYLINE = re.compile(r"^by\s+[^.]{0,120}$|^by\s*,", re.I)
# "<Name Name> is a/an/the <role> ..." or "<Name> previously served ..." within a short block
_BIO = re.compile(r"^([A-Z][\w'\-.]+(?:\s+[A-Z][\w'\-.]+){1,3})\s+(?:is|was|serves as)\s+(?:a|an|the)\s+[^.]{3,160}\b(?:at|of|for|with)\b", re.U)
_FURNITURE = re.compile(
    r"^(join the conversation|already a subscriber|subscribe|sign up|sign in|log in|not your account|"
    r"more from|related articles?|read more|recommended|most popular|you are commenting as|comments?\b|"
    r"please follow our comment guidelines|share this|advertisement|newsletter)",
    re.I,
)


def normalise(text: str) -> str:
    """Canonical form used to compare blocks (case, spacing and quote styles ignored)."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return _WS.sub(" ", text).strip().lower()


def _is_caption(block: str) -> bool:
    words = block.split()
    return len(words) <= 60 and bool(_CREDIT.search(block.strip()))


def clean_blocks(blocks: list[str], *, title: str | None = None) -> list[str]:
    """Return the article's own blocks, in order, each once."""
    blocks = [_WS.sub(" ", b).strip() for b in blocks]
    blocks = [b for b in blocks if b]

    # 1. the bio ends the article: cut from it on (only once half the words have gone by, and
    #    only when it is short: a long paragraph that happens to start "X is a ..." is content).
    words = [len(b.split()) for b in blocks]
    total = sum(words) or 1
    before = 0
    cut = None
    for i, block in enumerate(blocks):
        if i >= 3 and before >= 0.5 * total and words[i] <= 90 and _BIO.match(block):
            cut = i
            break
        before += words[i]
    if cut is None:
        # 2. otherwise cut at site furniture once most of the text has gone by.
        before = 0
        for i, block in enumerate(blocks):
            if i >= 3 and before >= 0.6 * total and words[i] <= 25 and _FURNITURE.match(block):
                cut = i
                break
            before += words[i]
    if cut is not None:
        blocks = blocks[:cut]

    out: list[str] = []
    seen: set[str] = set()
    norm_title = normalise(title) if title else None
    for i, block in enumerate(blocks):
        key = normalise(block)
        if key in seen or key == norm_title:
            continue
        stem = key.rstrip(".")
        if len(key.split()) <= 60 and any(
            len(later) > len(key) and later.startswith(stem)
            for later in (normalise(b) for b in blocks[i + 1 : i + 4])
        ):
            continue  # a caption followed by its longer, credited form
        if _is_caption(block) or _BYLINE.match(block):
            continue
        seen.add(key)
        out.append(block)
    return out


def split_blocks(text: str) -> list[str]:
    """Blocks of a plain or Markdown text.

    Paragraphs are separated by blank lines. Inside a paragraph, lines are joined, unless the
    paragraph's lines look like separate blocks (web-page paste: each line a full sentence or a
    caption), in which case each line is its own block.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paras = re.split(r"\n\s*\n", text)
    blocks: list[str] = []
    for para in paras:
        lines = [ln.strip() for ln in para.split("\n") if ln.strip()]
        if not lines:
            continue
        if len(lines) > 1 and all(re.search(r"[.!?\"')\]]$|images$", ln, re.I) for ln in lines[:-1]) or len(lines) > 1 and len({normalise(ln) for ln in lines}) < len(lines):
            blocks.extend(lines)
        else:
            blocks.append(" ".join(lines))
    return blocks
