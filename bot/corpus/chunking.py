"""Split a document into passages sized for all-MiniLM-L6-v2 (256 word pieces at most).

A passage is one paragraph when it fits in ``chunk_tokens`` word pieces, so that a citation can
name the paragraph ("¶5"). Short consecutive paragraphs are packed together up to the same size;
a paragraph longer than that is split by langchain's ``RecursiveCharacterTextSplitter`` at
sentence boundaries, measured in the model's own word pieces, with ``chunk_overlap_tokens`` of
overlap. Every chunk keeps its paragraph range.
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from bot.corpus.document import Chunk, Document

SMALL_PARAGRAPH_TOKENS = 48


def chunk_document(
    doc: Document, *, count_tokens: Callable[[str], int], chunk_tokens: int = 200, overlap_tokens: int = 30
) -> list[Chunk]:
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=min(overlap_tokens, chunk_tokens // 2),
        length_function=count_tokens,
        separators=["\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
    )
    version = doc.content_hash[:12]
    pieces: list[tuple[str, int, int]] = []
    pending: list[str] = []
    pending_start = 0
    pending_tokens = 0

    def flush() -> None:
        nonlocal pending, pending_tokens
        if pending:
            pieces.append((" ".join(pending), pending_start, pending_start + len(pending) - 1))
        pending, pending_tokens = [], 0

    for number, paragraph in enumerate(doc.paragraphs, start=1):
        tokens = count_tokens(paragraph)
        if tokens > chunk_tokens:
            flush()
            for part in splitter.split_text(paragraph):
                pieces.append((part.strip(), number, number))
            continue
        if pending and (pending_tokens + tokens > chunk_tokens or pending_tokens >= SMALL_PARAGRAPH_TOKENS):
            flush()
        if not pending:
            pending_start = number
        pending.append(paragraph)
        pending_tokens += tokens
        if pending_tokens >= SMALL_PARAGRAPH_TOKENS:
            flush()
    flush()
    return [
        Chunk(id=f"{doc.id}:{version}:{i:04d}", doc_id=doc.id, text=text, paragraph_start=a, paragraph_end=b, position=i)
        for i, (text, a, b) in enumerate(pieces)
        if text
    ]
