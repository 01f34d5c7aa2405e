"""The OpenAI-compatible backend against llama-cpp-python's own server, started here on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from service.config import LLMSettings
from service.llm import LLMError, build_llm
from service.model_files import MODELS, default_model_dir, verified_model_path
from service.prompting import answer_schema

pytestmark = pytest.mark.model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
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
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
        LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{_free_port()}/v1", timeout_s=2)
    )
    with pytest.raises(LLMError, match="unreachable"):
        llm.generate([{"role": "user", "content": "x"}], schema=None, max_tokens=5).text()
