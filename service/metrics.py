"""Prometheus metrics, request ids and JSON logs: what operators see of a running service.

`build_metrics` makes one registry per app (the composition root keeps it on `app.state.metrics`); nothing is a
module global, so two apps in one process (tests) count apart. What is exported is deliberately coarse: latency per
route *template* (`/v1/documents/{doc_id:path}`, never a document id), outcomes per error code, the store's total
point count — no document content, titles, queries, users or per-group counts.

The LLM layer reports through `llm_queue_length`, `llm_first_token` and `llm_generation` (plain functions taking the
`Metrics`), so a worker built elsewhere can be wired in by the composition root without importing Prometheus; the
composition root hands `LLMQueueMetrics` to the model's queue, which every generation passes.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.config import IngestSettings
from ingest.embedding import Embedder, Matrix
from ingest.errors import Unauthenticated
from ingest.metadata import MetadataOverrides
from ingest.originals import Originals
from ingest.parse_worker import IsolatedParser
from ingest.pipeline import FileOutcome, IngestPipeline, IngestReport, ProgressCallback, Uploader
from ingest.store import Store
from service.llm import GenerationStats

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("kb_request_id", default=None)
# A caller's id is echoed only when it is short and plain (no header or log injection).
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Histogram
    llm_queue: Gauge
    llm_ttft: Histogram
    llm_tokens_per_s: Histogram
    embedded_texts: Counter
    embedding_seconds: Counter
    ingest_outcomes: Counter
    store_points: Gauge


def build_metrics(store_points: Callable[[], int] | None = None) -> Metrics:
    """A fresh registry with every metric; `store_points` is called at scrape time."""
    registry = CollectorRegistry(auto_describe=True)
    points = Gauge(
        "kb_store_points", "Points (chunks, all revisions) in the vector store.", registry=registry
    )
    if store_points is not None:
        points.set_function(lambda: float(store_points()))
    return Metrics(
        registry=registry,
        requests=Histogram(
            "kb_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        llm_queue=Gauge("kb_llm_queue_length", "Generation requests waiting for the LLM.", registry=registry),
        llm_ttft=Histogram(
            "kb_llm_time_to_first_token_seconds",
            "Seconds from the start of a generation (after its wait in the queue) to its first token.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        llm_tokens_per_s=Histogram(
            "kb_llm_generated_tokens_per_second",
            "Generated tokens per second of one answer (after the first token).",
            buckets=(1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500),
            registry=registry,
        ),
        embedded_texts=Counter(
            "kb_embedded_texts", "Texts embedded (passages and queries).", ["kind"], registry=registry
        ),
        embedding_seconds=Counter(
            "kb_embedding_seconds",
            "Seconds spent embedding; rate(texts) / rate(seconds) = embeddings/s.",
            ["kind"],
            registry=registry,
        ),
        ingest_outcomes=Counter(
            "kb_ingest_files",
            "Ingested files by outcome: status and error code.",
            ["status", "code"],
            registry=registry,
        ),
        store_points=points,
    )


# -- the API the LLM layer calls -------------------------------------------------------------------------------
def llm_queue_length(metrics: Metrics, waiting: int) -> None:
    metrics.llm_queue.set(waiting)


def llm_first_token(metrics: Metrics, seconds: float) -> None:
    metrics.llm_ttft.observe(seconds)


def llm_generation(metrics: Metrics, tokens: int, seconds: float) -> None:
    """One finished answer: `tokens` generated in `seconds` after the first token."""
    if tokens > 0 and seconds > 0:
        metrics.llm_tokens_per_s.observe(tokens / seconds)


class LLMQueueMetrics:
    """The observer of the model's queue (service.llm_queue.QueueObserver): every generation passes there."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def queue_length(self, waiting: int) -> None:
        llm_queue_length(self.metrics, waiting)

    def generation_finished(self, stats: GenerationStats) -> None:
        if stats.first_token_s is None:
            return  # nothing was generated (failed, or the caller left before the first token)
        llm_first_token(self.metrics, stats.first_token_s)
        llm_generation(self.metrics, stats.completion_tokens, stats.total_s - stats.first_token_s)


def count_ingest(metrics: Metrics, outcomes: Sequence[FileOutcome]) -> None:
    for outcome in outcomes:
        metrics.ingest_outcomes.labels(outcome.status.value, outcome.code or "").inc()


# -- embedder and pipeline, counted ----------------------------------------------------------------------------
class MeteredEmbedder:
    """Wraps an embedder and counts texts and seconds (embeddings/s)."""

    def __init__(self, inner: Embedder, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self.name = inner.name
        self.dim = inner.dim

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        started = time.perf_counter()
        vectors = self._inner.embed_passages(texts)
        self._metrics.embedding_seconds.labels("passage").inc(time.perf_counter() - started)
        self._metrics.embedded_texts.labels("passage").inc(len(texts))
        return vectors

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        started = time.perf_counter()
        vector = self._inner.embed_query(text)
        self._metrics.embedding_seconds.labels("query").inc(time.perf_counter() - started)
        self._metrics.embedded_texts.labels("query").inc()
        return vector


class MeteredPipeline(IngestPipeline):
    """The ingest pipeline, counting every file's outcome by status and error code."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: IngestSettings,
        metrics: Metrics,
        parser: IsolatedParser | None = None,
        originals: Originals | None = None,
    ) -> None:
        super().__init__(store, embedder, settings, parser=parser, originals=originals)
        self.metrics = metrics

    def ingest_paths(
        self,
        paths: Sequence[Path],
        overrides: MetadataOverrides | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        report = super().ingest_paths(paths, overrides, progress)
        count_ingest(self.metrics, report.outcomes)
        return report

    def ingest_upload(
        self,
        data: bytes,
        filename: str,
        doc_id: str | None = None,
        overrides: MetadataOverrides | None = None,
        sidecar: Mapping[str, Any] | None = None,
        uploader: Uploader | None = None,
    ) -> FileOutcome:
        outcome = super().ingest_upload(data, filename, doc_id, overrides, sidecar, uploader)
        count_ingest(self.metrics, [outcome])
        return outcome


# -- HTTP: latency middleware, request ids, the /metrics route -------------------------------------------------
def current_request_id() -> str | None:
    return _request_id.get()


class RequestMetricsMiddleware:
    """Sets the request id (the caller's `X-Request-ID` if plain, else a new one; echoed in the response) and
    observes latency per route template once the response is complete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (
            dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        )
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        status = "500"
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None) if "app" in scope else None
            if metrics is not None:
                metrics.requests.labels(scope["method"], template, status).observe(
                    time.perf_counter() - started
                )
            _request_id.reset(token)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (text format)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
        401: {"description": "A metrics token is set and was not given"},
    },
)
def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    expected: str | None = request.app.state.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise Unauthenticated("für /metrics ist ein gültiges Token nötig")
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


# -- logs ------------------------------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object per line with the request id of the request being served (if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__  # the type only: a traceback may carry paths
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(fmt: str, level: str) -> None:
    """Install the root handler: `json` (one object per line, with request ids) or `text` (the default)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
