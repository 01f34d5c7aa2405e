"""The chat routes wait in the model's one queue like `/v1/answers`: 429 before the stream when it is full, `queue`
events while a generation of another request holds the model, the place given up when the stream ends. Real app,
real store; the model edge is scripted (the test is about the queue)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.llm_queue import LLMQueue
from tests.fakes import HashEmbedder, ScriptedLLM

NOTE = "# Notiz AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"
QUESTION = "Wie hoch ist das Pilotbudget des AK KI?"
ANSWER = {"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
OTHER = {"antwort": "Eine andere Antwort.", "quellen": [1]}
REWRITE = {"suchanfrage": "Wie hoch ist das Pilotbudget des AK KI im Jahr 2026?"}
FOLLOW_UP = "Und wie hoch ist es?"
HISTORY = [{"question": "Was plant der AK KI für 2026?", "answer": "Ein Pilotprojekt."}]


class QueryCountingEmbedder(HashEmbedder):
    """The fake embedder, counting the questions embedded (each search embeds its query once)."""

    def __init__(self) -> None:
        super().__init__()
        self.queries = 0

    def embed_query(self, text: str) -> Any:
        self.queries += 1
        return super().embed_query(text)


def _client(
    tmp_path: Path, llm: ScriptedLLM, max_queue: int = 2, embedder: HashEmbedder | None = None
) -> TestClient:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    settings.llm.max_queue = max_queue
    return TestClient(create_app(settings, embedder=embedder or HashEmbedder(), llm=llm))


@contextlib.contextmanager
def _ready(tmp_path: Path, llm: ScriptedLLM) -> Iterator[TestClient]:
    with _client(tmp_path, llm) as client:
        assert client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())}).status_code == 200
        yield client


def _queue(client: TestClient) -> LLMQueue:
    queue: LLMQueue = client.app.state.services.llm_queue  # type: ignore[attr-defined]
    return queue


def _hold_a_generation(queue: LLMQueue, for_s: float) -> None:
    """Another request's generation holds the model (one piece out, the rest pending) and ends after `for_s`."""
    deltas: Any = iter(queue.generate([{"role": "user", "content": "x"}], schema=None, max_tokens=10))
    assert next(deltas)
    assert queue.status().running
    threading.Timer(for_s, deltas.close).start()


def _events(raw: str) -> list[tuple[str, Any]]:
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_a_chat_answer_behind_a_held_generation_shows_its_queue_position_before_the_answer(
    tmp_path: Path,
) -> None:
    # The held generation of another request takes the first reply, the chat answer the second.
    with _ready(tmp_path, ScriptedLLM(OTHER, ANSWER)) as client:
        queue = _queue(client)
        _hold_a_generation(queue, 0.5)
        body = {"question": QUESTION, "stream": True}
        with client.stream("POST", "/v1/chat/answers", json=body) as response:
            assert response.status_code == 200
            events = _events(response.read().decode())
    kinds = [k for k, _ in events]
    assert kinds[:3] == ["query", "sources", "queue"] and kinds[-1] == "done", kinds
    assert events[2][1] == {"position": 1}
    assert kinds.index("queue") < kinds.index("delta")
    assert events[-1][1]["answer"].startswith("Das Pilotbudget")
    assert not queue.status().running and queue.status().waiting == 0  # the place was given up


def test_a_follow_up_waits_in_the_queue_before_its_rewrite_and_keeps_one_place_for_both_generations(
    tmp_path: Path,
) -> None:
    scripted = ScriptedLLM(OTHER, REWRITE, ANSWER)
    with _ready(tmp_path, scripted) as client:
        queue = _queue(client)
        _hold_a_generation(queue, 0.5)
        body = {"question": FOLLOW_UP, "history": HISTORY, "stream": True}
        with client.stream("POST", "/v1/chat/answers", json=body) as response:
            events = _events(response.read().decode())
    kinds = [k for k, _ in events]
    assert kinds[0] == "queue" and events[0][1] == {"position": 1}, kinds
    after_wait = kinds[kinds.index("query") :]
    assert "queue" not in after_wait, "the rewrite and the answer share the one place: no second wait"
    query = next(data for kind, data in events if kind == "query")
    assert query["rewritten"] and query["query"] == REWRITE["suchanfrage"]
    assert kinds[-1] == "done" and len(scripted.calls) == 3
    assert not queue.status().running and queue.status().waiting == 0


def test_the_openai_stream_waits_in_the_queue_with_comments_before_its_content(tmp_path: Path) -> None:
    with _ready(tmp_path, ScriptedLLM(OTHER, ANSWER)) as client:
        queue = _queue(client)
        _hold_a_generation(queue, 0.5)
        body = {"model": "kb-rag", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            raw = response.read().decode()
    assert ": queue" in raw and raw.index(": queue") < raw.index("Pilotbudget")
    assert raw.rstrip().endswith("data: [DONE]")
    assert not queue.status().running and queue.status().waiting == 0


def test_a_full_queue_refuses_chat_and_openai_requests_with_429_and_retry_after(tmp_path: Path) -> None:
    with _client(tmp_path, ScriptedLLM(ANSWER), max_queue=1) as client:
        assert client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())}).status_code == 200
        queue = _queue(client)
        running = queue.reserve()
        assert list(running.wait_turn()) == []
        waiting = queue.reserve()  # max_queue = 1: full now
        openai = {"model": "kb-rag", "messages": [{"role": "user", "content": QUESTION}]}
        requests = [
            ("/v1/chat/answers", {"question": QUESTION, "stream": True}),
            ("/v1/chat/answers", {"question": FOLLOW_UP, "history": HISTORY, "stream": True}),
            ("/v1/chat/answers", {"question": QUESTION}),
            ("/v1/chat/completions", {**openai, "stream": True}),
            ("/v1/chat/completions", openai),
        ]
        for path, body in requests:
            response = client.post(path, json=body)
            assert response.status_code == 429, (path, body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["retry-after"]) >= 1 and response.json()["code"] == "llm_busy"
        assert queue.status().waiting == 1, "a refused request must not keep a place"
        waiting.release()
        running.release()
        ok = client.post("/v1/chat/answers", json={"question": QUESTION, "stream": True})
    assert ok.status_code == 200 and _events(ok.text)[-1][0] == "done"


def test_a_full_queue_refuses_non_streaming_answers_before_searching(tmp_path: Path) -> None:
    """Refused requests must cost nothing while the model works: under 20 load-test users the retries of
    refused non-streaming answers each embedded and searched their question, and the model's throughput fell
    from 11 to 4 answers per level (bench/RESULTS.md (k))."""
    embedder = QueryCountingEmbedder()
    with _client(tmp_path, ScriptedLLM(ANSWER), max_queue=1, embedder=embedder) as client:
        assert client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())}).status_code == 200
        queue = _queue(client)
        running = queue.reserve()
        assert list(running.wait_turn()) == []
        waiting = queue.reserve()
        openai = {"model": "kb-rag", "messages": [{"role": "user", "content": QUESTION}]}
        before = embedder.queries
        for path, body in [
            ("/v1/answers", {"question": QUESTION}),
            ("/v1/chat/answers", {"question": QUESTION}),
            ("/v1/chat/completions", openai),
        ]:
            response = client.post(path, json=body)
            assert response.status_code == 429, (path, response.text)
            assert response.json()["code"] == "llm_busy"
        assert embedder.queries == before, "a refused request searched its question"
        waiting.release()
        running.release()
        ok = client.post("/v1/answers", json={"question": QUESTION})
        assert ok.status_code == 200 and ok.json()["answer"].startswith("Das Pilotbudget")
        assert embedder.queries == before + 1
        assert queue.status().waiting == 0 and not queue.status().running


def test_a_chat_stream_for_an_unknown_conversation_is_404_without_taking_a_place(tmp_path: Path) -> None:
    with _ready(tmp_path, ScriptedLLM(ANSWER)) as client:
        body = {"question": QUESTION, "conversation_id": "gibt-es-nicht", "stream": True}
        response = client.post("/v1/chat/answers", json=body)
        queue = _queue(client)
    assert response.status_code == 404
    assert queue.status().waiting == 0 and not queue.status().running


def test_a_waiting_chat_client_that_goes_away_gives_up_its_place(tmp_path: Path) -> None:
    import socket
    import time

    import httpx
    import uvicorn

    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM(ANSWER))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def wait_for(condition: Any) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    try:
        wait_for(lambda: server.started)
        url = f"http://127.0.0.1:{port}"
        files = {"files": ("notiz.md", NOTE.encode())}
        assert httpx.post(f"{url}/v1/documents", files=files, timeout=30).status_code == 200
        queue: LLMQueue = app.state.services.llm_queue
        holder = queue.reserve()
        assert list(holder.wait_turn()) == []  # another request holds the model
        body = {"question": QUESTION, "stream": True}
        with httpx.stream("POST", f"{url}/v1/chat/answers", json=body, timeout=30) as response:
            lines = response.iter_lines()
            while next(lines) != "event: queue":
                pass
            assert queue.status().waiting == 1
        # The connection is closed while the request waits: its place is given up at the next heartbeat.
        wait_for(lambda: queue.status().waiting == 0)
        holder.release()
        assert not queue.status().running
    finally:
        server.should_exit = True
        thread.join(timeout=30)
