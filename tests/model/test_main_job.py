"""The main job as a user runs it (CI smoke): `kb ingest corpus` into a fresh store, `kb serve` as a process, the
README's question over HTTP, a cited answer from the position paper with its page, stop. Real models (1.5B).

A native crash of the model (the AMX segfault of a `-march=native` llama.cpp build) turns this red: the answer
is then a 503 `llm_crashed` (worker isolation) or no answer at all (the server died)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.model_files import MODELS, default_model_dir
from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.model

QUESTION = "Wie viele GPUs soll der gemeinsame KI-Cluster mindestens haben?"
POSITION_PAPER = "positionspapier-ki-infrastruktur.pdf"


def _kb() -> list[str]:
    script = Path(sys.executable).with_name("kb")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "service.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(store: Path, port: int) -> dict[str, str]:
    # The developer's own KB_* settings must not leak into the test; this checkout's code runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        KB_STORE__PATH=str(store),
        KB_SERVER__HOST="127.0.0.1",
        KB_SERVER__PORT=str(port),
        KB_LLM__MODEL="qwen2.5-1.5b",
    )
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (default_model_dir() / MODELS["qwen2.5-1.5b"].filename).is_file():
        pytest.fail("the 1.5B model is missing: run `kb models fetch` (make setup) before the model tests")
    work = tmp_path_factory.mktemp("main-job")
    port = _free_port()
    env = _env(work / "data" / "store", port)
    ingest = subprocess.run(
        [*_kb(), "ingest", str(CORPUS)], cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    log = (work / "serve.log").open("w")
    server = subprocess.Popen([*_kb(), "serve"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, f"kb serve ended: {(work / 'serve.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "kb serve did not come up within 300 s"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield url
        assert server.poll() is None, f"kb serve died: {(work / 'serve.log').read_text()[-2000:]}"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_readme_question_gets_a_cited_answer_from_the_running_service(served: str) -> None:
    response = httpx.post(f"{served}/v1/answers", json={"question": QUESTION}, timeout=600)
    assert response.status_code == 200, response.text  # 503 llm_crashed: the model crashed natively
    body = response.json()
    assert not body["declined"], body
    assert "16" in body["answer"] or "sechzehn" in body["answer"].lower(), body["answer"]
    cited = [c for c in body["citations"] if c["doc_id"].endswith(POSITION_PAPER)]
    assert cited, body["citations"]
    assert all(c["page_start"] is not None and c["page_start"] >= 1 for c in cited)
    health = httpx.get(f"{served}/healthz", timeout=5).json()
    assert health["status"] == "ok" and "qwen2.5-coder-1.5b" in health["llm"]
