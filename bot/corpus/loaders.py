"""Load files and URLs into :class:`Document` records.

Markdown and text (optional YAML front matter: title, date, source, url, tags, id), HTML (main text
by trafilatura), PDF (pypdf). Every failure is a :class:`BadInput` with a one-line reason so that
the rest of a batch goes on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from bot.corpus.cleaning import clean_blocks, split_blocks
from bot.corpus.document import Document, slugify
from bot.errors import BadInput

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_FULL_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2})\b|\b(\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{4})\b|"
    r"\b((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}, \d{4})\b"
)


def iter_paths(paths: list[Path]) -> Iterator[Path]:
    """Files under each path (recursively for folders), skipping hidden files, in a stable order."""
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts):
                    if f.name.lower() in {"readme.md", "license", "license.md"}:
                        continue
                    yield f
        else:
            yield p


def parse_date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%B %d, %Y", "%b %d, %Y", "%b. %d, %Y", "%d %b. %Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _date_in_text(blocks: list[str]) -> dt.date | None:
    """A full date (with year) near the top of the article, if one is written there."""
    for block in blocks[:4]:
        m = _FULL_DATE.search(block)
        if m:
            return parse_date(next(g for g in m.groups() if g))
    return None


def _tags(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [t for t in re.split(r"[,;]", value)]
    return sorted({str(t).strip().lower() for t in value if str(t).strip()})  # type: ignore[union-attr]


def document_from_text(text: str, *, origin: str, default_id: str, meta: dict | None = None) -> Document:
    """Front matter (if any) + body -> cleaned Document."""
    meta = dict(meta or {})
    m = _FRONT.match(text)
    if m:
        try:
            front = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise BadInput(f"{origin}: front matter is not valid YAML ({str(exc).splitlines()[0]})") from exc
        if not isinstance(front, dict):
            raise BadInput(f"{origin}: front matter must be a mapping of fields")
        meta = {**front, **{k: v for k, v in meta.items() if v}}
        text = text[m.end() :]
    blocks = [_MD_HEADING.sub("", b) for b in split_blocks(text)]
    title = str(meta.get("title") or "").strip()
    if not title:
        if not blocks:
            raise BadInput(f"{origin}: the file has no text")
        title = blocks[0][:200]
        blocks = blocks[1:]
    paragraphs = clean_blocks(blocks, title=title)
    if not paragraphs:
        raise BadInput(f"{origin}: no article text left after cleaning")
    date = parse_date(meta.get("date"))
    warnings: list[str] = []
    if meta.get("date") and date is None:
        warnings.append(f"unreadable date {meta.get('date')!r}")
    if date is None:
        date = _date_in_text(blocks)
    if date is None:
        warnings.append("no date: it is left out of every as-of search (set one with --date or front matter)")
    url = meta.get("url") or None
    doc_id = str(meta.get("id") or default_id)
    return Document(
        id=doc_id,
        title=title,
        paragraphs=paragraphs,
        date=date,
        source=str(meta.get("source") or "").strip(),
        url=str(url).strip() if url else None,
        tags=_tags(meta.get("tags")),
        origin=origin,
        warnings=warnings,
        explicit_id=bool(meta.get("id")),
    )


def _html_to_text(html: str | bytes, origin: str) -> tuple[str, dict]:
    import trafilatura

    extracted = trafilatura.bare_extraction(html, include_comments=False, include_tables=False, with_metadata=True)
    if extracted is None or not getattr(extracted, "text", None):
        raise BadInput(f"{origin}: no article text found in the HTML")
    meta = {
        "title": getattr(extracted, "title", None),
        "date": getattr(extracted, "date", None),
        "source": getattr(extracted, "sitename", None) or getattr(extracted, "hostname", None),
        "url": getattr(extracted, "url", None),
    }
    # trafilatura separates paragraphs with single newlines
    return "\n\n".join(ln for ln in extracted.text.split("\n") if ln.strip()), meta


def _pdf_to_text(path: Path) -> tuple[str, dict]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, OSError, ValueError, KeyError) as exc:
        raise BadInput(f"{path.name}: not a readable PDF ({type(exc).__name__})") from exc
    text = "\n\n".join(pages)
    # PDF text is hard-wrapped: a paragraph ends where a line ends a sentence and the next starts anew
    text = re.sub(r"(?<![.!?:])\n(?!\n)", " ", text)
    if not text.strip():
        raise BadInput(f"{path.name}: the PDF has no extractable text (scanned image?)")
    title = getattr(info, "title", None) if info else None
    return text, {"title": title}


def load_file(path: Path, *, max_bytes: int, meta: dict | None = None) -> Document:
    name = path.name
    if not path.exists():
        raise BadInput(f"{name}: no such file")
    if not path.is_file():
        raise BadInput(f"{name}: not a regular file")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise BadInput(f"{name}: unknown kind of file ({suffix or 'no extension'}); use .md, .txt, .html or .pdf")
    try:
        size = path.stat().st_size
        if size == 0:
            raise BadInput(f"{name}: the file is empty")
        if size > max_bytes:
            raise BadInput(f"{name}: too large ({size:,} bytes; the limit is {max_bytes:,})")
        raw = path.read_bytes()
    except PermissionError as exc:
        raise BadInput(f"{name}: cannot be read (permission denied)") from exc
    except OSError as exc:
        raise BadInput(f"{name}: cannot be read ({exc.strerror or type(exc).__name__})") from exc
    default_id = slugify(path.stem, 80)
    if suffix in PDF_SUFFIXES:
        if not raw.startswith(b"%PDF"):
            raise BadInput(f"{name}: not a PDF file")
        text, found = _pdf_to_text(path)
        return document_from_text(text, origin=str(path), default_id=default_id, meta={**found, **(meta or {})})
    if b"\x00" in raw[:8192]:
        raise BadInput(f"{name}: binary content, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise BadInput(f"{name}: not UTF-8 text") from exc
    if not text.strip():
        raise BadInput(f"{name}: the file is empty")
    if suffix in HTML_SUFFIXES:
        body, found = _html_to_text(text, name)
        return document_from_text(body, origin=str(path), default_id=default_id, meta={**found, **(meta or {})})
    return document_from_text(text, origin=str(path), default_id=default_id, meta=meta)


def load_bytes(name: str, data: bytes, *, max_bytes: int, meta: dict | None = None) -> Document:
    """Load an upload (a Discord attachment) by writing it to a temporary file of the same name."""
    import tempfile

    safe = Path(name).name or "upload.txt"
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / safe
        p.write_bytes(data)
        doc = load_file(p, max_bytes=max_bytes, meta=meta)
    doc.origin = f"upload:{safe}"
    return doc
