"""`kb eval drafts` end to end on a one-topic gold file over corpus/: real Qdrant Edge index (cached), the
service's drafting path in process, the real checker and scoring. Only the model edge is scripted
(HashEmbedder, ScriptedLLM): the test is about the evaluation's plumbing, not the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.cli import ModelEdge, eval_app
from ingest.parsers import parse_file
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM

SUPPORTED = "Der AK beschließt das Pilotprojekt „KI-Wissensassistent“ mit einem Pilotbudget von 250.000 EUR."
INVENTED = "Das Pilotbudget beträgt 999.000 EUR."
MINUTES = CORPUS / "protokoll-ak-ki-2025-09-18.md"
PAPER = CORPUS / "positionspapier-ki-infrastruktur.pdf"


def _span(path: Path, start_words: str, end_words: str) -> tuple[int, int]:
    text = parse_file(path).text
    start = text.index(start_words)
    return start, text.index(end_words, start) + len(end_words)


def _topics(folder: Path) -> Path:
    budget = _span(MINUTES, "Der AK beschließt das Pilotprojekt", "1 Enthaltung.")
    base_fee = _span(PAPER, "Jedes Mitglied zahlt einen jährlichen Sockelbetrag", "70.000 EUR.")

    def source(path: Path, span: tuple[int, int]) -> dict[str, object]:
        return {"doc": os.path.relpath(path, folder), "start": span[0], "end": span[1]}

    topic = {
        "id": "t1",
        "topic": "Pilotbudget KI-Wissensassistent",
        "working_group": "AK KI und Automatisierung",
        "key_facts": [
            {
                "id": "t1-a",
                "fact": "Budget 250 T€",
                "values": ["250.000 EUR"],
                "source": source(MINUTES, budget),
            },
            {
                "id": "t1-b",
                "fact": "Sockel 2,5 T€",
                "values": ["2.500 EUR"],
                "source": source(PAPER, base_fee),
            },
        ],
    }
    path = folder / "topics.jsonl"
    path.write_text(json.dumps(topic, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_eval_drafts_writes_scored_drafts_and_an_80_column_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_RETRIEVAL__MIN_DENSE_SCORE", "2.0")  # the hash embedder is not e5
    topics, out = _topics(tmp_path), tmp_path / "run"
    reply = {"aussagen": [{"text": SUPPORTED, "quellen": [1]}, {"text": INVENTED, "quellen": [1]}]}
    args = ["drafts", "--corpus", str(CORPUS), "--topics", str(topics), "--out", str(out)]
    args += ["--template", "kurzempfehlung", "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(
        eval_app, args, obj=ModelEdge(llm=ScriptedLLM(reply), embedder=HashEmbedder())
    )
    assert result.exit_code == 0, result.output
    assert "key_fact_recall" in result.stdout and "t1" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["topics"] == 1 and metrics["key_facts"] == 2
    assert metrics["config"]["draft"]["template"] == "kurzempfehlung"
    assert len(metrics["config"]["draft"]["template_sha256"]) == 64
    assert metrics["statements_removed"] >= 1 and 0 < metrics["unsupported_removed_share"] < 1
    # Model statements: every shown citation passed verification. Decision statements are the decision and
    # vote as the cited minutes record them (accepted by the checker); the meeting's date is their lead, shown
    # as provenance and not scored as a figure.
    assert metrics["by_origin"]["model"]["citation_precision"] == 1.0
    assert metrics["by_origin"]["decision"]["citation_precision"] == 1.0
    assert metrics["by_origin"]["decision"]["unsourced_figures"] == 0
    assert metrics["total_s_p50"] is not None and metrics["first_section_s_p50"] is not None

    [row] = [json.loads(line) for line in (out / "drafts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert row["record"]["template"] == "kurzempfehlung" and row["record"]["chunks"]  # replayable
    covered = {f["id"]: f["statement"] for f in row["key_facts"]}
    assert covered["t1-b"] is None  # nothing in the draft states the base fee
    assert next(f for f in row["key_facts"] if f["id"] == "t1-a")["retrieved"]
    statement = row["statements"][covered["t1-a"]]
    assert statement["kept"] and "250.000 EUR" in statement["text"]
    [citation] = [c for c in statement["citations"] if c["gold_overlap"]]
    assert citation["doc"] == os.path.relpath(MINUTES, tmp_path) and citation["accepted"]
    assert citation["char_start"] < citation["char_end"]
    text = parse_file(MINUTES).text[citation["char_start"] : citation["char_end"]]
    assert "250.000 EUR" in text
    decisions = [s for s in row["statements"] if s["origin"] == "decision"]
    assert decisions and all(s["lead"].startswith("Sitzung vom ") for s in decisions)
    invented = next(s for s in row["statements"] if s["text"] == INVENTED)
    assert not invented["kept"] and invented["cited_by_model"]
    assert [s["title"] for s in row["sections"]] == [
        "Sachstand",
        "Bisherige Beschlüsse",
        "Empfehlungen und rechtlicher Rahmen",
    ]

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "t1-b" in report and "999.000" not in report  # facts by id, no statement text


def test_eval_drafts_names_the_topic_whose_gold_document_is_not_in_the_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_RETRIEVAL__MIN_DENSE_SCORE", "2.0")
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text("# Notiz\n\nDas Budget beträgt 10 EUR.\n", encoding="utf-8")
    source = {"doc": elsewhere.name, "start": 0, "end": 5}
    topic = {
        "id": "t2",
        "topic": "Budget",
        "key_facts": [
            {"id": "t2-a", "fact": "x", "source": source},
            {"id": "t2-b", "fact": "y", "source": source},
        ],
    }
    topics = tmp_path / "topics.jsonl"
    topics.write_text(json.dumps(topic) + "\n", encoding="utf-8")
    args = ["drafts", "--corpus", str(CORPUS), "--topics", str(topics), "--out", str(tmp_path / "run")]
    args += ["--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(eval_app, args, obj=ModelEdge(llm=ScriptedLLM("{}"), embedder=HashEmbedder()))
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # the error line is wrapped at 80 columns
    assert "[eval_input]" in said and "topic t2, key fact t2-a" in said
    assert not (tmp_path / "run").exists()
