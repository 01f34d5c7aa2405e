"""Typed domain objects that flow through the ingestion pipeline.

Parsers produce a `ParsedDocument`; metadata resolution produces a `DocumentMeta`; chunking turns both into
`Chunk`s that carry the full provenance of DESIGN.md (stored as the payload `ingest.store` defines); the store
returns `ScoredChunk`s.
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
    `ocr_pages` holds the numbers of the pages whose text comes from OCR (scanned pages without a text layer).
    """

    source_path: str
    format: str
    text: str
    blocks: tuple[Block, ...]
    pages: tuple[PageSpan, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    ocr_pages: tuple[int, ...] = ()

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
    # Never wider than the owner group by default: `internal` or `public` must be asked for.
    visibility: Visibility = Visibility.GROUP
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


@dataclass(frozen=True)
class ScoredChunk:
    """A search hit: the stored payload plus the score of the ranking that produced it. The payload is read
    through `ingest.store.StoredChunk` (typed), not by key."""

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

    A chunk is readable when
    - `read_all` is set (a global admin, or the embedded single-user default), or
    - its visibility is `public` (everyone signed in), or
    - it is `internal` and the caller is a member of at least one working group, or
    - it is `group` and its working group is in `member_of`, or
    - it is `confidential` and its working group is in `editor_of` (editors and admins of that group).

    `editor_of` is a subset of `member_of`. The service derives scopes from a principal in one place
    (`service.principal.read_scope`); nothing else builds them except tools that own the store outright.
    """

    member_of: frozenset[str] = frozenset()
    editor_of: frozenset[str] = frozenset()
    read_all: bool = False

    @classmethod
    def everything(cls) -> AccessScope:
        return cls(read_all=True)

    @classmethod
    def public_only(cls) -> AccessScope:
        """A signed-in caller without any membership."""
        return cls()

    @classmethod
    def for_groups(cls, groups: Iterable[str], *, editor_of: Iterable[str] = ()) -> AccessScope:
        """Reader of `groups`, editor (or group admin) of `editor_of`."""
        editors = frozenset(editor_of)
        return cls(member_of=frozenset(groups) | editors, editor_of=editors)

    def may_read(self, working_group: str, visibility: str) -> bool:
        """The same rule as the store filter, for one document (used by tests and by write checks)."""
        if self.read_all or visibility == Visibility.PUBLIC:
            return True
        if visibility == Visibility.INTERNAL:
            return bool(self.member_of)
        if visibility == Visibility.GROUP:
            return working_group in self.member_of
        if visibility == Visibility.CONFIDENTIAL:
            return working_group in self.editor_of
        return False
