"""Selection of follow-up questions for the conversational retrieval evaluation (eval/conversational.py)."""

from __future__ import annotations

from pathlib import Path

from eval.conversational import follow_ups, inquiries
from eval.gold import GoldItem, Question


def _q(n: int, doc: str, text: str) -> Question:
    return Question(f"karlsruhe-qa-{n}", text, (), (GoldItem(doc, Path(doc), "x"),))


def test_follow_ups_are_consecutive_questions_of_one_inquiry_that_lean_on_the_previous() -> None:
    questions = [
        _q(1, "a.md", "Plant die Stadt eine Photovoltaikanlage auf der Schule?"),
        _q(2, "a.md", "Falls nein, warum nicht?"),
        _q(3, "a.md", "Wie hoch sind die Kosten dafür?"),
        _q(4, "a.md", "Welche Förderprogramme des Landes gibt es?"),
        _q(6, "a.md", "Wenn ja, wann?"),  # a gap in the ids: the previous question is held out
        _q(7, "b.md", "Falls ja, wie viele?"),  # another document: a new inquiry
    ]
    assert [[q.id[-1] for q in run] for run in inquiries(questions)] == [["1", "2", "3", "4"], ["6"], ["7"]]
    found = follow_ups(questions)
    assert [f.question.id for f in found] == ["karlsruhe-qa-2", "karlsruhe-qa-3"]
    assert [h.id for h in found[1].history] == ["karlsruhe-qa-1", "karlsruhe-qa-2"]
