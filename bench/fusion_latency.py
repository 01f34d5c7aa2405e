"""Fusion latency: our weighted RRF (two candidate requests without payloads in one batch, `fuse_rrf`, then the
payloads of the winners) against Qdrant's own prefetch + `Fusion.Rrf` (one request), side by side on the same
Qdrant Edge store.

Data as in `bench/search_latency.py` (its cached real passages and queries, noisy copies up to `--size` points);
every query runs both ways, alternating which goes first. Also reports how often the two return the same top 6
(they differ by design: other k and weights).

Run from the repository root:  .venv/bin/python bench/fusion_latency.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RunInfo, fmt, md_table, median, percentile, write_section
from bench.search_latency import _embedder, cached_passages, cached_queries, load_interleaved
from ingest.domain import AccessScope, ScoredChunk
from ingest.store import DENSE, SPARSE, TIE_MARGIN, EdgeStore, SearchFilters, SearchMode, StoreQuery, ranked
from service.config import RetrievalSettings


def qdrant_fusion(store: EdgeStore, q: StoreQuery, scope: AccessScope) -> list[str]:
    """The previous implementation: one request, prefetch dense + BM25, Qdrant's RRF (equal weights)."""
    qe: Any = store._qe
    flt = store._filter(scope, q.filters)
    assert q.dense is not None
    dense = qe.Query.Nearest(q.dense.tolist(), using=DENSE)
    sparse = qe.Query.Nearest(store._bm25.embed_query(q.text), using=SPARSE)
    request = qe.QueryRequest(
        limit=q.limit + TIE_MARGIN,
        prefetches=[
            qe.Prefetch(limit=q.candidates, query=dense, filter=flt),
            qe.Prefetch(limit=q.candidates, query=sparse, filter=flt),
        ],
        query=qe.Fusion.Rrf(k=q.rrf_k),
        filter=flt,
        with_payload=True,
    )
    points = store._shard.query(request)
    hits = [ScoredChunk(str(p.id), float(p.score), dict(p.payload or {})) for p in points]
    return [h.point_id for h in ranked(hits, q.limit)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--passages", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    run = RunInfo()
    settings = RetrievalSettings()
    passages = cached_passages(args.passages, _embedder)
    texts, vectors = cached_queries(args.queries, args.seed, _embedder)
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-fusion-"))
    store = EdgeStore(str(tmp / "edge"), 384)
    scope = AccessScope.everything()
    ours: list[float] = []
    theirs: list[float] = []
    same = 0
    try:
        load_interleaved({"edge": store}, passages, 0, args.size, 0.3, args.seed)
        store.optimize()
        for i in range(3):  # warm-up
            q = StoreQuery(vectors[i], texts[i], SearchMode.HYBRID, 6, settings.candidates, SearchFilters())
            store.search([q], scope)
            qdrant_fusion(store, q, scope)
        for i, text in enumerate(texts):
            new = StoreQuery(
                vectors[i],
                text,
                SearchMode.HYBRID,
                6,
                settings.candidates,
                SearchFilters(),
                settings.rrf_k,
                settings.bm25_weight,
            )
            old = StoreQuery(vectors[i], text, SearchMode.HYBRID, 6, settings.candidates, SearchFilters(), 60)
            order = ("ours", "qdrant") if i % 2 == 0 else ("qdrant", "ours")
            for name in order:
                t0 = time.perf_counter()
                if name == "ours":
                    ids_new = [h.point_id for h in store.search([new], scope)[0]]
                    ours.append(time.perf_counter() - t0)
                else:
                    ids_old = qdrant_fusion(store, old, scope)
                    theirs.append(time.perf_counter() - t0)
            same += len(set(ids_new) & set(ids_old))
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    run.finish()

    def row(label: str, values: list[float]) -> list[object]:
        ms = [v * 1000 for v in values]
        return [label, len(ms), fmt(percentile(ms, 50)), fmt(percentile(ms, 95)), fmt(sum(ms) / len(ms))]

    rows = [
        row(
            f"ours: 2 requests (dense + BM25 top {settings.candidates}, no payloads) + fuse_rrf "
            f"+ payloads of the top 6, k {settings.rrf_k}, "
            f"w {settings.bm25_weight:g}",
            ours,
        ),
        row("Qdrant prefetch + Fusion.Rrf, k 60 (previous)", theirs),
    ]
    body = (
        run.markdown()
        + f"- data: {args.size:,} points (real German passages and noisy copies, as in section b), "
        f"{len(texts)} queries, top 6, every query both ways alternating the order\n\n"
        + md_table(["hybrid search on Qdrant Edge", "queries", "p50 ms", "p95 ms", "mean ms"], rows)
        + f"\n\nRatio of medians ours ÷ Qdrant's: **{median(ours) / median(theirs):.2f}**; "
        f"top-6 overlap between the two: {same / (6 * len(texts)):.2f} (other constants by design).\n"
    )
    print(body)
    if not args.no_write:
        write_section("fusion_latency", "(f) Hybrid latency: our fusion vs Qdrant's prefetch fusion", body)


if __name__ == "__main__":
    main()
