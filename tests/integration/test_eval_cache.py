"""Re-running `kb eval retrieval` on an unchanged corpus parses and embeds nothing (issue 13, item 2).

Real runner, real parse worker, real Qdrant Edge and SQLite caches; the embedder is the deterministic
HashEmbedder (the model is not the subject). What was parsed and embedded is read from the run's own record
(`metrics.json` → `config.index.chunk_cache`, `config.query_vectors`), the counters an evaluator sees.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from eval.chunk_cache import CHUNK_CODE, REPO, FileChunkCache, chunk_environment
from eval.runner import run_retrieval
from ingest.pipeline import discover
from ingest.store import SearchMode
from service.config import Settings
from tests.fakes import HashEmbedder

DOCS = {
    "radwege.md": "# Radwege in der Innenstadt\n\n"
    "Die Verwaltung plant neue Radwege entlang der Kaiserstraße. Der Ausbau beginnt im Frühjahr und kostet "
    "nach der Schätzung des Tiefbauamts rund 1,2 Millionen Euro.\n\n"
    "## Zu Frage 2\n\nDie Anwohner werden in zwei Bürgerversammlungen beteiligt.\n",
    "schulen.md": "# Sanierung der Grundschulen\n\n"
    "Drei Grundschulen erhalten neue Fenster und eine Lüftungsanlage. Die Arbeiten finden in den Sommerferien "
    "statt, damit der Unterricht nicht ausfällt.\n",
    "baeume.md": "# Baumpflanzungen im Stadtgebiet\n\n"
    "Im kommenden Jahr werden 400 Straßenbäume gepflanzt, vor allem klimaresistente Arten wie Zerreiche und "
    "Silberlinde. Das Gartenbauamt gießt die Jungbäume drei Jahre lang.\n",
}
QUESTIONS = [
    ("q1", "Wann beginnt der Ausbau der Radwege?", "radwege.md", "Der Ausbau beginnt im Frühjahr"),
    ("q2", "Wie werden die Anwohner beteiligt?", "radwege.md", "in zwei Bürgerversammlungen beteiligt"),
    ("q3", "Was bekommen die Grundschulen?", "schulen.md", "erhalten neue Fenster und eine Lüftungsanlage"),
    ("q4", "Welche Bäume werden gepflanzt?", "baeume.md", "klimaresistente Arten wie Zerreiche"),
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "gold"
    (folder / "corpus").mkdir(parents=True)
    for name, text in DOCS.items():
        (folder / "corpus" / name).write_text(text, encoding="utf-8")
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for qid, question, doc, passage in QUESTIONS:
            record = {
                "id": qid,
                "question": question,
                "answers": [],
                "relevant": [{"doc": f"corpus/{doc}", "text": passage}],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return folder


def _run(dataset: Path, cache: Path) -> tuple[dict[str, Any], list[str]]:
    lines: list[str] = []
    output = run_retrieval(
        dataset / "corpus",
        dataset / "questions.jsonl",
        k=10,
        mode=SearchMode.HYBRID,
        limit=None,
        cache_dir=cache,
        settings=Settings(),
        log=lines.append,
        embedder=HashEmbedder(),
    )
    return output.metrics, lines


def _scores(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "config"}


def test_second_run_parses_no_file_and_embeds_no_question(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, _ = _run(dataset, cache)
    index = first["config"]["index"]
    assert index["reused"] is False
    assert index["chunk_cache"] | {"seconds": 0} == {"files": 3, "hits": 0, "parsed": 3, "seconds": 0}
    assert first["config"]["query_vectors"] == {"cached": 0, "embedded": 4}

    second, log = _run(dataset, cache)
    again = second["config"]["index"]
    assert again["reused"] is True and again["key"] == index["key"]
    assert again["chunk_cache"]["parsed"] == 0 and again["chunk_cache"]["hits"] == 3
    assert second["config"]["query_vectors"] == {"cached": 4, "embedded": 0}
    assert _scores(second) == _scores(first)
    assert any("3 chunk lists from the per-file cache, 0 parsed" in line for line in log)


def test_touching_a_file_without_changing_it_keeps_the_index(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, _ = _run(dataset, cache)
    touched = dataset / "corpus" / "schulen.md"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns + 10**10, stat.st_mtime_ns + 10**10))

    second, _ = _run(dataset, cache)
    assert second["config"]["index"]["reused"] is True
    assert second["config"]["index"]["key"] == first["config"]["index"]["key"]
    assert second["config"]["index"]["chunk_cache"]["parsed"] == 0


def test_changing_one_file_reparses_only_that_file_and_changes_the_key(dataset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, _ = _run(dataset, cache)
    changed = dataset / "corpus" / "baeume.md"
    changed.write_text(changed.read_text(encoding="utf-8").replace("400", "450"), encoding="utf-8")

    second, _ = _run(dataset, cache)
    index = second["config"]["index"]
    assert index["chunk_cache"]["parsed"] == 1 and index["chunk_cache"]["hits"] == 2
    assert index["key"] != first["config"]["index"]["key"]
    assert index["chunks_sha256"] != first["config"]["index"]["chunks_sha256"]
    assert index["reused"] is False


def test_a_new_chunk_code_version_parses_every_file_again(dataset: Path, tmp_path: Path) -> None:
    """The environment of a code tree whose chunking module differs by one comment matches no stored entry."""
    settings = Settings().ingest
    sources, _ = discover([dataset / "corpus"])
    code = tmp_path / "code"
    for entry in CHUNK_CODE:
        source = REPO / entry
        if source.is_dir():
            shutil.copytree(source, code / entry)
        else:
            (code / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, code / entry)
    with FileChunkCache(tmp_path / "cache") as cache:
        before, stats = cache.corpus_lines(sources, settings, chunk_environment(settings, code))
        assert stats.parsed == 3
        _, stats = cache.corpus_lines(sources, settings, chunk_environment(settings, code))
        assert (stats.hits, stats.parsed) == (3, 0)

        chunking = code / "ingest" / "chunking.py"
        chunking.write_text(chunking.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        after, stats = cache.corpus_lines(sources, settings, chunk_environment(settings, code))
    assert (stats.hits, stats.parsed) == (0, 3)
    assert after == before  # the same chunks: the comment changed no chunk, but nothing stale could be served
