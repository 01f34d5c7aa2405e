"""Retrieval: hybrid dense + BM25 (candidates from Qdrant, weighted RRF), plus the relevance decision for abstention."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ingest.domain import AccessScope, ScoredChunk
from ingest.embedding import Embedder
from ingest.store import Provenance, SearchFilters, SearchMode, Store, StoredChunk, StoreQuery
from service import tracing
from service.citations import content_terms
from service.config import RetrievalSettings


@dataclass(frozen=True)
class RetrievalResult:
    hits: list[ScoredChunk]
    best_dense: float
    term_overlap: float
    relevant: bool


class Retriever:
    def __init__(self, store: Store, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings

    def search(
        self,
        question: str,
        scope: AccessScope,
        *,
        mode: SearchMode | None = None,
        top_k: int | None = None,
        filters: SearchFilters | None = None,
    ) -> RetrievalResult:
        mode = mode or self.settings.mode
        limit = top_k or self.settings.top_k
        filters = filters or SearchFilters()
        if filters.as_of:
            filters = replace(filters, revisions=self.revisions_as_of(filters.as_of, scope), as_of=None)
        started = time.perf_counter()
        dense = self.embedder.embed_query(question) if mode is not SearchMode.BM25 else None
        embedded = time.perf_counter()
        queries = [
            StoreQuery(
                dense,
                question,
                mode,
                limit,
                max(self.settings.candidates, limit),
                filters,
                self.settings.rrf_k,
                self.settings.bm25_weight,
            ),
        ]
        if dense is not None and mode is not SearchMode.DENSE:
            # The best plain cosine is the calibrated signal for "is anything relevant at all"; RRF scores are not.
            queries.append(StoreQuery(dense, question, SearchMode.DENSE, 1, 1, filters))
        results = self.store.search(queries, scope)
        searched = time.perf_counter()
        tracing.record("retrieval.embed_query", started, embedded)
        tracing.record("retrieval.store_search", embedded, searched, mode=str(mode), hits=len(results[0]))
        hits = results[0]
        if mode is SearchMode.DENSE:
            best_dense = hits[0].score if hits else 0.0
        else:
            best_dense = results[1][0].score if len(results) > 1 and results[1] else 0.0
        overlap = term_overlap(question, hits[:3])
        relevant = bool(hits) and (
            best_dense >= self.settings.min_dense_score or overlap >= self.settings.min_term_overlap
        )
        return RetrievalResult(hits, best_dense, overlap, relevant)

    def revisions_as_of(self, as_of: str, scope: AccessScope) -> frozenset[str]:
        """For each document, the revision that was current at `as_of` (ISO date or timestamp, UTC)."""
        cutoff = as_of if "T" in as_of else f"{as_of}T23:59:59Z"
        heads = self.store.scroll(scope, SearchFilters(only_heads=True, include_history=True))
        latest: dict[str, tuple[str, str]] = {}
        for head in heads:
            stored = StoredChunk.of(head)
            ingested = stored.ingested_at or ""
            if ingested and ingested <= cutoff and ingested >= latest.get(head.doc_id, ("", ""))[0]:
                latest[head.doc_id] = (ingested, stored.provenance.revision)
        return frozenset(rev for _, rev in latest.values()) or frozenset({"\x00none"})


def term_overlap(question: str, hits: list[ScoredChunk]) -> float:
    """Share of the question's content terms that occur in the given passages."""
    terms = content_terms(question)
    if not terms:
        return 0.0
    found: set[str] = set()
    for hit in hits:
        found |= terms & content_terms(hit.text + " " + Provenance.from_payload(hit.payload).title)
    return len(found) / len(terms)
