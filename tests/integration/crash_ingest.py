"""Subprocess harness for the crash-safety test: ingest paths into a store, print one line per file outcome."""

from __future__ import annotations

import sys
from pathlib import Path

from ingest.config import IngestSettings
from ingest.pipeline import IngestPipeline
from ingest.store import EdgeStore
from tests.fakes import HashEmbedder


def main(store_path: str, *paths: str) -> None:
    embedder = HashEmbedder()
    store = EdgeStore(store_path, embedder.dim)
    pipeline = IngestPipeline(store, embedder, IngestSettings(batch_chunks=16))

    def report(outcome: object, done: int, total: int) -> None:
        print(f"{done}/{total}", flush=True)

    pipeline.ingest_paths([Path(p) for p in paths], progress=report)
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
