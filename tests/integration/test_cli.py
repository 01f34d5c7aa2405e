"""The `kb` command line, in process (typer's runner) and against a running `kb serve` that owns the store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from kb_cli.main import app
from tests.conftest import CORPUS, REPO

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"KB_STORE__PATH": str(tmp_path / "store"), "KB_SERVER__PORT": str(_free_port())}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "protokoll.md").write_bytes((CORPUS / "protokoll-ak-ki-2025-11-20.md").read_bytes())
    (folder / "kaputt.pdf").write_bytes(b"%PDF-1.7\nnot really a pdf")
    return folder


def test_ingest_reports_failures_and_exits_1_then_search_and_delete(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = runner.invoke(app, ["ingest", str(_docs(tmp_path)), "--json"])
    assert result.exit_code == 1
    outcomes = {Path(o["path"]).name: o for o in map(json.loads, result.stdout.strip().splitlines())}
    assert outcomes["protokoll.md"]["status"] == "ingested"
    assert outcomes["kaputt.pdf"]["code"] == "corrupt_file"

    found = json.loads(runner.invoke(app, ["search", "Pilotbudget Wissensassistent", "--json"]).stdout)
    assert found["hits"][0]["doc_id"] == "docs/protokoll.md"

    listed = json.loads(runner.invoke(app, ["documents", "--json"]).stdout)
    assert [d["doc_id"] for d in listed] == ["docs/protokoll.md"]
    decisions = json.loads(runner.invoke(app, ["decisions", "--json"]).stdout)
    assert any("320.000" in d["text"] for d in decisions)

    assert runner.invoke(app, ["delete", "docs/protokoll.md"]).exit_code == 0
    assert runner.invoke(app, ["delete", "docs/protokoll.md"]).exit_code == 1


def test_summary_table_for_people(env: dict[str, str], tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(_docs(tmp_path))])
    assert "ingest summary" in result.stdout and "corrupt_file" in result.stdout


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[str]:
    """`kb serve` in a subprocess; it owns the store while it runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb_cli", "serve"],
        cwd=REPO,
        env={**os.environ, **env, "KB_LLM__MODEL": "qwen2.5-0.5b", "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['KB_SERVER__PORT']}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("kb serve did not come up")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.model
def test_cli_goes_through_the_running_service(served: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(_docs(tmp_path))])
    assert "uploading through it" in result.output  # a notice, on stderr
    assert result.exit_code == 1  # the broken PDF
    docs = httpx.get(f"{served}/v1/documents").json()
    assert [d["doc_id"] for d in docs] == ["docs/protokoll.md"]
    found = json.loads(runner.invoke(app, ["search", "Pilotbudget", "--json"]).stdout)
    assert found["hits"][0]["doc_id"] == "docs/protokoll.md"
