"""`kb eval answers` end to end on a three-question gold file over corpus/: real Qdrant Edge index (cached), the
service's answer path in process with the real citation check, the real scoring. Only the model is faked: it
answers each question with a scripted statement and cites the offered source that contains a scripted phrase
(what a model that read the sources would do), so the test is about the evaluation, not the model."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from eval.cli import ModelEdge, eval_app
from ingest.parsers import parse_file
from service.llm import Generation
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM

MINUTES = CORPUS / "protokoll-ak-ki-2025-09-18.md"
PAPER = CORPUS / "positionspapier-ki-infrastruktur.pdf"
BUDGET = "Der AK beschließt das Pilotprojekt „KI-Wissensassistent“ mit einem Pilotbudget von 250.000 EUR."
_SOURCE_START = re.compile(r"^\[(\d+)\] ", re.M)


class SourceReadingLLM(ScriptedLLM):
    """Answers a question containing a key with its statement, citing (in the text and in "quellen") the
    offered source whose text contains the phrase; a question with no key is declined."""

    def __init__(self, script: dict[str, tuple[str, str]]) -> None:
        super().__init__("{}")
        self.script = script

    def generate(
        self, messages: Sequence[dict[str, str]], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        user = messages[-1]["content"]
        reply: dict[str, Any] = {"antwort": "Keine Quelle gefunden.", "quellen": []}
        for key, (statement, phrase) in self.script.items():
            if key in user.rsplit("Frage:", 1)[-1]:
                parts = _SOURCE_START.split(user)  # [before, "1", text of [1], "2", text of [2], …]
                blocks = dict(zip(map(int, parts[1::2]), parts[2::2], strict=True))
                cited = [n for n, block in blocks.items() if phrase in block][:1]
                markers = "".join(f"[{n}]" for n in cited)
                reply = {"antwort": f"{statement} {markers}", "quellen": cited}
        self.outputs = [json.dumps(reply, ensure_ascii=False)]  # the one output ScriptedLLM replies with
        return super().generate(messages, schema=schema, max_tokens=max_tokens)


def _gold(path: Path, start_words: str, end_words: str, folder: Path) -> dict[str, object]:
    text = parse_file(path).text
    start = text.index(start_words)
    end = text.index(end_words, start) + len(end_words)
    return {"doc": os.path.relpath(path, folder), "start": start, "end": end}


def test_eval_answers_scores_citations_of_the_gold_passage_and_answers_citing_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_RETRIEVAL__MIN_DENSE_SCORE", "2.0")  # the hash embedder is not e5
    budget = _gold(MINUTES, "Der AK beschließt das Pilotprojekt", "1 Enthaltung.", tmp_path)
    base_fee = _gold(PAPER, "Jedes Mitglied zahlt einen jährlichen Sockelbetrag", "70.000 EUR.", tmp_path)
    questions = [
        # answered from the gold passage
        {"id": "q1", "question": "Welches Pilotbudget beschließt der AK für den KI-Wissensassistent?",
         "answers": ["250.000 EUR"], "relevant": [budget]},
        # answered, but citing the minutes where the gold is the position paper's base fee
        {"id": "q2", "question": "Welchen Sockelbetrag zahlt jedes Mitglied, und welches Pilotbudget beschließt "
         "der AK für den KI-Wissensassistent?", "answers": ["2.500 EUR"], "relevant": [base_fee]},
        # declined
        {"id": "q3", "question": "Wie viele GPUs hat der Cluster mindestens?", "answers": ["16"],
         "relevant": [base_fee]},
    ]  # fmt: skip
    gold = tmp_path / "questions.jsonl"
    gold.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8")
    llm = SourceReadingLLM({"Pilotbudget beschließt": (BUDGET, "250.000 EUR")})
    out = tmp_path / "run"
    args = ["answers", "--corpus", str(CORPUS), "--questions", str(gold), "--out", str(out)]
    args += ["--cache-dir", str(tmp_path / "cache")]

    result = CliRunner().invoke(eval_app, args, obj=ModelEdge(llm=llm, embedder=HashEmbedder()))

    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, (out / "per_question.jsonl").read_text("utf-8").splitlines())}
    assert not rows["q1"]["declined"] and rows["q1"]["cited_hits"] == rows["q1"]["cited"] != []
    q2 = rows["q2"]
    # q2: the model's citation passes the check (the statement is in the minutes) but misses the gold
    assert not q2["declined"] and q2["cited"] and not q2["cited_hits"]
    assert all(not s["doc_hit"] for s in q2["sources"] if s["number"] in q2["cited"])
    assert rows["q3"]["declined"]

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["answered"] == 2 and metrics["abstention_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["citation_precision"] == 0.5 and metrics["citation_recall"] == pytest.approx(
        1 / 3, abs=1e-4
    )
    assert metrics["wrong_citation_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["wrong_document_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert metrics["token_f1"] is not None and metrics["config"]["llm"]["name"] == "test/scripted"
    assert "wrong_citation_rate" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "wrong_document_rate" in (out / "report.md").read_text(encoding="utf-8")
