"""Chroma server mode with every wait bounded.

chromadb's ``HttpClient`` makes its httpx session with ``timeout=None`` and calls the server while
it is being built (tenant and database checks): a server that accepts connections and never
answers holds every command for ever. So, before the client is built, one heartbeat with a
timeout says whether the server answers at all; after it is built, its session gets the same
timeout for every later call (a search, a write), whose failure the store reports as
``StoreUnavailable``.
"""

from __future__ import annotations

import logging

import httpx

from bot.config import Settings
from bot.errors import StoreUnavailable

log = logging.getLogger(__name__)


def server_url(settings: Settings) -> str:
    scheme = "https" if settings.chroma_ssl else "http"
    return f"{scheme}://{settings.chroma_host}:{settings.chroma_port}"


def check_server(settings: Settings) -> None:
    """Raise StoreUnavailable unless the Chroma server answers its heartbeat within the timeout."""
    where = f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    timeout = settings.chroma_timeout_s
    try:
        resp = httpx.get(f"{server_url(settings)}/api/v2/heartbeat", timeout=timeout)
    except httpx.TimeoutException as exc:
        raise StoreUnavailable(f"{where} did not answer within {timeout:g} s.") from exc
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"Cannot reach {where} ({type(exc).__name__}: {str(exc)[:120]}).") from exc
    if resp.status_code >= 400:
        raise StoreUnavailable(f"{where} answered HTTP {resp.status_code} to its heartbeat.")


def bound_client(client: object, timeout_s: float) -> None:
    """Give a built ``chromadb.HttpClient`` a timeout on every request.

    chromadb offers no setting for it (1.x); its server API object keeps the httpx session as
    ``_session``. Where a chromadb version changes that, this logs and leaves the client as it is.
    """
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout_s)
    else:
        log.warning("cannot bound this chromadb client's requests (no httpx session found)")
