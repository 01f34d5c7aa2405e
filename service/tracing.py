"""Optional OpenTelemetry traces (off by default): one span per HTTP request, with child spans for the stages that
take the time (`retrieval`, `llm.generate`), exported over OTLP/HTTP to the configured endpoint
(`KB_TRACING__ENDPOINT`, e.g. an OpenTelemetry Collector's `http://collector:4318/v1/traces`).

What a span carries is chosen here, not by an auto-instrumentation: the method, the route *template*
(`/v1/documents/{doc_id}`, never the concrete path or the query string), the status code, the request id and stage
timings and counts. No question, passage, title, working group or user name goes into a span: a trace backend is
read by operators, who may not read every group's documents.

With the endpoint empty nothing of OpenTelemetry is imported and `span()` costs one global lookup. The SDK comes
with the `otel` extra (`pip install '.[otel]'`; `make setup` installs it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.config import TracingSettings

# The tracer of the one TracerProvider this process installed, or None (tracing off). A process runs one
# service app; `install()` refuses to replace a provider another app of the same process installed.
_tracer: Any = None


class Tracing:
    """The installed provider (to flush and shut down with the app)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    def flush(self, timeout_ms: int = 5000) -> bool:
        return bool(self.provider.force_flush(timeout_ms))

    def shutdown(self) -> None:
        global _tracer
        self.provider.shutdown()
        _tracer = None


def install(settings: TracingSettings) -> Tracing | None:
    """Build the provider and exporter when an endpoint is configured; None when tracing is off."""
    global _tracer
    if not settings.endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBasedTraceIdRatio(settings.sample_ratio),
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint, timeout=settings.timeout_s))
    )
    _tracer = provider.get_tracer("kb.service")
    return Tracing(provider)


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[Any]:
    """A child span of the current request's span (or a root span outside a request); nothing when off."""
    tracer = _tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def record(name: str, started: float, ended: float, **attributes: str | int | float | bool) -> None:
    """A finished stage as a child span of the current request, from two `time.perf_counter()` readings.
    For stages inside generators (the streamed answer), where a span kept open across `yield`s would outlive
    the context it was attached in."""
    tracer = _tracer
    if tracer is None:
        return
    now_ns, now = time.time_ns(), time.perf_counter()
    start_ns = now_ns - int((now - started) * 1e9)
    end_ns = now_ns - int((now - ended) * 1e9)
    current = tracer.start_span(name, attributes=attributes, start_time=start_ns)
    current.end(end_time=end_ns)


class TracingMiddleware:
    """One server span per HTTP request: `METHOD /route/{template}`, status, request id, duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode

        from service.metrics import current_request_id

        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with tracer.start_as_current_span(scope["method"], kind=SpanKind.SERVER) as current:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                current.update_name(f"{scope['method']} {route}")
                current.set_attribute("http.request.method", scope["method"])
                current.set_attribute("http.route", route)
                current.set_attribute("http.response.status_code", status)
                current.set_attribute("kb.request_id", current_request_id() or "")
                current.set_attribute("kb.duration_s", round(time.perf_counter() - started, 4))
                if status >= 500:
                    current.set_status(Status(StatusCode.ERROR))
