"""Copy a whole store into another backend: embedded Qdrant Edge → Qdrant server/cluster, and back.

Points are copied as stored (ids, dense vectors, BM25 sparse vectors, payloads) in id-ordered pages. After every
written page a checkpoint (JSON, replaced atomically) records the next offset, so an interrupted migration resumes
where it stopped; re-writing a page is harmless (same ids). At the end the copy is verified: equal point counts,
and a sample of hybrid queries (a stored point's own vector and the first words of its text) must return the same
top-10 ids from both stores. The dense side of those queries is exact (brute force) on both stores: each store's
HNSW graph is approximate and built on its own, so two faithful copies may rank differently through their graphs
(measured: 39 of 100 identical top-10 through the graphs on 10,000 random vectors, bench/RESULTS.md (i)).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.domain import AccessScope
from ingest.store import RawPoint, SearchFilters, SearchMode, Store, StoreQuery, export_points, import_points

ALL = AccessScope.everything()
HISTORY = SearchFilters(include_history=True)


@dataclass(frozen=True)
class Verification:
    source_points: int
    target_points: int
    queries: int
    identical_top10: int

    @property
    def ok(self) -> bool:
        return self.source_points == self.target_points and self.identical_top10 == self.queries


@dataclass(frozen=True)
class MigrationReport:
    copied: int  # points written in this run
    resumed_at: int  # points already copied by an earlier, interrupted run
    seconds: float
    verification: Verification


def _read_checkpoint(path: Path) -> tuple[str | None, int, bool]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, 0, False
    return state.get("offset"), int(state.get("copied", 0)), bool(state.get("done", False))


def _write_checkpoint(path: Path, offset: str | None, copied: int, done: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"offset": offset, "copied": copied, "done": done}), encoding="utf-8")
    os.replace(tmp, path)


def copy_points(
    source: Store,
    target: Store,
    checkpoint: Path,
    *,
    batch: int = 256,
    max_batches: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Copy from the checkpoint's offset on; returns (points copied now, points copied before).
    `max_batches` stops early (an interrupted run, for tests)."""
    offset, before, done = _read_checkpoint(checkpoint)
    copied = 0
    batches = 0
    while not done:
        if max_batches is not None and batches >= max_batches:
            return copied, before
        points, next_offset = export_points(source, offset, batch)
        import_points(target, points)
        copied += len(points)
        batches += 1
        done = next_offset is None or not points
        offset = next_offset
        _write_checkpoint(checkpoint, offset, before + copied, done)
        if progress:
            progress(before + copied)
    return copied, before


def sample_points(store: Store, n: int) -> list[RawPoint]:
    """`n` points spread evenly over the store (every k-th in id order)."""
    total = store.count(ALL)
    step = max(1, total // max(n, 1))
    out: list[RawPoint] = []
    offset: str | None = None
    index = 0
    while len(out) < n:
        points, offset = export_points(store, offset, 512)
        for p in points:
            if index % step == 0 and len(out) < n:
                out.append(p)
            index += 1
        if offset is None or not points:
            break
    return out


def sample_queries(points: list[RawPoint], words: int = 8) -> list[StoreQuery]:
    return [
        StoreQuery(
            np.asarray(p.dense, dtype=np.float32),
            " ".join(str(p.payload.get("text", "")).split()[:words]),
            mode=SearchMode.HYBRID,
            limit=10,
            candidates=40,
            filters=HISTORY,
            exact=True,
        )
        for p in points
    ]


def verify(source: Store, target: Store, *, queries: int = 100) -> Verification:
    sample = sample_queries(sample_points(source, queries))
    a = source.search(sample, ALL)
    b = target.search(sample, ALL)
    same = sum(1 for x, y in zip(a, b, strict=True) if [h.point_id for h in x] == [h.point_id for h in y])
    return Verification(source.count(ALL), target.count(ALL), len(sample), same)


def migrate(
    source: Store,
    target: Store,
    checkpoint: Path,
    *,
    batch: int = 256,
    queries: int = 100,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    started = time.perf_counter()
    copied, before = copy_points(source, target, checkpoint, batch=batch, progress=progress)
    target.optimize()
    seconds = time.perf_counter() - started
    return MigrationReport(copied, before, seconds, verify(source, target, queries=queries))
