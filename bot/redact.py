"""Secrets out of logs: known secret values, URL user-info and credential headers become ``***``.

Two ways in:

* :func:`redact` / :func:`redact_url` for text built on purpose (an LLM error's detail);
* :func:`install` puts a log-record factory in place (once per process) that redacts every log
  record's message, arguments and traceback text before any handler sees it, so a library's
  exception that echoes an ``Authorization`` header cannot reach a log file either.

Secrets are registered with :func:`remember` (the settings' API key and tokens, at start). Text
shown to users never carries detail in the first place (see :mod:`bot.llm.common`); this is the
second line for what goes to the operator.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_MIN_SECRET = 4  # shorter values would mask ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False

# user:password@ in any URL-looking text
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^/@\s'\"<>]+)@")
# "Authorization: Bearer x", "'x-api-key': 'x'", "api_key=x", "token": "x" ...
_HEADER = re.compile(
    r"(?P<name>authorization|proxy-authorization|x-api-key|api[-_]?key|access[-_]?token|token|password|secret)"
    r"(?P<sep>['\"]?\s*[:=]\s*['\"]?)"
    r"(?P<value>(?:(?:bearer|basic|token)\s+)?[^\s'\",;}&]+)",
    re.I,
)
# well-known key shapes, even when nobody registered them
_KEY_SHAPES = re.compile(r"\b(?:sk-(?:ant-)?[A-Za-z0-9_\-]{8,}|xox[abp]-[A-Za-z0-9\-]{8,}|gh[pousr]_[A-Za-z0-9]{16,})")
_SECRET_QUERY = re.compile(r"(?i)^(?:key|api[-_]?key|token|access[-_]?token|password|secret|sig|signature)$")


def remember(*values: str | None) -> None:
    """Register secret values (API keys, tokens, passwords) to mask wherever they appear."""
    with _lock:
        for v in values:
            if v and len(v.strip()) >= _MIN_SECRET:
                _secrets.add(v.strip())


def forget_all() -> None:
    """Drop every registered secret (tests)."""
    with _lock:
        _secrets.clear()


def redact_url(url: str | None) -> str:
    """``url`` with its user-info and secret-looking query values masked (``http://***@host/v1``)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{k}={MASK}" if _SECRET_QUERY.match(k) else (f"{k}={v}" if sep else k)
        for k, sep, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def redact(text: object, extra: Iterable[str | None] = ()) -> str:
    """``text`` with registered secrets, ``extra`` values, URL user-info and credential headers masked."""
    out = str(text)
    with _lock:
        secrets = sorted(_secrets | {e.strip() for e in extra if e and len(e.strip()) >= _MIN_SECRET}, key=len)
    for s in reversed(secrets):  # longest first, so a key containing another is masked whole
        out = out.replace(s, MASK)
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", out)
    out = _HEADER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", out)
    return _KEY_SHAPES.sub(MASK, out)


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what there is
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return _redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
