"""Load files and URLs into :class:`Document` records.

Markdown and text (optional YAML front matter: title, date, source, url, tags, id), HTML (main text
by trafilatura), PDF (pypdf). Every failure is a :class:`BadInput` with a one-line reason so that
the rest of a batch goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bot.corpus.cleaning import clean_blocks, split_blocks, strip_controls
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


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, except that dates stay text: ``date: 2022-13-45`` is then a reason from
    :func:`parse_date` instead of a ValueError from inside the YAML library."""


# types-PyYAML binds the constructor's loader type to the class add_constructor is called on, so a
# SafeConstructor method on a SafeLoader subclass does not fit its TypeVar, although YAML accepts it
_FrontMatterLoader.add_constructor(  # type: ignore[type-var]
    "tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str
)

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_YEAR = re.compile(r"\b\d{4}\b")


def parse_date(value: object) -> dt.date | None:
    """A publication date from metadata, or None when there is none.

    ISO dates (with or without a time) are read exactly; other written forms ("7 January 2022",
    "Jan. 7, 2022") by dateparser, English, strictly: a day, a month and a year must all be
    written, and a relative phrase ("yesterday") is not a date. Raises ValueError with a reason
    for anything else, so that a date is never invented from a month or a year alone.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or isinstance(value, bool):
        raise ValueError("not a date (write it as YYYY-MM-DD)")
    text = value.strip()
    m = _ISO.match(text)
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as exc:  # "month must be in 1..12", "day is out of range for month"
            raise ValueError(f"not a real date ({exc})") from exc
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    if not _YEAR.search(text):
        raise ValueError("not a date with a year (write it as YYYY-MM-DD)")
    import dateparser

    found = dateparser.parse(
        text, languages=["en"], settings={"STRICT_PARSING": True, "REQUIRE_PARTS": ["day", "month", "year"]}
    )
    if found is not None:
        return found.date()
    if dateparser.parse(text, languages=["en"], settings={"REQUIRE_PARTS": ["year"]}) is not None:
        raise ValueError("only a month or a year, no day (write the full date as YYYY-MM-DD)")
    raise ValueError("not a date (write it as YYYY-MM-DD)")


def _date_in_text(blocks: list[str]) -> dt.date | None:
    """A full date (with day, month and year) near the top of the article, if one is written there."""
    for block in blocks[:4]:
        for m in _FULL_DATE.finditer(block):
            try:
                found = parse_date(next(g for g in m.groups() if g))
            except ValueError:
                continue
            if found is not None:
                return found
    return None


def _scalar(meta: dict, key: str, origin: str) -> str:
    """A front-matter field that must be one piece of text (a number is taken as its digits)."""
    value = meta.get(key)
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple | set):
        raise BadInput(f"{origin}: front matter {key} must be text, not a {type(value).__name__}")
    return strip_controls(str(value)).strip()


def _tags(value: object, origin: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: list[object] = list(re.split(r"[,;]", value))
    elif isinstance(value, list | tuple) and all(isinstance(t, str | int | float) for t in value):
        items = list(value)
    else:
        raise BadInput(f"{origin}: front matter tags must be a list or comma-separated text, not {value!r}"[:300])
    return sorted({strip_controls(str(t)).strip().lower() for t in items if str(t).strip()})


def _url(value: str, origin: str) -> str | None:
    if not value:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        raise BadInput(f"{origin}: url {value!r} is not a valid link ({exc})") from exc
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise BadInput(f"{origin}: url {value!r} is not an http(s) link with a host")
    return value


def document_from_text(
    text: str, *, origin: str, default_id: str, meta: dict | None = None, warnings: list[str] | None = None
) -> Document:
    """Front matter (if any) + body -> cleaned Document. Bad metadata is a BadInput with a reason."""
    meta = dict(meta or {})
    warnings = list(warnings or [])
    text = strip_controls(text)
    m = _FRONT.match(text)
    if m:
        try:
            front = yaml.load(m.group(1), Loader=_FrontMatterLoader) or {}  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as exc:
            raise BadInput(f"{origin}: front matter is not valid YAML ({str(exc).splitlines()[0]})") from exc
        if not isinstance(front, dict):
            raise BadInput(f"{origin}: front matter must be a mapping of fields")
        meta = {**front, **{k: v for k, v in meta.items() if v}}
        text = text[m.end() :]
    blocks = [_MD_HEADING.sub("", b) for b in split_blocks(text)]
    title = _scalar(meta, "title", origin)
    title_to_drop: str | None = title
    if not title:
        if not blocks:
            raise BadInput(f"{origin}: the file has no text")
        title = blocks[0][:200]
        if len(blocks) > 1:
            blocks = blocks[1:]
        else:
            title_to_drop = None  # a one-line file: its line is its title and its body
    paragraphs = clean_blocks(blocks, title=title_to_drop)
    if not paragraphs:
        raise BadInput(f"{origin}: no article text left after cleaning")
    raw_date = meta.get("date")
    try:
        date = parse_date(raw_date)
    except ValueError as exc:
        shown = strip_controls(str(raw_date))[:40]
        raise BadInput(f"{origin}: date {shown!r} is {exc}") from exc
    if date is None:
        date = _date_in_text(blocks)
    if date is None:
        warnings.append("no date: it is left out of every as-of search (set one with --date or front matter)")
    elif date > dt.date.today() + dt.timedelta(days=1):  # a day's grace for time zones
        warnings.append(f"dated {date.isoformat()}, in the future: check the date")
    doc_id = _scalar(meta, "id", origin) or default_id
    return Document(
        id=doc_id,
        title=title,
        paragraphs=paragraphs,
        date=date,
        source=_scalar(meta, "source", origin),
        url=_url(_scalar(meta, "url", origin), origin),
        tags=_tags(meta.get("tags"), origin),
        origin=origin,
        warnings=warnings,
        explicit_id=bool(meta.get("id")),
    )


_NUMERIC_DATE = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")


def _day_is_written(html: str, day: dt.date) -> bool:
    """Whether ``day`` is written in full (day, month and year) anywhere in a page: its text, meta
    tags, JSON-LD or links, in a numeric form (2022-09-13, /2022/09/13/) or in words
    ("13 September 2022"). Only candidates of the right year are parsed."""
    for m in _NUMERIC_DATE.finditer(html):
        if (int(m[1]), int(m[2]), int(m[3])) == (day.year, day.month, day.day):
            return True
    year = str(day.year)
    for m in _FULL_DATE.finditer(html):
        if year in m.group(0):
            with contextlib.suppress(ValueError):
                if parse_date(next(g for g in m.groups() if g)) == day:
                    return True
    return False


def _valid_url_or_none(value: object) -> str | None:
    """An extracted (not declared) link: kept when it is a valid http(s) URL, else dropped."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _url(value, "")
    except BadInput:
        return None


def _html_to_text(html: str, origin: str) -> tuple[str, dict, list[str]]:
    """Main text, metadata and warnings of an HTML page.

    The page's date is trafilatura's (htmldate), kept only when that day is written on the page: a
    page that says only "September 2022" gets a first-of-month or first-of-year date from the
    extractor, and an invented day would put the document in or out of an as-of search by chance.
    Such a date is left out, with a warning.
    """
    import trafilatura

    extracted = trafilatura.bare_extraction(html, include_comments=False, include_tables=False, with_metadata=True)
    body = getattr(extracted, "text", None)
    if extracted is None or not body:
        raise BadInput(f"{origin}: no article text found in the HTML")
    warnings: list[str] = []
    date = getattr(extracted, "date", None)
    if date:
        try:
            day = parse_date(str(date))
        except ValueError:
            day = None
        if day is None or not _day_is_written(html, day):
            warnings.append(
                f"the page gives no full date (only a month or a year; the extractor guessed {date}): "
                "left undated, set one with --date"
            )
            date = None
    meta = {
        "title": getattr(extracted, "title", None),
        "date": date,
        "source": getattr(extracted, "sitename", None) or getattr(extracted, "hostname", None),
        "url": _valid_url_or_none(getattr(extracted, "url", None)),
    }
    # trafilatura separates paragraphs with single newlines
    return "\n\n".join(ln for ln in body.split("\n") if ln.strip()), meta, warnings


def _pdf_to_text(path: Path) -> tuple[str, dict]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
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
        body, found, warnings = _html_to_text(text, name)
        if meta and meta.get("date"):
            warnings = []  # the only warnings are about the page's date, and one was given
        return document_from_text(
            body, origin=str(path), default_id=default_id, meta={**found, **(meta or {})}, warnings=warnings
        )
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
