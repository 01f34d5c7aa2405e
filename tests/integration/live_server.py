"""The app on a loopback port (uvicorn in a thread), for clients that need a real socket: the official
`openai` client, a browser. Corpus ingestion goes through the real pipeline into a tmp Qdrant Edge store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI

from ingest.originals import Originals
from ingest.pipeline import IngestPipeline
from ingest.store import build_store
from service.config import Settings
from tests.fakes import HashEmbedder


def corpus_settings(tmp: Path, corpus: Path, embedder: HashEmbedder) -> Settings:
    """Settings whose store holds `corpus`, ingested before the app starts (the app then owns the store), with
    the original files kept where the app looks for them."""
    settings = Settings()
    settings.store.path = tmp / "store"
    # The hash embedder is not e5: relevance is decided on term overlap alone here.
    settings.retrieval.min_dense_score = 2.0
    store = build_store(settings.store, embedder.dim)
    try:
        originals = Originals(settings.store.originals_dir())
        report = IngestPipeline(store, embedder, settings.ingest, originals=originals).ingest_paths([corpus])
        assert not report.failed, report.failed
        store.optimize()
    finally:
        store.close()
    return settings


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` on 127.0.0.1 (a free port) until the block ends; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
