"""Turning files and URLs into clean, dated, chunked documents (adapters: trafilatura, pypdf, httpx)."""
