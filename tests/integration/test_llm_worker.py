"""The model in its worker process (the real small GGUF): streaming, cancel, and a native crash that fails one
request (`llm_crashed`) while the next one runs on a restarted worker — also through the HTTP app."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import LLMSettings, Settings
from service.llm import LLMCrashed, LLMTimeout, build_llm
from service.llm_worker import WorkerLLM, _Closed, parse_frame
from service.model_files import MODELS, default_model_dir
from tests.fakes import HashEmbedder

SMALL = "qwen2.5-0.5b"
COUNT = [{"role": "user", "content": "Zähle auf Deutsch von eins bis zwanzig, ein Wort pro Zeile."}]
NOTE = "# Notiz AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"


def _model_present() -> bool:
    return (default_model_dir() / MODELS[SMALL].filename).is_file()


def _settings(**llm: object) -> LLMSettings:
    return LLMSettings(model=SMALL, n_ctx=2048, **llm)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerLLM]:
    if not _model_present():
        pytest.skip("small model not fetched")
    llm = build_llm(_settings())
    assert isinstance(llm, WorkerLLM)
    yield llm
    llm.close()


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _kill_once_busy(pid_of: Callable[[], int | None], *, cpu_s: float = 0.3, timeout_s: float = 120) -> int:
    """SIGSEGV the worker once it has spent `cpu_s` of CPU after this call: it is inside a generation."""
    deadline = time.monotonic() + timeout_s
    while (pid := pid_of()) is None:
        assert time.monotonic() < deadline, "no worker process"
        time.sleep(0.01)
    start = _cpu_ticks(pid)
    ticks = int(cpu_s * os.sysconf("SC_CLK_TCK"))
    while _cpu_ticks(pid) - start < ticks:
        assert time.monotonic() < deadline, "the worker never got busy"
        time.sleep(0.01)
    os.kill(pid, signal.SIGSEGV)
    return pid


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b'["delta", 1, "x"]',
        b'{"type": "delta", "id": "1", "text": "x"}',
        b'{"type": "exec", "id": 1}',
        b'{"type": "done", "id": 1, "prompt_tokens": true, "completion_tokens": 1, "finish_reason": null}',
        b"\x80\x05\x95",  # a pickle
    ],
)
def test_worker_frames_other_than_the_documented_json_objects_are_rejected(line: bytes) -> None:
    with pytest.raises(_Closed):
        parse_frame(line)


def test_documented_worker_frames_are_accepted() -> None:
    assert parse_frame(b'{"type": "delta", "id": 3, "text": "Hallo"}')["text"] == "Hallo"
    done = parse_frame(
        b'{"type": "done", "id": 3, "prompt_tokens": 12, "completion_tokens": 4, "finish_reason": "stop"}'
    )
    assert done["completion_tokens"] == 4


@pytest.mark.model
def test_tokens_stream_from_a_separate_worker_process(worker: WorkerLLM) -> None:
    assert worker.pid is not None and worker.pid != os.getpid()
    generation = worker.generate(COUNT, schema=None, max_tokens=40)
    parts = list(generation)
    assert len(parts) > 5, "tokens arrive one by one"
    assert "zwei" in "".join(parts).lower()
    stats = generation.stats
    assert stats.prompt_tokens > 10 and stats.completion_tokens == len(parts)
    assert stats.first_token_s is not None and stats.total_s >= stats.first_token_s
    assert worker.count_tokens("Wie viele GPUs soll der Cluster haben?") > 5


@pytest.mark.model
def test_schema_constrains_the_workers_output_to_json(worker: WorkerLLM) -> None:
    schema = {
        "type": "object",
        "properties": {"antwort": {"type": "string"}},
        "required": ["antwort"],
    }
    messages = [{"role": "user", "content": "Antworte als JSON: Wie heißt die Hauptstadt von Frankreich?"}]
    reply = json.loads(worker.generate(messages, schema=schema, max_tokens=40).text())
    assert isinstance(reply["antwort"], str)


@pytest.mark.model
def test_sigsegv_mid_stream_fails_with_llm_crashed_and_the_next_request_gets_a_new_worker(
    worker: WorkerLLM,
) -> None:
    crashed_pid = worker.pid
    assert crashed_pid is not None
    generation = worker.generate(COUNT, schema=None, max_tokens=60)
    received: list[str] = []
    with pytest.raises(LLMCrashed, match="SIGSEGV") as caught:
        for delta in generation:
            received.append(delta)
            if len(received) == 3:
                os.kill(crashed_pid, signal.SIGSEGV)
    assert caught.value.code == "llm_crashed" and caught.value.http_status == 503
    assert len(received) >= 3
    again = worker.generate(COUNT, schema=None, max_tokens=20).text()
    assert again.strip()
    assert worker.pid is not None and worker.pid != crashed_pid


@pytest.mark.model
def test_a_worker_killed_while_idle_is_replaced_without_failing_the_request(worker: WorkerLLM) -> None:
    idle_pid = worker.pid
    assert idle_pid is not None
    os.kill(idle_pid, signal.SIGKILL)
    time.sleep(0.2)
    assert worker.generate(COUNT, schema=None, max_tokens=10).text().strip()
    assert worker.pid not in (None, idle_pid)


@pytest.mark.model
def test_closing_a_generation_cancels_it_in_the_worker_which_stays_up(worker: WorkerLLM) -> None:
    pid = worker.pid
    generation = worker.generate(COUNT, schema=None, max_tokens=200)
    deltas = iter(generation)
    first = [next(deltas), next(deltas)]
    started = time.perf_counter()
    deltas.close()  # type: ignore[attr-defined]  # what a client disconnect does
    cancel_s = time.perf_counter() - started
    assert first and cancel_s < 5, f"cancelling took {cancel_s:.1f} s"
    # The same worker serves the next request, and its output is not mixed with the cancelled one's.
    following = worker.generate(COUNT, schema=None, max_tokens=30)
    text = following.text()
    assert worker.pid == pid
    assert following.stats.completion_tokens <= 30 and text.strip()


# -- through the HTTP app ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    if not _model_present():
        pytest.skip("small model not fetched")
    settings = Settings()
    settings.store.path = tmp_path_factory.mktemp("llm-worker") / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    settings.llm = _settings(max_tokens=120)
    with TestClient(create_app(settings, embedder=HashEmbedder(), preload_llm=True)) as c:
        response = c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        assert response.status_code == 200, response.text
        yield c


def _worker_pid(client: TestClient) -> int | None:
    inner = client.app.state.services.llm_queue.inner  # type: ignore[attr-defined]
    assert isinstance(inner, WorkerLLM)
    return inner.pid


QUESTION = {"question": "Wie hoch ist das Pilotbudget des AK KI?"}


@pytest.mark.model
def test_crash_during_a_json_answer_is_a_503_problem_and_the_service_lives_on(client: TestClient) -> None:
    assert client.post("/v1/answers", json=QUESTION).status_code == 200  # warm: the worker runs
    replies: list[object] = []
    request = threading.Thread(target=lambda: replies.append(client.post("/v1/answers", json=QUESTION)))
    request.start()
    killed = _kill_once_busy(lambda: _worker_pid(client))
    request.join(timeout=120)
    response = replies[0]
    assert response.status_code == 503, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert problem["code"] == "llm_crashed" and problem["status"] == 503
    assert "SIGSEGV" in problem["detail"] and "/" not in problem["detail"]
    after = client.post("/v1/answers", json=QUESTION)
    assert after.status_code == 200 and _worker_pid(client) not in (None, killed)
    assert client.get("/healthz").status_code == 200


@pytest.mark.model
def test_crash_during_an_sse_answer_ends_the_stream_with_an_error_event(client: TestClient) -> None:
    # The test client hands over the body when the app is done: the crash is caused while the request runs.
    killer = threading.Thread(target=_kill_once_busy, args=(lambda: _worker_pid(client),))
    killer.start()
    events: list[tuple[str, dict[str, object]]] = []
    with client.stream("POST", "/v1/answers", json={**QUESTION, "stream": True}) as response:
        assert response.status_code == 200
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    killer.join(timeout=120)
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "error" and "done" not in kinds
    problem = events[-1][1]
    assert problem["code"] == "llm_crashed" and problem["status"] == 503
    assert problem["type"] == "urn:kb:problem:llm_crashed"
    assert client.post("/v1/answers", json=QUESTION).status_code == 200


@pytest.mark.model
def test_a_hung_worker_fails_the_request_with_llm_timeout_and_is_replaced() -> None:
    if not _model_present():
        pytest.skip("small model not fetched")
    # Generous: on a 2-core machine shared with other jobs even the small model can be silent for many seconds.
    llm = build_llm(_settings(worker_stall_s=60))
    assert isinstance(llm, WorkerLLM)
    try:
        hung = llm.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)  # alive but silent: what a deadlock in native code looks like
        started = time.monotonic()
        with pytest.raises(LLMTimeout) as caught:
            llm.generate(COUNT, schema=None, max_tokens=10).text()
        assert caught.value.code == "llm_timeout" and caught.value.http_status == 504
        assert time.monotonic() - started < 120
        assert llm.generate(COUNT, schema=None, max_tokens=10).text().strip()
        assert llm.pid not in (None, hung)
    finally:
        llm.close()
