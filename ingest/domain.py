"""Typed domain objects that flow through the ingestion pipeline.

Parsers produce a `ParsedDocument`; metadata resolution produces a `DocumentMeta`; chunking turns both into
`Chunk`s whose payload carries the full provenance of DESIGN.md; the store returns `ScoredChunk`s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class DocType(StrEnum):
    POSITION_PAPER = "position_paper"
    RECOMMENDATION = "recommendation"
    LEGAL_OPINION = "legal_opinion"
    ORG_REPORT = "org_report"
    MINUTES = "minutes"
    LAW = "law"
    OTHER = "other"


class Visibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    GROUP = "group"
    CONFIDENTIAL = "confidential"


class DocStatus(StrEnum):
    DRAFT = "draft"
    ADOPTED = "adopted"
    SUPERSEDED = "superseded"


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"


@dataclass(frozen=True)
class Block:
    """A heading or a paragraph of a parsed document, located by character offsets in `ParsedDocument.text`.

    `section_path` is the chain of headings the block sits under (for a heading: including itself).
    `level` is the heading level (1 = top) for headings, 0 for paragraphs.
    """

    kind: BlockKind
    text: str
    char_start: int
    char_end: int
    section_path: tuple[str, ...] = ()
    level: int = 0


@dataclass(frozen=True)
class PageSpan:
    """Page `number` (1-based) covers `text[char_start:char_end]` of the parsed document."""

    number: int
    char_start: int
    char_end: int


@dataclass(frozen=True)
class ParsedDocument:
    """The extracted text of one file, split into blocks, with page spans for paged formats (PDF).

    Invariant: for every block, `text[block.char_start:block.char_end] == block.text`.
    `metadata` holds what the file itself declares (PDF info, DOCX core properties, Markdown front matter).
    `warnings` holds what the parsing library complained about while reading this file (e.g. pypdf's
    "EOF marker not found"), so it reaches the file's outcome instead of the console log.
    """

    source_path: str
    format: str
    text: str
    blocks: tuple[Block, ...]
    pages: tuple[PageSpan, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def page_at(self, offset: int) -> int | None:
        """1-based page number that contains character `offset`, or None for unpaged formats."""
        if not self.pages:
            return None
        for span in self.pages:
            if span.char_start <= offset < span.char_end:
                return span.number
        return self.pages[-1].number if offset >= self.pages[-1].char_end else self.pages[0].number


@dataclass(frozen=True)
class DocumentMeta:
    """Resolved metadata of one document revision. `inferred` names the fields that were guessed from content."""

    doc_id: str
    revision: str
    title: str
    source_path: str
    doc_type: DocType = DocType.OTHER
    working_group: str = "allgemein"
    visibility: Visibility = Visibility.INTERNAL
    date: str | None = None
    status: DocStatus | None = None
    version: str | None = None
    supersedes: str | None = None
    inferred: frozenset[str] = frozenset()


CHUNK_NAMESPACE = uuid.UUID("6f1c3a52-3f0e-4d55-9a57-4b1f0f7f6a10")


def chunk_point_id(doc_id: str, revision: str, ordinal: int) -> str:
    """Deterministic point id: the same document revision always yields the same ids."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{doc_id}\x1f{revision}\x1f{ordinal}"))


@dataclass(frozen=True)
class Chunk:
    """One retrievable passage with full provenance. `char_start`/`char_end` index the document's extracted text."""

    doc_id: str
    revision: str
    ordinal: int
    text: str
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    section_path: tuple[str, ...]
    meta: DocumentMeta
    chunk_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        return chunk_point_id(self.doc_id, self.revision, self.ordinal)

    def payload(self, *, is_current: bool = True) -> dict[str, Any]:
        """The Qdrant payload: the provenance contract of DESIGN.md, flat and filterable."""
        m = self.meta
        payload: dict[str, Any] = {
            "doc_id": self.doc_id,
            "revision": self.revision,
            "ordinal": self.ordinal,
            "chunk_count": self.chunk_count,
            "text": self.text,
            "title": m.title,
            "source_path": m.source_path,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "section_path": list(self.section_path),
            "char_start": self.char_start,
            "char_end": self.char_end,
            "doc_type": m.doc_type.value,
            "working_group": m.working_group,
            "visibility": m.visibility.value,
            "date": m.date,
            "status": m.status.value if m.status else None,
            "version": m.version,
            "supersedes": m.supersedes,
            "inferred": sorted(m.inferred),
            "is_current": is_current,
        }
        payload.update(self.extra)
        return payload


@dataclass(frozen=True)
class ScoredChunk:
    """A search hit: the stored payload plus the score of the ranking that produced it."""

    point_id: str
    score: float
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def doc_id(self) -> str:
        return str(self.payload.get("doc_id", ""))


ALL_VISIBILITIES: frozenset[str] = frozenset(v.value for v in Visibility)


@dataclass(frozen=True)
class AccessScope:
    """What a caller may read. Every store query takes one and turns it into a Qdrant filter.

    A chunk is readable when its visibility is in `visibilities` and either it is public or its working group
    is in `working_groups`. `working_groups=None` means every group (the embedded single-user default).
    """

    working_groups: frozenset[str] | None
    visibilities: frozenset[str] = ALL_VISIBILITIES

    @classmethod
    def everything(cls) -> AccessScope:
        return cls(working_groups=None, visibilities=ALL_VISIBILITIES)

    @classmethod
    def for_groups(cls, groups: Iterable[str], visibilities: Iterable[str] | None = None) -> AccessScope:
        vis = frozenset(visibilities) if visibilities is not None else ALL_VISIBILITIES
        return cls(working_groups=frozenset(groups), visibilities=vis)
