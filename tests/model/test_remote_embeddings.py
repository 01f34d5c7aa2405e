"""The `openai` embedding backend against a real OpenAI-compatible server on loopback.

The server is llama-cpp-python's (`tests/model/embedding_server.py`: mean pooling set, otherwise unchanged) with the
0.5B Qwen GGUF as embedding model — not a good embedder, but a real `/v1/embeddings` over HTTP. The retry test
needs no model: it talks to a closed port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from ingest.config import EmbeddingSettings, IngestSettings
from ingest.domain import AccessScope
from ingest.embedding import OpenAIEmbedder, build_embedder
from ingest.errors import ModelUnavailable
from ingest.pipeline import IngestPipeline, Status
from ingest.store import EdgeStore, SearchMode, StoreQuery
from service.model_files import MODELS, default_model_dir, verified_model_path

SERVER = Path(__file__).with_name("embedding_server.py")
ALL = AccessScope.everything()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_embedding_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, str(SERVER), "--model", str(model), "--embedding", "true"),
            *("--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_batch", "2048"),
            *("--model_alias", "emb", "--n_threads", str(os.cpu_count() or 1)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("embedding server exited")
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise RuntimeError("embedding server did not come up")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    model = verified_model_path(MODELS["qwen2.5-0.5b"], default_model_dir())
    port = _free_port()
    proc = start_embedding_server(model, port)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _settings(url: str, **extra: object) -> EmbeddingSettings:
    return EmbeddingSettings.model_validate(
        {"backend": "openai", "base_url": url, "api_model": "emb", "timeout_s": 300, **extra}
    )


@pytest.mark.model
def test_dim_comes_from_the_server_and_vectors_are_unit_length(server_url: str) -> None:
    embedder = build_embedder(_settings(server_url))
    vectors = embedder.embed_passages(["Der Gemeinderat beschließt den Haushalt.", "Katzen fressen Mäuse."])
    assert embedder.dim == 896 == vectors.shape[1]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.model
def test_concurrent_batches_come_back_in_input_order(server_url: str) -> None:
    texts = [
        "Haushalt 2025",
        "Katzen fressen Mäuse.",
        "Haushalt 2025",
        "Breitbandausbau",
        "Katzen fressen Mäuse.",
    ]
    embedder = build_embedder(_settings(server_url, batch_size=2, concurrency=3))
    together = embedder.embed_passages(texts)
    alone = np.vstack([embedder.embed_passages([t]) for t in texts])
    assert np.allclose((together * alone).sum(axis=1), 1.0, atol=1e-3)
    assert together[0] @ together[2] > 0.999 and together[0] @ together[1] < 0.99


@pytest.mark.model
def test_query_and_passage_prefixes_come_from_the_settings(server_url: str) -> None:
    text = "Wer beschließt den Haushalt?"
    plain = build_embedder(_settings(server_url))
    swapped = build_embedder(_settings(server_url, passage_prefix="query: "))
    assert plain.embed_query(text) @ plain.embed_passages([text])[0] < 0.9999
    assert plain.embed_query(text) @ swapped.embed_passages([text])[0] > 0.9999


@pytest.mark.model
def test_pipeline_ingests_through_the_remote_embedder(server_url: str, tmp_path: Path) -> None:
    doc = tmp_path / "protokoll.md"
    doc.write_text(
        "# Protokoll AK Digitalisierung\n\n## TOP 1 Haushalt\n\nDer Arbeitskreis empfiehlt, die Mittel für den "
        "Breitbandausbau im Haushalt 2026 zu erhöhen.\n\n## TOP 2 Verschiedenes\n\nDie nächste Sitzung findet "
        "im März statt.\n",
        encoding="utf-8",
    )
    embedder = build_embedder(_settings(server_url, batch_size=1, concurrency=2))
    store = EdgeStore(str(tmp_path / "store"), embedder.dim)
    try:
        report = IngestPipeline(store, embedder, IngestSettings(parse_isolation=False)).ingest_paths([doc])
        assert report.count(Status.INGESTED) == 1
        query = StoreQuery(embedder.embed_query("Breitbandausbau Haushalt"), "Breitbandausbau Haushalt")
        hits = store.search([StoreQuery(query.dense, query.text, mode=SearchMode.DENSE, limit=3)], ALL)[0]
        assert hits and all(h.payload["doc_id"] == "protokoll.md" for h in hits)
    finally:
        store.close()


def test_dead_server_is_retried_with_backoff_then_model_unavailable() -> None:
    port = _free_port()  # nothing listens there
    delays: list[float] = []
    with pytest.raises(ModelUnavailable) as err:
        OpenAIEmbedder(
            f"http://127.0.0.1:{port}/v1", model="emb", retries=3, backoff_s=0.25, sleep=delays.append
        )
    assert delays == [0.25, 0.5, 1.0]
    assert str(port) not in str(err.value) and "127.0.0.1" not in str(err.value)
