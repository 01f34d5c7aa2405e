"""The OpenAI-compatible backend against llama-cpp-python's own server, started here on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import LLMSettings, Settings
from service.llm import LLMUnavailable, build_llm
from service.model_files import MODELS, default_model_dir, verified_model_path
from service.prompting import answer_schema

pytestmark = pytest.mark.model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _llama_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m llama_cpp.server` with the 0.5B model on a free loopback port: (base URL, process)."""
    model = verified_model_path(MODELS["qwen2.5-0.5b"], default_model_dir())
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "qwen-0.5b",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with _llama_server() as (url, _):
        yield url


def test_schema_constrained_generation_through_the_server(server_url: str) -> None:
    llm = build_llm(LLMSettings(backend="openai", base_url=server_url, api_model="qwen-0.5b", max_tokens=80))
    messages = [
        {"role": "system", "content": "Antworte als JSON mit den Feldern antwort und quellen."},
        {
            "role": "user",
            "content": "Quellen:\n[1] Der Cluster hat 16 GPUs.\n\nFrage: Wie viele GPUs hat der Cluster?",
        },
    ]
    generation = llm.generate(messages, schema=answer_schema(1), max_tokens=80)
    parts = list(generation)
    assert len(parts) > 1, "the answer streams in pieces"
    reply = json.loads("".join(parts))
    assert set(reply) == {"antwort", "quellen"} and reply["quellen"] in ([], [1])
    assert generation.stats.completion_tokens > 0 and generation.stats.first_token_s is not None


def test_unreachable_server_is_a_clear_error() -> None:
    llm = build_llm(
        LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{_free_port()}/v1", connect_timeout_s=2)
    )
    with pytest.raises(LLMUnavailable, match="nicht"):
        llm.generate([{"role": "user", "content": "x"}], schema=None, max_tokens=5).text()


NOTE = (
    "# Protokoll AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026. Es wird für den "
    "Betrieb eines gemeinsamen Sprachmodells und für Schulungen der Mitgliedskommunen verwendet.\n"
)


def test_killing_the_llm_server_mid_stream_ends_the_answer_with_llm_unavailable_and_the_next_gets_503(
    tmp_path: Path,
) -> None:
    import threading

    import uvicorn

    from tests.fakes import HashEmbedder

    with _llama_server() as (url, proc):
        settings = Settings()
        settings.store.path = tmp_path / "store"
        settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
        settings.llm = LLMSettings(
            backend="openai", base_url=url, api_model="qwen-0.5b", max_tokens=48, retry_backoff_s=0.2
        )
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, embedder=HashEmbedder()), host="127.0.0.1", port=port, log_level="error"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 60
            while not server.started:
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.05)
            service = f"http://127.0.0.1:{port}"
            files = {"files": ("protokoll.md", NOTE.encode())}
            assert httpx.post(f"{service}/v1/documents", files=files, timeout=60).status_code == 200
            question = {"question": "Wofür wird das Pilotbudget des AK KI verwendet?"}
            kinds: list[str] = []
            data: list[str] = []
            with httpx.stream(
                "POST", f"{service}/v1/answers", json={**question, "stream": True}, timeout=60
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kinds.append(line.removeprefix("event: "))
                        if kinds[-1] == "delta" and proc.poll() is None:
                            proc.kill()  # the model server dies in the middle of the answer
                    elif line.startswith("data: "):
                        data.append(line.removeprefix("data: "))
            assert proc.poll() is not None, f"the server was not killed mid-stream: {kinds}"
            assert "delta" in kinds and kinds[-1] == "error" and "done" not in kinds, kinds
            problem = json.loads(data[-1])
            assert problem["code"] == "llm_unavailable" and problem["status"] == 503
            assert "127.0.0.1" not in data[-1] and "http" not in problem["detail"]

            started = time.monotonic()
            after = httpx.post(f"{service}/v1/answers", json=question, timeout=30)
            took = time.monotonic() - started
            assert after.status_code == 503 and after.headers["content-type"] == "application/problem+json"
            assert after.json()["code"] == "llm_unavailable" and int(after.headers["retry-after"]) >= 1
            assert took < 5.0, f"the request after the crash took {took:.1f} s"
        finally:
            server.should_exit = True
            thread.join(timeout=30)
