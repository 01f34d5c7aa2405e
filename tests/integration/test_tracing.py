"""OpenTelemetry traces through the real app, exported over OTLP/HTTP to a small collector on loopback that
decodes what it receives (the model edge faked)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import tracing
from service.app import create_app
from service.config import Settings, TracingSettings
from tests.fakes import HashEmbedder, ScriptedLLM

SECRET_TITLE = "Geheimer Haushaltsvermerk Breitband"
NOTE = f"# {SECRET_TITLE}\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"
QUESTION = "Wie hoch ist das Pilotbudget des AK KI?"


class _Collector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.bodies.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _spans(server: ThreadingHTTPServer) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for path, body in server.bodies:  # type: ignore[attr-defined]
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    return spans


def _attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def test_a_traced_answer_exports_request_retrieval_and_generation_spans_without_content(
    tmp_path: Path, collector: ThreadingHTTPServer
) -> None:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
    settings = Settings.model_validate({"tracing": {"endpoint": endpoint}})
    settings.store.path = tmp_path / "store"
    llm = ScriptedLLM({"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]})
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        upload = client.post(
            "/v1/documents",
            files={"files": ("vermerk.md", NOTE.encode())},
            data={"working_group": "ak-ki", "visibility": "group"},
        )
        assert upload.status_code == 200
        answer = client.post("/v1/answers", json={"question": QUESTION})
        assert answer.status_code == 200, answer.text
        request_id = answer.headers["x-request-id"]
    # Leaving the app shut the provider down, which flushed every span to the collector.
    spans = _spans(collector)
    by_name = {s.name: s for s in spans}
    root = by_name["POST /v1/answers"]
    attributes = _attributes(root)
    assert attributes["http.route"] == "/v1/answers"
    assert attributes["http.response.status_code"] == 200
    assert attributes["kb.request_id"] == request_id
    for child in ("retrieval.embed_query", "retrieval.store_search", "llm.generate"):
        assert by_name[child].trace_id == root.trace_id, child
        assert by_name[child].parent_span_id, child
    generation = _attributes(by_name["llm.generate"])
    assert generation["sources"] >= 1 and "completion_tokens" in generation
    assert "POST /v1/documents" in by_name
    # No question, passage, title, number from a document or group name went to the trace backend.
    exported = b"".join(body for _, body in collector.bodies)  # type: ignore[attr-defined]
    for secret in (
        QUESTION,
        "Pilotbudget",
        SECRET_TITLE,
        "Haushaltsvermerk",
        "320.000",
        "ak-ki",
        "vermerk.md",
    ):
        assert secret.encode() not in exported, secret


def test_tracing_is_off_without_an_endpoint(tmp_path: Path) -> None:
    assert tracing.install(TracingSettings()) is None
    settings = Settings()
    settings.store.path = tmp_path / "store"
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        assert client.get("/healthz").status_code == 200
        with tracing.span("anything") as current:
            assert current is None
