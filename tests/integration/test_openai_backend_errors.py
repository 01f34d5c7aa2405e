"""The OpenAI-compatible backend against a small real HTTP server on loopback that serves canned responses:
a good stream, HTTP 4xx/5xx, malformed stream lines, a connection cut mid-stream — and such an error in the
middle of an SSE answer through the app."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import LLMSettings, Settings
from service.llm import LLMError, OpenAICompatibleLLM, build_llm
from tests.fakes import HashEmbedder

ANSWER = {"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
NOTE = "# Notiz AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"


def _chunk(text: str) -> bytes:
    event = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def _good_stream() -> list[bytes]:
    text = json.dumps(ANSWER, ensure_ascii=False)
    parts = [_chunk(text[i : i + 9]) for i in range(0, len(text), 9)]
    final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 57, "completion_tokens": len(parts)}}
    return [*parts, f"data: {json.dumps(final)}\n\n".encode(), f"data: {json.dumps(usage)}\n\n".encode()]


class CannedLLMServer(BaseHTTPRequestHandler):
    """`/<scenario>/v1/chat/completions` answers as the scenario says."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.server.requests.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        scenario = self.path.strip("/").split("/")[0]
        if scenario in ("status500", "status401", "status429"):
            status = int(scenario.removeprefix("status"))
            body = json.dumps({"error": {"message": f"canned {status}"}}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        lines = _good_stream()
        if scenario == "malformed":
            lines = [*lines[:2], b"data: {not json\n\n", *lines[2:]]
        elif scenario == "notobject":
            lines = [*lines[:2], b"data: [1, 2]\n\n", *lines[2:]]
        elif scenario == "cut":
            lines = lines[:2]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        if scenario == "cut":  # announce more than is sent, then close: a connection lost mid-stream
            self.send_header("content-length", "100000")
        self.end_headers()
        for line in lines:
            self.wfile.write(line)
            self.wfile.flush()
        if scenario != "cut":
            self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CannedLLMServer)
    httpd.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _llm(server: ThreadingHTTPServer, scenario: str) -> OpenAICompatibleLLM:
    port = server.server_address[1]
    llm = build_llm(
        LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{port}/{scenario}/v1", timeout_s=5)
    )
    assert isinstance(llm, OpenAICompatibleLLM)
    return llm


MESSAGES = [{"role": "user", "content": "Wie hoch ist das Pilotbudget?"}]


def test_a_good_stream_yields_the_text_and_the_servers_token_counts(server: ThreadingHTTPServer) -> None:
    generation = _llm(server, "good").generate(MESSAGES, schema={"type": "object"}, max_tokens=50)
    parts = list(generation)
    assert json.loads("".join(parts)) == ANSWER and len(parts) > 1
    assert generation.stats.prompt_tokens == 57 and generation.stats.completion_tokens == len(parts)
    assert generation.stats.finish_reason == "stop"
    request = server.requests[-1]  # type: ignore[attr-defined]
    assert request["stream"] is True and request["response_format"]["schema"] == {"type": "object"}


@pytest.mark.parametrize("status", [401, 429, 500])
def test_an_http_error_status_is_an_llm_error_naming_it(server: ThreadingHTTPServer, status: int) -> None:
    with pytest.raises(LLMError, match=f"answered {status}") as caught:
        _llm(server, f"status{status}").generate(MESSAGES, schema=None, max_tokens=10).text()
    assert caught.value.code == "llm_failed" and f"canned {status}" in str(caught.value)


@pytest.mark.parametrize("scenario", ["malformed", "notobject"])
def test_a_malformed_stream_line_is_an_llm_error(server: ThreadingHTTPServer, scenario: str) -> None:
    received: list[str] = []
    with pytest.raises(LLMError, match="malformed stream line"):
        for delta in _llm(server, scenario).generate(MESSAGES, schema=None, max_tokens=10):
            received.append(delta)
    assert len(received) == 2  # what came before the bad line was delivered


def test_a_connection_cut_mid_stream_is_an_llm_error(server: ThreadingHTTPServer) -> None:
    with pytest.raises(LLMError) as caught:
        _llm(server, "cut").generate(MESSAGES, schema=None, max_tokens=10).text()
    assert caught.value.code == "llm_failed"


def test_a_malformed_line_in_the_middle_of_an_sse_answer_ends_it_with_an_error_event(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    port = server.server_address[1]
    settings.llm = LLMSettings(
        backend="openai", base_url=f"http://127.0.0.1:{port}/malformed/v1", timeout_s=5
    )
    with TestClient(create_app(settings, embedder=HashEmbedder())) as client:
        assert client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())}).status_code == 200
        question = {"question": "Wie hoch ist das Pilotbudget des AK KI?"}
        with client.stream("POST", "/v1/answers", json={**question, "stream": True}) as response:
            assert response.status_code == 200
            raw = response.read().decode()
        plain = client.post("/v1/answers", json=question)
        assert client.get("/healthz").json()["status"] == "ok"
    blocks = [b.split("\n", 1) for b in raw.strip().split("\n\n")]
    kinds = [b[0].removeprefix("event: ") for b in blocks]
    assert kinds[0] == "sources" and "delta" in kinds and kinds[-1] == "error" and "done" not in kinds
    problem = json.loads(blocks[-1][1].removeprefix("data: "))
    assert problem["code"] == "llm_failed" and problem["status"] == 502
    assert "malformed stream line" in problem["detail"]
    assert plain.status_code == 502
    assert (
        plain.headers["content-type"] == "application/problem+json" and plain.json()["code"] == "llm_failed"
    )
