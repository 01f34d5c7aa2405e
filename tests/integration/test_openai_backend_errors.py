"""The OpenAI-compatible backend against a small real HTTP server on loopback that serves canned responses:
a good stream, HTTP 4xx/5xx, malformed stream lines, a connection cut mid-stream, a server that fails once or
stalls once, a refused connection — retries before the first token, the circuit breaker, and such errors in
the middle of an SSE answer through the app."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import LLMSettings, Settings
from service.llm import LLMError, LLMUnavailable, OpenAICompatibleLLM, build_llm
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
        # `once500-<id>` / `stall-<id>`: the first request of that id fails (500) or stalls; later ones are good.
        kind = scenario.partition("-")[0]
        with self.server.lock:  # type: ignore[attr-defined]
            seen: dict[str, int] = self.server.seen  # type: ignore[attr-defined]
            seen[scenario] = seen.get(scenario, 0) + 1
            first = seen[scenario] == 1
        if kind == "stall" and first:
            time.sleep(1.0)
        if scenario in ("status500", "status401", "status429", "status503") or (kind == "once500" and first):
            status = int(scenario.removeprefix("status")) if kind != "once500" else 500
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
        elif scenario == "interrupted":  # "[DONE]" after two deltas, no finish reason: llama_cpp.server's
            lines = lines[:2]  # answer to a request that another one interrupted (interrupt_requests)
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
    httpd.seen = {}  # type: ignore[attr-defined]
    httpd.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


FAST = {"read_timeout_s": 5, "retry_backoff_s": 0.01, "retry_backoff_max_s": 0.05}


def _llm(server: ThreadingHTTPServer, scenario: str, **settings: object) -> OpenAICompatibleLLM:
    port = server.server_address[1]
    llm = build_llm(
        LLMSettings.model_validate(
            {"backend": "openai", "base_url": f"http://127.0.0.1:{port}/{scenario}/v1", **FAST, **settings}
        )
    )
    assert isinstance(llm, OpenAICompatibleLLM)
    return llm


def _served(server: ThreadingHTTPServer, scenario: str) -> int:
    return int(server.seen.get(scenario, 0))  # type: ignore[attr-defined]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(tmp_path: Path, base_url: str, **llm: object) -> Settings:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    settings.llm = LLMSettings.model_validate({"backend": "openai", "base_url": base_url, **FAST, **llm})
    return settings


MESSAGES = [{"role": "user", "content": "Wie hoch ist das Pilotbudget?"}]


def test_a_good_stream_yields_the_text_and_the_servers_token_counts(server: ThreadingHTTPServer) -> None:
    generation = _llm(server, "good").generate(MESSAGES, schema={"type": "object"}, max_tokens=50)
    parts = list(generation)
    assert json.loads("".join(parts)) == ANSWER and len(parts) > 1
    assert generation.stats.prompt_tokens == 57 and generation.stats.completion_tokens == len(parts)
    assert generation.stats.finish_reason == "stop"
    request = server.requests[-1]  # type: ignore[attr-defined]
    assert request["stream"] is True and request["response_format"]["schema"] == {"type": "object"}


def test_a_client_error_status_is_an_llm_error_naming_it_and_not_retried(server: ThreadingHTTPServer) -> None:
    before = _served(server, "status401")
    with pytest.raises(LLMError, match="answered 401") as caught:
        _llm(server, "status401").generate(MESSAGES, schema=None, max_tokens=10).text()
    assert caught.value.code == "llm_failed" and "canned 401" in str(caught.value)
    assert _served(server, "status401") == before + 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_overloaded_or_failing_server_is_retried_then_unavailable_without_its_details(
    server: ThreadingHTTPServer, status: int
) -> None:
    scenario = f"status{status}"
    before = _served(server, scenario)
    with pytest.raises(LLMUnavailable) as caught:
        _llm(server, scenario, retries=2).generate(MESSAGES, schema=None, max_tokens=10).text()
    assert _served(server, scenario) == before + 3  # the first attempt and two retries
    error = caught.value
    assert error.code == "llm_unavailable" and error.http_status == 503 and error.retry_after_s >= 1
    assert "canned" not in str(error) and "127.0.0.1" not in str(error)


def test_a_server_error_before_the_first_token_is_retried_and_answered(server: ThreadingHTTPServer) -> None:
    generation = _llm(server, "once500-a").generate(MESSAGES, schema=None, max_tokens=50)
    assert json.loads(generation.text()) == ANSWER
    assert _served(server, "once500-a") == 2


def test_a_server_silent_past_the_read_timeout_before_the_first_byte_is_retried(
    server: ThreadingHTTPServer,
) -> None:
    started = time.monotonic()
    generation = _llm(server, "stall-a", read_timeout_s=0.3).generate(MESSAGES, schema=None, max_tokens=50)
    assert json.loads(generation.text()) == ANSWER
    assert _served(server, "stall-a") == 2 and time.monotonic() - started < 1.0  # did not wait out the stall


def test_the_name_of_the_backend_does_not_carry_the_servers_address(server: ThreadingHTTPServer) -> None:
    assert _llm(server, "good").name == "openai/default"


@pytest.mark.parametrize("scenario", ["malformed", "notobject"])
def test_a_malformed_stream_line_is_an_llm_error(server: ThreadingHTTPServer, scenario: str) -> None:
    received: list[str] = []
    with pytest.raises(LLMError, match="malformed stream line"):
        for delta in _llm(server, scenario).generate(MESSAGES, schema=None, max_tokens=10):
            received.append(delta)
    assert len(received) == 2  # what came before the bad line was delivered


def test_a_connection_cut_after_the_first_token_is_unavailable_and_not_retried(
    server: ThreadingHTTPServer,
) -> None:
    before = _served(server, "cut")
    received: list[str] = []
    with pytest.raises(LLMUnavailable) as caught:
        for delta in _llm(server, "cut", retries=3).generate(MESSAGES, schema=None, max_tokens=10):
            received.append(delta)
    assert caught.value.code == "llm_unavailable" and "abgebrochen" in str(caught.value)
    assert len(received) == 2 and _served(server, "cut") == before + 1


def test_a_reply_ended_without_a_finish_reason_is_unavailable_not_a_silently_cut_text(
    server: ThreadingHTTPServer,
) -> None:
    received: list[str] = []
    with pytest.raises(LLMUnavailable):
        for delta in _llm(server, "interrupted", retries=0).generate(MESSAGES, schema=None, max_tokens=10):
            received.append(delta)
    assert len(received) == 2


def test_a_malformed_line_in_the_middle_of_an_sse_answer_ends_it_with_an_error_event(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    port = server.server_address[1]
    settings = _settings(tmp_path, f"http://127.0.0.1:{port}/malformed/v1")
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


def _events(raw: str) -> list[tuple[str, dict[str, object]]]:
    blocks = [b.split("\n", 1) for b in raw.strip().split("\n\n")]
    return [(b[0].removeprefix("event: "), json.loads(b[1].removeprefix("data: "))) for b in blocks]


def _upload(client: TestClient) -> None:
    assert client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())}).status_code == 200


QUESTION = {"question": "Wie hoch ist das Pilotbudget des AK KI?"}


def test_a_refused_connection_is_a_quick_503_problem_naming_no_host(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    settings = _settings(tmp_path, f"http://127.0.0.1:{port}/v1", retries=2)
    with TestClient(create_app(settings, embedder=HashEmbedder())) as client:
        _upload(client)
        started = time.monotonic()
        plain = client.post("/v1/answers", json=QUESTION)
        took = time.monotonic() - started
        with client.stream("POST", "/v1/answers", json={**QUESTION, "stream": True}) as response:
            raw = response.read().decode()
    assert took < 5.0, f"a refused connection took {took:.1f} s"
    assert plain.status_code == 503 and plain.headers["content-type"] == "application/problem+json"
    assert int(plain.headers["retry-after"]) >= 1
    body = plain.json()
    assert body["code"] == "llm_unavailable" and "Sprachmodell" in body["detail"]
    for text in (plain.text, raw):
        assert "127.0.0.1" not in text and str(port) not in text and "Traceback" not in text
        assert "http://" not in text
    events = _events(raw)
    assert events[0][0] == "sources" and events[-1][0] == "error"
    assert events[-1][1]["code"] == "llm_unavailable" and events[-1][1]["status"] == 503


def test_a_server_error_before_the_first_token_is_retried_and_the_answer_served(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    port = server.server_address[1]
    settings = _settings(tmp_path, f"http://127.0.0.1:{port}/once500-app/v1")
    with TestClient(create_app(settings, embedder=HashEmbedder())) as client:
        _upload(client)
        response = client.post("/v1/answers", json=QUESTION)
    assert response.status_code == 200, response.text
    assert response.json()["answer"].startswith("Das Pilotbudget") and _served(server, "once500-app") == 2


def test_the_breaker_opens_after_n_failures_and_then_answers_503_at_once(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    port = server.server_address[1]
    settings = _settings(
        tmp_path, f"http://127.0.0.1:{port}/status500/v1", retries=0, breaker_failures=2, breaker_open_s=60
    )
    with TestClient(create_app(settings, embedder=HashEmbedder())) as client:
        _upload(client)
        before = _served(server, "status500")
        failed = [client.post("/v1/answers", json=QUESTION) for _ in range(2)]
        assert _served(server, "status500") == before + 2
        started = time.monotonic()
        fast = client.post("/v1/answers", json=QUESTION)
        took = time.monotonic() - started
        with client.stream("POST", "/v1/answers", json={**QUESTION, "stream": True}) as response:
            raw = response.read().decode()
    assert all(r.status_code == 503 and r.json()["code"] == "llm_unavailable" for r in failed)
    assert fast.status_code == 503 and fast.json()["code"] == "llm_unavailable"
    assert _served(server, "status500") == before + 2, "the open breaker must not touch the server"
    assert took < 1.0 and 50 <= int(fast.headers["retry-after"]) <= 60
    assert _events(raw)[-1][1]["code"] == "llm_unavailable"


def test_a_connection_cut_mid_answer_ends_the_sse_stream_with_llm_unavailable(
    server: ThreadingHTTPServer, tmp_path: Path
) -> None:
    port = server.server_address[1]
    settings = _settings(tmp_path, f"http://127.0.0.1:{port}/cut/v1")
    with TestClient(create_app(settings, embedder=HashEmbedder())) as client:
        _upload(client)
        with client.stream("POST", "/v1/answers", json={**QUESTION, "stream": True}) as response:
            raw = response.read().decode()
        plain = client.post("/v1/answers", json=QUESTION)
    kinds = [k for k, _ in _events(raw)]
    assert "delta" in kinds and kinds[-1] == "error" and "done" not in kinds
    assert _events(raw)[-1][1]["code"] == "llm_unavailable"
    assert plain.status_code == 503 and plain.json()["code"] == "llm_unavailable"
    assert "retry-after" in plain.headers
