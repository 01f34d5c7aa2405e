"""The one bounded queue in front of the model: order, 429 with Retry-After when full, queue position on the SSE
stream, and a consumer that goes away frees its place. The model edge is a gated fake (the test is about the
queue); the HTTP part runs through the real app with a real store."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.llm import Generation, GenerationStats, LLMBusy
from service.llm_queue import LLMQueue
from tests.fakes import HashEmbedder

ANSWER = json.dumps({"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}, ensure_ascii=False)
NOTE = "# Notiz AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"
QUESTION = {"question": "Wie hoch ist das Pilotbudget des AK KI?"}


class GatedLLM:
    """A slow scripted model: each generation streams `ANSWER` once its gate opens; records what happened."""

    name = "test/gated"

    def __init__(self) -> None:
        self.gates: list[threading.Event] = []
        self.started: list[int] = []
        self.closed: list[int] = []
        self.finished: list[int] = []
        self.free = threading.Event()  # set: generations need no gate
        self.delay_s = 0.0  # between pieces, once the gate is open
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def generate(
        self, messages: Sequence[dict[str, str]], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        with self._lock:
            number = len(self.gates)
            gate = threading.Event()
            self.gates.append(gate)
        stats = GenerationStats()

        def deltas() -> Iterator[str]:
            self.started.append(number)
            try:
                for i in range(0, len(ANSWER), 8):
                    while not (gate.is_set() or self.free.is_set()):
                        time.sleep(0.005)
                    stats.completion_tokens += 1
                    time.sleep(self.delay_s)
                    yield ANSWER[i : i + 8]
                self.finished.append(number)
            except GeneratorExit:
                self.closed.append(number)
                raise

        return Generation(deltas(), stats)


def _wait_for(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _consume(llm: Any, out: list[object]) -> threading.Thread:
    def run() -> None:
        try:
            out.append(llm.generate([{"role": "user", "content": "x"}], schema=None, max_tokens=10).text())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_generations_run_one_at_a_time_in_arrival_order() -> None:
    model = GatedLLM()
    queue = LLMQueue(model, max_queue=4)
    results: list[list[object]] = [[], [], []]
    threads = []
    for i in range(3):
        threads.append(_consume(queue, results[i]))
        _wait_for(lambda i=i: queue.status().waiting + queue.status().running == i + 1)
    _wait_for(lambda: model.started == [0])
    assert queue.status().running and queue.status().waiting == 2
    for i in range(3):
        # The next generation is created only once the queue lets its request through.
        _wait_for(lambda i=i: len(model.gates) > i)
        model.gates[i].set()
        _wait_for(lambda i=i: len(model.finished) == i + 1)
        assert model.started == list(range(i + 1)) or model.started == list(range(i + 2))
    for thread in threads:
        thread.join(timeout=10)
    assert model.finished == [0, 1, 2] and all(r == [ANSWER] for r in results)
    assert queue.status().waiting == 0 and not queue.status().running


def test_a_queue_with_two_slots_runs_two_generations_at_once_and_the_third_waits() -> None:
    model = GatedLLM()
    queue = LLMQueue(model, max_queue=4, slots=2)
    results: list[list[object]] = [[], [], []]
    threads = []
    for i in range(3):
        threads.append(_consume(queue, results[i]))
        _wait_for(lambda i=i: len(model.gates) >= min(i + 1, 2))
    _wait_for(lambda: sorted(model.started) == [0, 1])
    assert queue.status().waiting == 1
    third = queue.reserve()
    assert third.position() == 2  # one waits before it, and both slots are taken
    third.release()
    model.gates[1].set()  # the second finishes first: its slot goes to the waiting one
    _wait_for(lambda: len(model.gates) == 3)
    _wait_for(lambda: 2 in model.started)
    assert model.finished == [1]
    model.free.set()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(model.finished) == [0, 1, 2] and all(r == [ANSWER] for r in results)
    assert queue.status().waiting == 0 and not queue.status().running


def test_a_full_queue_refuses_at_once_with_llm_busy_and_a_retry_after() -> None:
    queue = LLMQueue(GatedLLM(), max_queue=1)
    running = queue.reserve()
    assert list(running.wait_turn()) == []  # the model was free
    waiting = queue.reserve()
    assert waiting.position() == 1
    with pytest.raises(LLMBusy) as caught:
        queue.reserve()
    assert caught.value.code == "llm_busy" and caught.value.http_status == 429
    assert caught.value.retry_after_s >= 1
    waiting.release()  # a place given up is free again
    queue.reserve()


def test_a_waiting_consumer_that_goes_away_gives_up_its_place() -> None:
    queue = LLMQueue(GatedLLM(), max_queue=1)
    running = queue.reserve()
    assert list(running.wait_turn()) == []
    leaving = queue.reserve()
    positions = leaving.wait_turn(heartbeat_s=0.05)
    assert next(positions) == 1
    assert next(positions) == 1  # the heartbeat: a waiting consumer regains control to notice it is gone
    positions.close()
    leaving.release()  # what the SSE stream's `finally` does when its client disconnects
    assert queue.status().waiting == 0
    queue.reserve()  # its place is free for another request


def test_closing_a_running_generation_stops_the_model_and_frees_it() -> None:
    model = GatedLLM()
    model.free.set()
    queue = LLMQueue(model, max_queue=2)
    deltas = iter(queue.generate([{"role": "user", "content": "x"}], schema=None, max_tokens=10))
    assert next(deltas)
    assert queue.status().running
    deltas.close()  # type: ignore[attr-defined]
    assert model.closed == [0] and not queue.status().running
    assert queue.generate([{"role": "user", "content": "x"}], schema=None, max_tokens=10).text() == ANSWER


# -- through the HTTP app ---------------------------------------------------------------------------------
@pytest.fixture
def app_and_model(tmp_path: Path) -> Iterator[tuple[TestClient, GatedLLM]]:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    settings.llm.max_queue = 1
    model = GatedLLM()
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=model)) as client:
        response = client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        assert response.status_code == 200, response.text
        yield client, model


def test_overflow_request_gets_429_problem_with_retry_after(
    app_and_model: tuple[TestClient, GatedLLM],
) -> None:
    client, model = app_and_model
    queue = client.app.state.services.llm_queue  # type: ignore[attr-defined]
    running = queue.reserve()
    for _ in running.wait_turn():
        pass
    waiting = queue.reserve()  # max_queue = 1: the queue is full now
    for body in (QUESTION, {**QUESTION, "stream": True}):
        response = client.post("/v1/answers", json=body)
        assert response.status_code == 429, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["code"] == "llm_busy"
    waiting.release()
    running.release()
    model.free.set()
    assert client.post("/v1/answers", json=QUESTION).json()["answer"].startswith("Das Pilotbudget")


def test_a_waiting_sse_answer_reports_its_queue_position(app_and_model: tuple[TestClient, GatedLLM]) -> None:
    client, model = app_and_model
    queue = client.app.state.services.llm_queue  # type: ignore[attr-defined]
    running = queue.reserve()
    for _ in running.wait_turn():
        pass
    model.free.set()
    # The test client returns the body once the app is done: free the model while the request waits.
    threading.Timer(0.5, running.release).start()
    with client.stream("POST", "/v1/answers", json={**QUESTION, "stream": True}) as response:
        raw = response.read().decode()
    events = [
        (
            block.split("\n")[0].removeprefix("event: "),
            json.loads(block.split("\n")[1].removeprefix("data: ")),
        )
        for block in raw.strip().split("\n\n")
    ]
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[1] == "queue" and kinds[-1] == "done", kinds
    assert events[1][1] == {"position": 1}
    assert kinds.index("queue") < kinds.index("delta")
    assert events[-1][1]["citations"][0]["doc_id"] == "notiz.md"


def test_an_llm_error_in_the_middle_of_an_sse_answer_ends_with_an_error_event(tmp_path: Path) -> None:
    class FailingLLM(GatedLLM):
        def generate(
            self, messages: Sequence[dict[str, str]], *, schema: dict[str, Any] | None, max_tokens: int
        ) -> Generation:
            def deltas() -> Iterator[str]:
                yield '{"antwort": "Das Pilot'
                from service.llm import LLMError

                raise LLMError("LLM server answered 500: overloaded")

            return Generation(deltas())

    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=FailingLLM())) as client:
        client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        with client.stream("POST", "/v1/answers", json={**QUESTION, "stream": True}) as response:
            raw = response.read().decode()
        assert client.get("/healthz").status_code == 200
        json_answer = client.post("/v1/answers", json=QUESTION)
    blocks = [b.split("\n") for b in raw.strip().split("\n\n")]
    kinds = [b[0].removeprefix("event: ") for b in blocks]
    assert kinds == ["sources", "delta", "error"], kinds
    problem = json.loads(blocks[-1][1].removeprefix("data: "))
    assert problem["code"] == "llm_failed" and problem["status"] == 502
    assert "overloaded" in problem["detail"]
    assert json_answer.status_code == 502 and json_answer.json()["code"] == "llm_failed"


def test_a_client_that_disconnects_from_the_sse_stream_stops_its_generation(tmp_path: Path) -> None:
    import socket

    import httpx
    import uvicorn

    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0
    model = GatedLLM()
    model.delay_s = 0.3
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, embedder=HashEmbedder(), llm=model),
            host="127.0.0.1",
            port=port,
            log_level="error",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started)
        url = f"http://127.0.0.1:{port}"
        files = {"files": ("notiz.md", NOTE.encode())}
        assert httpx.post(f"{url}/v1/documents", files=files, timeout=30).status_code == 200
        with httpx.stream(
            "POST", f"{url}/v1/answers", json={**QUESTION, "stream": True}, timeout=30
        ) as response:
            lines = response.iter_lines()
            assert next(lines) == "event: sources"
            _wait_for(lambda: model.started == [0])  # generating (held at its gate)
        # The connection is closed: the client went away mid-answer.
        model.gates[0].set()
        _wait_for(lambda: model.closed == [0], timeout_s=15)
        assert model.finished == []
        queue = server.config.app.state.services.llm_queue  # type: ignore[attr-defined]
        _wait_for(lambda: not queue.status().running and queue.status().waiting == 0)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
