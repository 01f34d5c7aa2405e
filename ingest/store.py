"""The vector store: one protocol, two implementations with the same payload schema and filter semantics.

- `EdgeStore`: Qdrant Edge in process (embedded default). It locks its directory: one owner at a time.
- `ServerStore`: a Qdrant server or cluster through qdrant-client (scale-out); with `location=":memory:"` or a
  path it runs qdrant-client's local mode, which is how the shared contract suite exercises it here.

Every point carries one dense vector (`dense`) and one BM25 sparse vector (`bm25`, German stemming, IDF applied
by Qdrant). Every read takes an `AccessScope` and turns it into a filter; there is no unscoped read (the one read
by id, `with_payloads`, fetches the payloads of hits that a scoped query has just returned). Hybrid search fuses
the dense and BM25 candidate lists with our weighted RRF (`fuse_rrf`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ingest.compounds import with_compound_parts
from ingest.config import StoreSettings
from ingest.domain import AccessScope, Chunk, ScoredChunk, Visibility
from ingest.errors import ConfigurationError, StoreError, StoreLocked

log = logging.getLogger(__name__)

DENSE = "dense"
SPARSE = "bm25"

KEYWORD_FIELDS = ("doc_id", "revision", "working_group", "doc_type", "visibility", "status", "legal_refs")
# Flags are stored as 0/1 integers: Qdrant Edge's Python binding does not match booleans (0.9.0).
INTEGER_FIELDS = ("ordinal", "date_num", "is_current", "has_decisions")


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


@dataclass(frozen=True)
class SearchFilters:
    """Optional narrowing of a query. By default only the current revision of each document is searched."""

    doc_types: frozenset[str] = frozenset()
    working_groups: frozenset[str] = frozenset()
    visibilities: frozenset[str] = frozenset()
    doc_ids: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    legal_refs: frozenset[str] = frozenset()
    date_from: str | None = None
    date_to: str | None = None
    revision: str | None = None
    revisions: frozenset[str] = frozenset()
    as_of: str | None = None  # resolved to `revisions` by the retriever; stores ignore it
    include_history: bool = False
    only_heads: bool = False
    has_decisions: bool = False


@dataclass(frozen=True)
class StoreQuery:
    dense: npt.NDArray[np.float32] | None
    text: str
    mode: SearchMode = SearchMode.HYBRID
    limit: int = 10
    candidates: int = 40
    filters: SearchFilters = field(default_factory=SearchFilters)
    rrf_k: int = 60
    bm25_weight: float = 1.0  # weight of the BM25 ranking in the fusion; the dense ranking weighs 1
    # Exact (brute-force) dense search instead of the HNSW graph: for verifying a copy, where two stores'
    # approximate graphs may legitimately differ; slow on large stores, never used for users' queries.
    exact: bool = False


class Store(Protocol):
    name: str

    def upsert(
        self, chunks: Sequence[Chunk], dense: npt.NDArray[np.float32], sparse_texts: Sequence[str]
    ) -> None:
        """Write chunks with their vectors. Idempotent: ids are deterministic."""

    def search(self, queries: Sequence[StoreQuery], scope: AccessScope) -> list[list[ScoredChunk]]:
        """Run several queries in one batch, each restricted to `scope`."""

    def scroll(
        self, scope: AccessScope, filters: SearchFilters, *, limit: int | None = None
    ) -> list[ScoredChunk]:
        """All points matching scope and filters, in id order (score 0)."""

    def count(self, scope: AccessScope, filters: SearchFilters | None = None) -> int: ...

    def retire_other_revisions(self, doc_id: str, current_revision: str) -> None:
        """Mark every other revision of `doc_id` as not current (kept for `revision`/history queries)."""

    def delete_document(self, doc_id: str) -> int:
        """Delete every revision of a document. Returns the number of points removed."""

    def delete_revision(self, doc_id: str, revision: str) -> int: ...

    def optimize(self) -> None: ...

    def close(self) -> None: ...


# Equal scores (RRF's mirrored rank pairs, BM25 ties): Qdrant breaks such ties by internal segment order, which
# changes when segments are optimised. Fetch a few more, order ties by point id, then cut: reproducible runs.
TIE_MARGIN = 4


def ranked(hits: list[ScoredChunk], limit: int) -> list[ScoredChunk]:
    return sorted(hits, key=lambda h: (-round(h.score, 6), h.point_id))[:limit]


def fuse_rrf(
    rankings: Sequence[tuple[Sequence[ScoredChunk], float]], k: int, limit: int
) -> list[ScoredChunk]:
    """Weighted reciprocal rank fusion: score(p) = Σ weight / (k + rank(p)), rank counted from 0 in each ranking
    (each ranking already ordered best first). The fused score replaces the retrievers' scores.

    Done here rather than with Qdrant's `Fusion.Rrf(weights=…)`, which scales the rank instead
    (1 / ((rank + 1) / weight + k - 1)): a weight there cannot change which of two first-ranked passages wins.
    Both give the same order with equal weights."""
    scores: dict[str, float] = {}
    first_seen: dict[str, ScoredChunk] = {}
    for hits, weight in rankings:
        for rank, hit in enumerate(hits):
            scores[hit.point_id] = scores.get(hit.point_id, 0.0) + weight / (k + rank)
            first_seen.setdefault(hit.point_id, hit)
    fused = [ScoredChunk(pid, score, first_seen[pid].payload) for pid, score in scores.items()]
    return ranked(fused, limit)


def finish_query(q: StoreQuery, results: Sequence[list[ScoredChunk]]) -> list[ScoredChunk]:
    """Turn the raw result lists of one query's requests (see `requests_per_query`) into its ranked hits."""
    if q.mode is SearchMode.HYBRID:
        dense, bm25 = (ranked(hits, q.candidates) for hits in results)
        return fuse_rrf([(dense, 1.0), (bm25, q.bm25_weight)], q.rrf_k, q.limit)
    return ranked(results[0], q.limit)


def requests_per_query(q: StoreQuery) -> int:
    """Hybrid queries are two requests (dense and BM25 candidates), fused by `finish_query`."""
    return 2 if q.mode is SearchMode.HYBRID else 1


def _split(flat: Sequence[list[ScoredChunk]], queries: Sequence[StoreQuery]) -> list[list[ScoredChunk]]:
    out: list[list[ScoredChunk]] = []
    at = 0
    for q in queries:
        n = requests_per_query(q)
        out.append(finish_query(q, flat[at : at + n]))
        at += n
    return out


def with_payloads(
    results: list[list[ScoredChunk]], fetch: Callable[[list[str]], dict[str, dict[str, Any]]]
) -> list[list[ScoredChunk]]:
    """Fill in the payloads of fused hits, fetched once for all of them.

    Hybrid candidates are requested without payloads (2 × 44 payloads per query cost more than the search itself:
    bench/RESULTS.md section f); only the few fused winners need theirs. A hit whose point vanished in between
    (a concurrent delete) is dropped."""
    missing = sorted({h.point_id for hits in results for h in hits if not h.payload})
    if not missing:
        return results
    payloads = fetch(missing)
    return [
        [
            h if h.payload else ScoredChunk(h.point_id, h.score, payloads[h.point_id])
            for h in hits
            if h.payload or h.point_id in payloads
        ]
        for hits in results
    ]


def date_number(date: str | None) -> int | None:
    """`2025-09-18` → 20250918, for integer range filters that behave the same in every backend."""
    if not date or len(date) < 10:
        return None
    try:
        return int(date[:4] + date[5:7] + date[8:10])
    except ValueError:
        return None


# -- the payload schema -------------------------------------------------------------------------------------
# Every point's payload is flat (filterable keys at the top level). It is written by `chunk_payload` and read
# back only through `StoredChunk.from_payload`; nothing else reads payload dicts by key.


@dataclass(frozen=True)
class Provenance:
    """Where a passage comes from (the provenance contract of DESIGN.md): what every hit, source and citation
    carries. `char_start`/`char_end` index the document's extracted text; `source_path` is relative to the
    ingested folder (or the file or upload name), never a server path."""

    doc_id: str
    revision: str
    title: str
    source_path: str | None
    page_start: int | None
    page_end: int | None
    section_path: tuple[str, ...]
    char_start: int
    char_end: int
    doc_type: str
    working_group: str
    visibility: str
    date: str | None
    # The passage's text comes (in part) from OCR of a scanned page: shown with the citation, may hold misreadings.
    ocr: bool = False

    @classmethod
    def of(cls, chunk: Chunk) -> Provenance:
        m = chunk.meta
        return cls(
            doc_id=chunk.doc_id,
            revision=chunk.revision,
            title=m.title,
            source_path=m.source_path,
            page_start=chunk.page_start,
            page_end=chunk.page_end,
            section_path=tuple(chunk.section_path),
            char_start=chunk.char_start,
            char_end=chunk.char_end,
            doc_type=m.doc_type.value,
            working_group=m.working_group,
            visibility=m.visibility.value,
            date=m.date,
            ocr=bool(chunk.extra.get("ocr")),
        )

    def to_payload(self) -> dict[str, Any]:
        payload = dataclasses.asdict(self)
        payload["section_path"] = list(self.section_path)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Provenance:
        doc_id = _text(payload, "doc_id")
        return cls(
            doc_id=doc_id,
            revision=_text(payload, "revision"),
            # An empty title shows the document id, as everywhere a passage is labelled.
            title=_text(payload, "title") or doc_id,
            source_path=_optional_text(payload, "source_path"),
            page_start=_optional_int(payload, "page_start"),
            page_end=_optional_int(payload, "page_end"),
            section_path=_texts(payload, "section_path"),
            char_start=_optional_int(payload, "char_start") or 0,
            char_end=_optional_int(payload, "char_end") or 0,
            doc_type=_text(payload, "doc_type"),
            working_group=_text(payload, "working_group"),
            visibility=_text(payload, "visibility"),
            date=_optional_text(payload, "date"),
            ocr=payload.get("ocr") in (True, 1),
        )


@dataclass(frozen=True)
class DecisionRecord:
    """A decision (Beschluss) recorded in minutes, stored with the chunk that contains its start."""

    agenda_item: str | None
    text: str
    vote: str | None
    page: int | None
    char_start: int | None = None
    char_end: int | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DecisionRecord:
        return cls(
            agenda_item=_optional_text(payload, "agenda_item"),
            text=_text(payload, "text"),
            vote=_optional_text(payload, "vote"),
            page=_optional_int(payload, "page"),
            char_start=_optional_int(payload, "char_start"),
            char_end=_optional_int(payload, "char_end"),
        )


@dataclass(frozen=True)
class ActionItemRecord:
    """An action item (who does what by when) recorded in minutes."""

    agenda_item: str | None
    who: str | None
    what: str
    due: str | None
    page: int | None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ActionItemRecord:
        return cls(
            agenda_item=_optional_text(payload, "agenda_item"),
            who=_optional_text(payload, "who"),
            what=_text(payload, "what"),
            due=_optional_text(payload, "due"),
            page=_optional_int(payload, "page"),
        )


@dataclass(frozen=True)
class StoredChunk:
    """One point's payload, typed: the passage, its provenance and what ingestion recorded about it.

    Document-level fields (`status`, `inferred`, `page_count`, `attendees`, …) are read from the head chunk
    (ordinal 0) of a revision, which the document list uses as the manifest."""

    provenance: Provenance
    text: str
    ordinal: int
    chunk_count: int
    is_current: bool
    status: str | None
    version: str | None
    supersedes: str | None
    inferred: tuple[str, ...]
    ingested_at: str | None
    legal_refs: tuple[str, ...]
    agenda_item: str | None
    decisions: tuple[DecisionRecord, ...]
    action_items: tuple[ActionItemRecord, ...]
    attendees: tuple[str, ...]
    page_count: int | None

    @classmethod
    def of(cls, hit: ScoredChunk) -> StoredChunk:
        return cls.from_payload(hit.payload)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> StoredChunk:
        return cls(
            provenance=Provenance.from_payload(payload),
            text=_text(payload, "text"),
            ordinal=_optional_int(payload, "ordinal") or 0,
            chunk_count=_optional_int(payload, "chunk_count") or 0,
            is_current=bool(payload.get("is_current", True)),
            status=_optional_text(payload, "status"),
            version=_optional_text(payload, "version"),
            supersedes=_optional_text(payload, "supersedes"),
            inferred=_texts(payload, "inferred"),
            ingested_at=_optional_text(payload, "ingested_at"),
            legal_refs=_texts(payload, "legal_refs"),
            agenda_item=_optional_text(payload, "agenda_item"),
            decisions=tuple(DecisionRecord.from_payload(d) for d in _mappings(payload, "decisions")),
            action_items=tuple(ActionItemRecord.from_payload(a) for a in _mappings(payload, "action_items")),
            attendees=_texts(payload, "attendees"),
            page_count=_optional_int(payload, "page_count"),
        )


def chunk_payload(chunk: Chunk) -> dict[str, Any]:
    """The payload a chunk is stored with: its provenance, the passage, the document's metadata, the pipeline's
    per-chunk extras (legal refs, agenda item, minutes records) and the derived keys filters use."""
    m = chunk.meta
    payload = Provenance.of(chunk).to_payload()
    payload.update(
        {
            "ordinal": chunk.ordinal,
            "chunk_count": chunk.chunk_count,
            "text": chunk.text,
            "status": m.status.value if m.status else None,
            "version": m.version,
            "supersedes": m.supersedes,
            "inferred": sorted(m.inferred),
        }
    )
    payload.update({key: _plain(value) for key, value in chunk.extra.items()})
    # Flags are stored as 0/1 integers (see INTEGER_FIELDS); dates also as a number for range filters.
    payload["is_current"] = 1
    payload["date_num"] = date_number(m.date)
    payload["has_decisions"] = int(bool(payload.get("decisions")))
    return payload


def _plain(value: Any) -> Any:
    """Records (frozen dataclasses) and tuples as JSON-like payload values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _text(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    return "" if value is None else str(value)


def _optional_text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return None if value is None else str(value)


def _optional_int(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _texts(payload: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = payload.get(key)
    return tuple(str(item) for item in value) if isinstance(value, list | tuple) else ()


def _mappings(payload: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = payload.get(key)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list | tuple) else []


# A backend-neutral filter tree, translated once per backend.
@dataclass(frozen=True)
class _Match:
    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class _Range:
    key: str
    gte: int | None
    lte: int | None


@dataclass(frozen=True)
class _AnyOf:
    """At least one of the conditions holds (Qdrant `should`)."""

    conditions: tuple[_Condition, ...]


@dataclass(frozen=True)
class _AllOf:
    """Every condition holds (Qdrant `must`); nests inside `_AnyOf`."""

    conditions: tuple[_Condition, ...]


_Condition = _Match | _Range | _AnyOf | _AllOf


def scope_conditions(scope: AccessScope) -> list[_Condition]:
    """The access rule of `AccessScope` as one OR inside the query filter (never applied after retrieval)."""
    if scope.read_all:
        return []
    branches: list[_Condition] = [_Match("visibility", (Visibility.PUBLIC.value,))]
    if scope.member_of:
        branches.append(_Match("visibility", (Visibility.INTERNAL.value,)))
        branches.append(
            _AllOf(
                (
                    _Match("visibility", (Visibility.GROUP.value,)),
                    _Match("working_group", tuple(sorted(scope.member_of))),
                )
            )
        )
    if scope.editor_of:
        branches.append(
            _AllOf(
                (
                    _Match("visibility", (Visibility.CONFIDENTIAL.value,)),
                    _Match("working_group", tuple(sorted(scope.editor_of))),
                )
            )
        )
    return [_AnyOf(tuple(branches))]


def filter_conditions(filters: SearchFilters) -> list[_Condition]:
    conditions: list[_Condition] = []
    for key, values in (
        ("doc_type", filters.doc_types),
        ("working_group", filters.working_groups),
        ("visibility", filters.visibilities),
        ("doc_id", filters.doc_ids),
        ("status", filters.statuses),
        ("legal_refs", filters.legal_refs),
    ):
        if values:
            conditions.append(_Match(key, tuple(sorted(values))))
    if filters.date_from or filters.date_to:
        conditions.append(_Range("date_num", date_number(filters.date_from), date_number(filters.date_to)))
    if filters.revision:
        conditions.append(_Match("revision", (filters.revision,)))
    elif filters.revisions:
        conditions.append(_Match("revision", tuple(sorted(filters.revisions))))
    elif not filters.include_history:
        conditions.append(_Match("is_current", (1,)))
    if filters.only_heads:
        conditions.append(_Match("ordinal", (0,)))
    if filters.has_decisions:
        conditions.append(_Match("has_decisions", (1,)))
    return conditions


class EdgeStore:
    """Qdrant Edge in process. Opening a directory another process owns raises `StoreLocked`."""

    name = "edge"

    def __init__(
        self, path: str, dim: int, *, bm25_language: str = "german", bm25_compounds: str = "off"
    ) -> None:
        import os

        import qdrant_edge as qe

        self._qe = qe
        self._bm25 = Bm25Encoder(bm25_language, compounds=bm25_compounds)
        self.path = path
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        try:
            if os.path.isdir(path) and os.listdir(path):
                self._shard = qe.EdgeShard.load(path)
            else:
                os.makedirs(path, exist_ok=True)
                self._shard = qe.EdgeShard.create(path, config)
        except Exception as exc:
            if "WouldBlock" in str(exc) or "lock" in str(exc).lower():
                raise StoreLocked(
                    "the store is in use by another process (is `kb serve` running? then ingest through it)",
                    path=path,
                ) from exc
            raise StoreError(f"cannot open Qdrant Edge store: {exc}", path=path) from exc
        self._ensure_indexes()

    def _ensure_indexes(self) -> None:
        qe = self._qe
        existing = set(self._shard.info().payload_schema)
        wanted = [(f, qe.PayloadSchemaType.Keyword) for f in KEYWORD_FIELDS]
        wanted += [(f, qe.PayloadSchemaType.Integer) for f in INTEGER_FIELDS]
        for name, schema in wanted:
            if name not in existing:
                self._shard.update(qe.UpdateOperation.create_field_index(name, schema))

    # -- writing -------------------------------------------------------------------------------------------
    def upsert(
        self, chunks: Sequence[Chunk], dense: npt.NDArray[np.float32], sparse_texts: Sequence[str]
    ) -> None:
        qe = self._qe
        points = [
            qe.Point(
                chunk.point_id,
                {DENSE: dense[i].tolist(), SPARSE: self._bm25.embed_document(sparse_texts[i])},
                chunk_payload(chunk),
            )
            for i, chunk in enumerate(chunks)
        ]
        if points:
            self._shard.update(qe.UpdateOperation.upsert_points(points))

    def retire_other_revisions(self, doc_id: str, current_revision: str) -> None:
        qe = self._qe
        flt = qe.Filter(
            must=[qe.FieldCondition(key="doc_id", match=qe.MatchValue(doc_id))],
            must_not=[qe.FieldCondition(key="revision", match=qe.MatchValue(current_revision))],
        )
        self._shard.update(qe.UpdateOperation.set_payload_by_filter(flt, {"is_current": 0}))

    def delete_document(self, doc_id: str) -> int:
        flt = self._qe.Filter(must=[self._qe.FieldCondition(key="doc_id", match=self._qe.MatchValue(doc_id))])
        return self._delete(flt)

    def delete_revision(self, doc_id: str, revision: str) -> int:
        qe = self._qe
        flt = qe.Filter(
            must=[
                qe.FieldCondition(key="doc_id", match=qe.MatchValue(doc_id)),
                qe.FieldCondition(key="revision", match=qe.MatchValue(revision)),
            ]
        )
        return self._delete(flt)

    def _delete(self, flt: Any) -> int:
        n = int(self._shard.count(self._qe.CountRequest(exact=True, filter=flt)))
        if n:
            self._shard.update(self._qe.UpdateOperation.delete_points_by_filter(flt))
        return n

    # -- reading -------------------------------------------------------------------------------------------
    def search(self, queries: Sequence[StoreQuery], scope: AccessScope) -> list[list[ScoredChunk]]:
        requests = [r for q in queries for r in self._requests(q, scope)]
        if len(requests) == 1:
            results = [self._shard.query(requests[0])]
        else:
            results = self._shard.query_batch(self._qe.QueryBatchRequest(requests))
        flat = [[ScoredChunk(str(p.id), float(p.score), dict(p.payload or {})) for p in r] for r in results]
        return with_payloads(_split(flat, queries), self._payloads)

    def _payloads(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        records = self._shard.retrieve([uuid.UUID(i) for i in ids], True, False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def _requests(self, q: StoreQuery, scope: AccessScope) -> list[Any]:
        qe = self._qe
        flt = self._filter(scope, q.filters)
        dense = qe.Query.Nearest(q.dense.tolist(), using=DENSE) if q.dense is not None else None
        sparse = qe.Query.Nearest(self._bm25.embed_query(q.text), using=SPARSE)
        params = qe.SearchParams(exact=True) if q.exact else None
        if q.mode is SearchMode.BM25:
            return [qe.QueryRequest(limit=q.limit + TIE_MARGIN, query=sparse, filter=flt, with_payload=True)]
        if dense is None:
            raise ConfigurationError(f"{q.mode} search needs a query vector")
        if q.mode is SearchMode.DENSE:
            return [
                qe.QueryRequest(
                    limit=q.limit + TIE_MARGIN, query=dense, filter=flt, with_payload=True, params=params
                )
            ]
        limit = q.candidates + TIE_MARGIN
        return [
            qe.QueryRequest(limit=limit, query=dense, filter=flt, with_payload=False, params=params),
            qe.QueryRequest(limit=limit, query=sparse, filter=flt, with_payload=False),
        ]

    def scroll(
        self, scope: AccessScope, filters: SearchFilters, *, limit: int | None = None
    ) -> list[ScoredChunk]:
        return list(self._iter_scroll(scope, filters, limit))

    def _iter_scroll(
        self, scope: AccessScope, filters: SearchFilters, limit: int | None
    ) -> Iterator[ScoredChunk]:
        flt = self._filter(scope, filters)
        offset = None
        seen = 0
        while True:
            page = 512 if limit is None else min(512, limit - seen)
            records, offset = self._shard.scroll(
                self._qe.ScrollRequest(offset=offset, limit=page, filter=flt, with_payload=True)
            )
            for record in records:
                yield ScoredChunk(str(record.id), 0.0, dict(record.payload or {}))
            seen += len(records)
            if offset is None or not records or (limit is not None and seen >= limit):
                return

    def count(self, scope: AccessScope, filters: SearchFilters | None = None) -> int:
        flt = self._filter(scope, filters or SearchFilters(include_history=True))
        return int(self._shard.count(self._qe.CountRequest(exact=True, filter=flt)))

    def _filter(self, scope: AccessScope, filters: SearchFilters) -> Any:
        qe = self._qe

        def convert(cond: _Condition) -> Any:
            if isinstance(cond, _Match):
                if len(cond.values) == 1:
                    return qe.FieldCondition(key=cond.key, match=qe.MatchValue(cond.values[0]))
                return qe.FieldCondition(key=cond.key, match=qe.MatchAny(list(cond.values)))
            if isinstance(cond, _Range):
                return qe.FieldCondition(key=cond.key, range=qe.RangeFloat(gte=cond.gte, lte=cond.lte))
            if isinstance(cond, _AllOf):
                return qe.Filter(must=[convert(c) for c in cond.conditions])
            return qe.Filter(should=[convert(c) for c in cond.conditions])

        return qe.Filter(must=[convert(c) for c in scope_conditions(scope) + filter_conditions(filters)])

    # -- lifecycle -----------------------------------------------------------------------------------------
    def optimize(self) -> None:
        self._shard.optimize()

    def close(self) -> None:
        try:
            self._shard.flush()
        finally:
            self._shard.close()


class ServerStore:
    """A Qdrant server or cluster through qdrant-client; `location=":memory:"`/`path=` selects local mode."""

    name = "server"

    def __init__(
        self,
        dim: int,
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        location: str | None = None,
        collection: str = "kb_chunks",
        shards: int = 1,
        replicas: int = 1,
        write_consistency: int = 1,
        read_consistency: str = "1",
        bm25_language: str = "german",
        bm25_compounds: str = "off",
    ) -> None:
        from qdrant_client import QdrantClient, models

        self._models = models
        self._bm25 = Bm25Encoder(bm25_language, compounds=bm25_compounds)
        self.collection = collection
        # Per query: a number of replicas that must answer, or all/majority/quorum (cluster only).
        self.read_consistency: int | Any = (
            int(read_consistency)
            if read_consistency.isdigit()
            else models.ReadConsistencyType(read_consistency)
        )
        if url:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=30)
        elif path:
            self._client = QdrantClient(path=path)
        else:
            self._client = QdrantClient(location=location or ":memory:")
        if not self._client.collection_exists(collection):
            self._client.create_collection(
                collection,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                shard_number=shards,
                replication_factor=replicas,
                write_consistency_factor=write_consistency,
            )
            if url:  # local mode has no payload indexes (it warns); a server needs them for fast filters
                for name in KEYWORD_FIELDS:
                    self._client.create_payload_index(collection, name, models.PayloadSchemaType.KEYWORD)
                for name in INTEGER_FIELDS:
                    self._client.create_payload_index(collection, name, models.PayloadSchemaType.INTEGER)

    def _sparse(self, text: str, *, query: bool) -> Any:
        vec = self._bm25.embed_query(text) if query else self._bm25.embed_document(text)
        return self._models.SparseVector(indices=list(vec.indices), values=list(vec.values))

    def upsert(
        self, chunks: Sequence[Chunk], dense: npt.NDArray[np.float32], sparse_texts: Sequence[str]
    ) -> None:
        m = self._models
        points = [
            m.PointStruct(
                id=chunk.point_id,
                vector={DENSE: dense[i].tolist(), SPARSE: self._sparse(sparse_texts[i], query=False)},
                payload=chunk_payload(chunk),
            )
            for i, chunk in enumerate(chunks)
        ]
        if points:
            self._client.upsert(self.collection, points=points, wait=True)

    def retire_other_revisions(self, doc_id: str, current_revision: str) -> None:
        m = self._models
        flt = m.Filter(
            must=[m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id))],
            must_not=[m.FieldCondition(key="revision", match=m.MatchValue(value=current_revision))],
        )
        self._client.set_payload(self.collection, payload={"is_current": 0}, points=flt, wait=True)

    def delete_document(self, doc_id: str) -> int:
        m = self._models
        return self._delete(m.Filter(must=[m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id))]))

    def delete_revision(self, doc_id: str, revision: str) -> int:
        m = self._models
        return self._delete(
            m.Filter(
                must=[
                    m.FieldCondition(key="doc_id", match=m.MatchValue(value=doc_id)),
                    m.FieldCondition(key="revision", match=m.MatchValue(value=revision)),
                ]
            )
        )

    def _delete(self, flt: Any) -> int:
        n = int(self._client.count(self.collection, count_filter=flt, exact=True).count)
        if n:
            self._client.delete(
                self.collection, points_selector=self._models.FilterSelector(filter=flt), wait=True
            )
        return n

    def search(self, queries: Sequence[StoreQuery], scope: AccessScope) -> list[list[ScoredChunk]]:
        requests = [r for q in queries for r in self._requests(q, scope)]
        responses = self._client.query_batch_points(
            self.collection, requests=requests, consistency=self.read_consistency
        )
        flat = [
            [ScoredChunk(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]
            for response in responses
        ]
        return with_payloads(_split(flat, queries), self._payloads)

    def _payloads(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        records = self._client.retrieve(self.collection, ids=ids, with_payload=True, with_vectors=False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def _requests(self, q: StoreQuery, scope: AccessScope) -> list[Any]:
        m = self._models
        flt = self._filter(scope, q.filters)
        sparse = self._sparse(q.text, query=True)
        if q.mode is SearchMode.BM25:
            return [
                m.QueryRequest(
                    query=sparse, using=SPARSE, filter=flt, limit=q.limit + TIE_MARGIN, with_payload=True
                )
            ]
        if q.dense is None:
            raise ConfigurationError(f"{q.mode} search needs a query vector")
        dense = q.dense.tolist()
        params = m.SearchParams(exact=True) if q.exact else None
        if q.mode is SearchMode.DENSE:
            return [
                m.QueryRequest(
                    query=dense,
                    using=DENSE,
                    filter=flt,
                    limit=q.limit + TIE_MARGIN,
                    with_payload=True,
                    params=params,
                )
            ]
        limit = q.candidates + TIE_MARGIN
        return [
            m.QueryRequest(
                query=dense, using=DENSE, filter=flt, limit=limit, with_payload=False, params=params
            ),
            m.QueryRequest(query=sparse, using=SPARSE, filter=flt, limit=limit, with_payload=False),
        ]

    def scroll(
        self, scope: AccessScope, filters: SearchFilters, *, limit: int | None = None
    ) -> list[ScoredChunk]:
        flt = self._filter(scope, filters)
        out: list[ScoredChunk] = []
        offset = None
        while True:
            page = 512 if limit is None else min(512, limit - len(out))
            records, offset = self._client.scroll(
                self.collection, scroll_filter=flt, limit=page, offset=offset, with_payload=True
            )
            out.extend(ScoredChunk(str(r.id), 0.0, dict(r.payload or {})) for r in records)
            if offset is None or not records or (limit is not None and len(out) >= limit):
                return out

    def count(self, scope: AccessScope, filters: SearchFilters | None = None) -> int:
        flt = self._filter(scope, filters or SearchFilters(include_history=True))
        return int(self._client.count(self.collection, count_filter=flt, exact=True).count)

    def _filter(self, scope: AccessScope, filters: SearchFilters) -> Any:
        m = self._models

        def convert(cond: _Condition) -> Any:
            if isinstance(cond, _Match):
                if len(cond.values) == 1:
                    return m.FieldCondition(key=cond.key, match=m.MatchValue(value=cond.values[0]))
                return m.FieldCondition(key=cond.key, match=m.MatchAny(any=list(cond.values)))
            if isinstance(cond, _Range):
                return m.FieldCondition(key=cond.key, range=m.Range(gte=cond.gte, lte=cond.lte))
            if isinstance(cond, _AllOf):
                return m.Filter(must=[convert(c) for c in cond.conditions])
            return m.Filter(should=[convert(c) for c in cond.conditions])

        return m.Filter(must=[convert(c) for c in scope_conditions(scope) + filter_conditions(filters)])

    def optimize(self) -> None:
        """The server optimises in the background; nothing to do."""

    def close(self) -> None:
        self._client.close()


class Bm25Encoder:
    """Qdrant's BM25 (tokenizer, stemmer and stopwords of `language`) for documents and queries; `compounds`
    ("documents", "queries", "both" or "off") adds the parts of German compounds to that side's text first
    (ingest/compounds.py)."""

    def __init__(self, language: str, *, compounds: str = "off") -> None:
        import qdrant_edge as qe

        self._bm25 = qe.Bm25(qe.Bm25Config(language=language))
        self._documents = compounds in ("documents", "both")
        self._queries = compounds in ("queries", "both")

    def embed_document(self, text: str) -> Any:
        return self._bm25.embed_document(with_compound_parts(text) if self._documents else text)

    def embed_query(self, text: str) -> Any:
        return self._bm25.embed_query(with_compound_parts(text) if self._queries else text)


def build_store(settings: StoreSettings, dim: int) -> Store:
    if settings.backend == "edge":
        return EdgeStore(
            str(settings.path),
            dim,
            bm25_language=settings.bm25_language,
            bm25_compounds=settings.bm25_compounds,
        )
    if settings.backend == "local":
        return ServerStore(
            dim,
            path=str(settings.path),
            collection=settings.collection,
            read_consistency=settings.read_consistency,
            bm25_language=settings.bm25_language,
            bm25_compounds=settings.bm25_compounds,
        )
    if settings.backend == "server":
        if not settings.url:
            raise ConfigurationError("KB_STORE__URL is required for the server store backend")
        return ServerStore(
            dim,
            url=settings.url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            collection=settings.collection,
            shards=settings.shards,
            replicas=settings.replicas,
            write_consistency=settings.write_consistency,
            read_consistency=settings.read_consistency,
            bm25_language=settings.bm25_language,
            bm25_compounds=settings.bm25_compounds,
        )
    raise ConfigurationError(f"unknown store backend: {settings.backend}")


def store_identity(settings: StoreSettings) -> str:
    """An opaque id of the store these settings point at, safe to show (no path, no URL).

    `/healthz` shows it and `kb serve` records it beside its URL, so the CLI can tell whether a running service
    owns the same store without the service revealing where the store lives. For an embedded store the id is
    random, created once and kept in a file beside the store directory; for a server it is derived from the URL
    and collection.
    """
    if settings.backend == "server":
        key = f"{settings.url}|{settings.collection}".encode()
        return hashlib.sha256(key).hexdigest()[:16]
    id_file = settings.path.parent / f"{settings.path.name}.id"
    try:
        existing = id_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    id_file.parent.mkdir(parents=True, exist_ok=True)
    new_id = secrets.token_hex(8)
    try:
        with id_file.open("x", encoding="utf-8") as fh:
            fh.write(new_id + "\n")
    except FileExistsError:  # another process created it first: use theirs
        return id_file.read_text(encoding="utf-8").strip()
    return new_id


# -- raw point transfer (store migration) ------------------------------------------------------------------------
@dataclass(frozen=True)
class RawPoint:
    """A point as stored: id, dense vector, BM25 sparse vector (indices, values), payload."""

    point_id: str
    dense: list[float]
    sparse: tuple[list[int], list[float]]
    payload: dict[str, Any]


def export_points(store: Store, offset: str | None, limit: int) -> tuple[list[RawPoint], str | None]:
    """Up to `limit` points in id order from `offset` on, with vectors; and the offset of the next page (None at
    the end). Unscoped on purpose: this copies a whole store and is reachable only from the operator's CLI."""
    if isinstance(store, EdgeStore):
        qe = store._qe
        edge_records, next_offset = store._shard.scroll(
            qe.ScrollRequest(
                offset=uuid.UUID(offset) if offset else None, limit=limit, with_payload=True, with_vector=True
            )
        )
        points = []
        for e in edge_records:
            edge_vectors: Any = e.vector
            points.append(
                RawPoint(
                    str(e.id),
                    list(edge_vectors[DENSE]),
                    (list(edge_vectors[SPARSE].indices), list(edge_vectors[SPARSE].values)),
                    dict(e.payload or {}),
                )
            )
    elif isinstance(store, ServerStore):
        records, next_offset = store._client.scroll(
            store.collection, limit=limit, offset=offset, with_payload=True, with_vectors=True
        )
        points = []
        for r in records:
            vectors: Any = r.vector
            sparse = vectors[SPARSE]
            points.append(
                RawPoint(
                    str(r.id),
                    list(vectors[DENSE]),
                    (list(sparse.indices), list(sparse.values)),
                    dict(r.payload or {}),
                )
            )
    else:
        raise ConfigurationError(f"cannot export points from a {store.name} store")
    return points, str(next_offset) if next_offset is not None else None


def import_points(store: Store, points: Sequence[RawPoint]) -> None:
    """Write points exactly as exported (same ids, vectors and payloads): idempotent."""
    if not points:
        return
    if isinstance(store, EdgeStore):
        qe = store._qe
        store._shard.update(
            qe.UpdateOperation.upsert_points(
                [
                    qe.Point(p.point_id, {DENSE: p.dense, SPARSE: qe.SparseVector(*p.sparse)}, p.payload)
                    for p in points
                ]
            )
        )
    elif isinstance(store, ServerStore):
        m = store._models
        store._client.upsert(
            store.collection,
            points=[
                m.PointStruct(
                    id=p.point_id,
                    vector={DENSE: p.dense, SPARSE: m.SparseVector(indices=p.sparse[0], values=p.sparse[1])},
                    payload=p.payload,
                )
                for p in points
            ],
            wait=True,
        )
    else:
        raise ConfigurationError(f"cannot import points into a {store.name} store")
