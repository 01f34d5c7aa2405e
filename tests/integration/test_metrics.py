"""/metrics, request ids and JSON logs through the real ASGI app and a real Qdrant Edge store (model edge faked)."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.config import Settings
from service.metrics import JsonFormatter, build_metrics, llm_first_token, llm_generation, llm_queue_length
from tests.fakes import HashEmbedder, ScriptedLLM

SECRET_TITLE = "Geheimer Haushaltsvermerk Breitband"
NOTE = f"# {SECRET_TITLE}\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"


def _settings(tmp_path: Path, **metrics: object) -> Settings:
    settings = Settings.model_validate({"metrics": metrics})
    settings.store.path = tmp_path / "store"
    return settings


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_per_route_template_ingest_outcomes_embeddings_and_points(
    tmp_path: Path,
) -> None:
    with TestClient(create_app(_settings(tmp_path), embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        upload = client.post(
            "/v1/documents",
            files={"files": ("vermerk.md", NOTE.encode())},
            data={"working_group": "ak-ki", "visibility": "group"},
        )
        assert upload.status_code == 200
        client.post("/v1/documents", files={"files": ("leer.md", b"")})
        for _ in range(3):
            assert client.post("/v1/search", json={"query": "Pilotbudget"}).status_code == 200
        assert client.delete("/v1/documents/gibt-es-nicht.md").status_code == 404
        response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    samples = _samples(text)
    search = (("method", "POST"), ("route", "/v1/search"), ("status", "200"))
    assert samples[("kb_http_request_duration_seconds_count", search)] == 3
    delete = (("method", "DELETE"), ("route", "/v1/documents/{doc_id:path}"), ("status", "404"))
    assert samples[("kb_http_request_duration_seconds_count", delete)] == 1
    assert samples[("kb_ingest_files_total", (("code", ""), ("status", "ingested")))] == 1
    assert samples[("kb_ingest_files_total", (("code", "empty_file"), ("status", "failed")))] == 1
    assert samples[("kb_embedded_texts_total", (("kind", "query"),))] == 3
    assert samples[("kb_embedded_texts_total", (("kind", "passage"),))] >= 1
    assert samples[("kb_store_points", ())] >= 1
    # Nothing of the documents or the callers: no title, no file name, no group, no query.
    for leak in (SECRET_TITLE, "vermerk", "gibt-es-nicht", "ak-ki", "Pilotbudget"):
        assert leak not in text


def test_metrics_token_guards_the_endpoint(tmp_path: Path) -> None:
    settings = _settings(tmp_path, token="s3cret-scrape")
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer falsch"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert ok.status_code == 200 and "kb_http_request_duration_seconds" in ok.text


def test_request_id_is_echoed_when_plain_and_created_otherwise(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path), embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        injected = client.get("/healthz", headers={"X-Request-ID": "bad\tid" + "x" * 80})
        fresh = client.get("/healthz")
    assert given.headers["X-Request-ID"] == "abc-123"
    # Not echoed: a fresh id (32 hex digits) instead of the header with a tab in it.
    assert re.fullmatch(r"[0-9a-f]{32}", injected.headers["X-Request-ID"])
    assert len(fresh.headers["X-Request-ID"]) == 32


def test_llm_metrics_api_feeds_queue_first_token_and_tokens_per_second() -> None:
    metrics = build_metrics()
    llm_queue_length(metrics, 3)
    llm_first_token(metrics, 0.8)
    llm_generation(metrics, tokens=100, seconds=4.0)
    samples = _samples(generate_latest(metrics.registry).decode())
    assert samples[("kb_llm_queue_length", ())] == 3
    assert samples[("kb_llm_time_to_first_token_seconds_sum", ())] == 0.8
    assert samples[("kb_llm_generated_tokens_per_second_sum", ())] == 25.0


def test_a_generation_through_the_app_moves_queue_length_first_token_and_tokens_per_second(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    answer = {"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM(answer))) as client:
        upload = client.post("/v1/documents", files={"files": ("vermerk.md", NOTE.encode())})
        assert upload.status_code == 200
        queue = client.app.state.services.llm_queue  # type: ignore[attr-defined]
        first, second = queue.reserve(), queue.reserve()
        waiting = _samples(client.get("/metrics").text)
        first.release()
        second.release()
        question = {"question": "Wie hoch ist das Pilotbudget des AK KI?"}
        response = client.post("/v1/answers", json=question)
        assert response.status_code == 200 and not response.json()["declined"], response.text
        with client.stream("POST", "/v1/answers", json={**question, "stream": True}) as streamed:
            assert "event: done" in streamed.read().decode()
        text = client.get("/metrics").text
    after = _samples(text)
    assert waiting[("kb_llm_queue_length", ())] == 2
    assert after[("kb_llm_queue_length", ())] == 0
    assert after[("kb_llm_time_to_first_token_seconds_count", ())] == 2
    assert after[("kb_llm_time_to_first_token_seconds_sum", ())] > 0
    assert after[("kb_llm_generated_tokens_per_second_count", ())] == 2
    assert after[("kb_llm_generated_tokens_per_second_sum", ())] > 0
    for leak in (SECRET_TITLE, "vermerk", "Pilotbudget", "320.000"):
        assert leak not in text


def test_json_log_lines_carry_the_request_id(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    probe = logging.getLogger("kb.test.requestlog")
    probe.addHandler(handler)
    probe.setLevel(logging.INFO)
    app = create_app(_settings(tmp_path), embedder=HashEmbedder(), llm=ScriptedLLM())

    @app.get("/probe-log")
    def _probe() -> dict[str, str]:
        probe.info("bearbeitet")
        return {}

    try:
        with TestClient(app) as client:
            client.get("/probe-log", headers={"X-Request-ID": "req-42"})
    finally:
        probe.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-42" and line["message"] == "bearbeitet" and line["level"] == "INFO"
