"""Chunking: pure functions from a parsed document to chunks with full provenance.

Rules:
- a chunk never spans two documents and never crosses a heading (so never two agenda items or two §§);
  a section that is only a heading is merged into the section that follows it;
- inside a section, paragraphs are packed up to `target_tokens`; a paragraph above `max_tokens` is split at
  sentence boundaries, a sentence above `max_tokens` at whitespace;
- consecutive chunks of one section overlap by about `overlap_tokens`;
- a chunk's text is always the exact slice `text[char_start:char_end]` of the document's extracted text, so
  provenance (page, characters) is exact by construction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ingest.config import ChunkingSettings
from ingest.domain import Block, BlockKind, Chunk, DocumentMeta, ParsedDocument

_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-ZÄÖÜ„\"(\[•\-–])")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class _Unit:
    """An indivisible span for packing: a paragraph, a sentence or a hard-split piece."""

    start: int
    end: int


@dataclass(frozen=True)
class _Section:
    path: tuple[str, ...]
    units: tuple[_Unit, ...]


def chunk_document(parsed: ParsedDocument, meta: DocumentMeta, settings: ChunkingSettings) -> list[Chunk]:
    """Split one parsed document into chunks carrying `meta` and exact provenance."""
    spans: list[tuple[tuple[str, ...], int, int]] = []
    for section in _sections(parsed.blocks, parsed.text, settings):
        spans.extend((section.path, start, end) for start, end in _pack(section.units, parsed.text, settings))
    chunks = [
        Chunk(
            doc_id=meta.doc_id,
            revision=meta.revision,
            ordinal=ordinal,
            text=parsed.text[start:end],
            char_start=start,
            char_end=end,
            page_start=parsed.page_at(start),
            page_end=parsed.page_at(end - 1),
            section_path=path,
            meta=meta,
        )
        for ordinal, (path, start, end) in enumerate(spans)
    ]
    return [replace(chunk, chunk_count=len(chunks)) for chunk in chunks]


def embedding_text(chunk: Chunk) -> str:
    """What is embedded and BM25-indexed: the chunk with its title and section path as context."""
    return with_context(chunk.meta.title, chunk.section_path, chunk.text)


def with_context(title: str | None, section_path: Sequence[str], text: str) -> str:
    """`embedding_text` from its parts (e.g. a stored payload's title, section path and text)."""
    context = " > ".join(part for part in (title, *section_path) if part)
    return f"{context}\n{text}" if context else text


def _sections(blocks: tuple[Block, ...], text: str, settings: ChunkingSettings) -> list[_Section]:
    """Group blocks under their heading; heading-only sections are merged forward."""
    sections: list[_Section] = []
    pending_headings: list[_Unit] = []
    current_path: tuple[str, ...] = ()
    current_units: list[_Unit] = []

    def close() -> None:
        if current_units:
            sections.append(_Section(current_path, tuple(current_units)))

    for block in blocks:
        if not block.text.strip():
            continue
        if block.kind is BlockKind.HEADING:
            if current_units:
                close()
                current_units = []
            pending_headings.append(_Unit(block.char_start, block.char_end))
            current_path = block.section_path
            continue
        if pending_headings:
            current_units.append(_Unit(pending_headings[0].start, pending_headings[-1].end))
            pending_headings = []
        current_path = block.section_path or current_path
        current_units.extend(_split_block(block, text, settings))
    if pending_headings:
        current_units.append(_Unit(pending_headings[0].start, pending_headings[-1].end))
    close()
    return sections


def _split_block(block: Block, text: str, settings: ChunkingSettings) -> list[_Unit]:
    max_chars = int(settings.max_tokens * settings.chars_per_token)
    if block.char_end - block.char_start <= max_chars:
        return [_Unit(block.char_start, block.char_end)]
    units: list[_Unit] = []
    start = block.char_start
    for match in _SENTENCE_END.finditer(text, block.char_start, block.char_end):
        units.extend(_hard_split(start, match.start(), text, max_chars))
        start = match.end()
    units.extend(_hard_split(start, block.char_end, text, max_chars))
    return units


def _hard_split(start: int, end: int, text: str, max_chars: int) -> list[_Unit]:
    """Split an over-long sentence at whitespace so that no piece exceeds `max_chars`."""
    pieces: list[_Unit] = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        pieces.append(_Unit(start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append(_Unit(start, end))
    return pieces


def _pack(units: tuple[_Unit, ...], text: str, settings: ChunkingSettings) -> list[tuple[int, int]]:
    """Greedy packing of units into spans near the target size, with tail overlap between spans."""
    target = settings.target_tokens * settings.chars_per_token
    maximum = settings.max_tokens * settings.chars_per_token
    overlap = settings.overlap_tokens * settings.chars_per_token
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units):
            size = units[j + 1].end - units[i].start
            if size > maximum or (units[j].end - units[i].start >= target):
                break
            j += 1
        spans.append((units[i].start, units[j].end))
        if j + 1 >= len(units):
            break
        # Start the next span with the last units of this one, up to `overlap` characters,
        # but always advance by at least one unit.
        k = j
        while k > i + 1 and units[j].end - units[k - 1].start <= overlap:
            k -= 1
        i = k if (k > i and units[j].end - units[k].start <= overlap) else j + 1
    return spans
