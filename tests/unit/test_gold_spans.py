"""Gold records given as character spans of the parsed text, and corpora of several folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gold import EvalInputError, SpanLocator, corpus_doc_ids, corpus_roots, load_questions
from eval.runner import corpus_hash
from ingest.parsers import parse_file

DOC = "# Protokoll\n\nTOP 1: Der Arbeitskreis beschließt die Satzung einstimmig.\n\nTOP 2: Verschiedenes.\n"


def _gold_file(folder: Path, records: list[dict[str, object]]) -> Path:
    path = folder / "gold" / "questions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "protokoll.md").write_text(DOC, encoding="utf-8")
    return folder


def _span_of(path: Path, passage: str) -> tuple[int, int]:
    text = parse_file(path).text
    start = text.index(passage)
    return start, start + len(passage)


def test_span_record_derives_its_text_from_the_parsed_document(tmp_path: Path, corpus: Path) -> None:
    start, end = _span_of(corpus / "protokoll.md", "Der Arbeitskreis beschließt die Satzung einstimmig.")
    gold = _gold_file(
        tmp_path,
        [
            {
                "id": "q1",
                "question": "Wie wurde die Satzung beschlossen?",
                "answers": ["einstimmig"],
                "kind": "decision",
                "relevant": [{"doc": "../docs/protokoll.md", "start": start, "end": end}],
            }
        ],
    )
    [question] = load_questions(gold)
    [item] = question.relevant
    assert item.text == "Der Arbeitskreis beschließt die Satzung einstimmig."
    assert item.span == (start, end)
    assert item.path == (corpus / "protokoll.md").resolve()
    assert question.kind == "decision"
    assert question.answers == ("einstimmig",)


def test_locator_uses_the_given_span_as_the_gold_span(tmp_path: Path, corpus: Path) -> None:
    # "TOP" occurs twice; a text record would match both, the span names exactly one.
    start, end = _span_of(corpus / "protokoll.md", "TOP 2")
    gold = _gold_file(
        tmp_path,
        [
            {
                "id": "q",
                "question": "?",
                "relevant": [{"doc": "../docs/protokoll.md", "start": start, "end": end}],
            }
        ],
    )
    [question] = load_questions(gold)
    locator = SpanLocator(corpus_doc_ids(corpus))
    [found] = locator.golds(question.relevant)
    assert found.doc_id == "docs/protokoll.md"
    assert found.spans == ((start, end),)
    assert locator.unlocated == []


def test_text_records_are_still_located_by_search(tmp_path: Path, corpus: Path) -> None:
    gold = _gold_file(
        tmp_path,
        [
            {
                "id": "q",
                "question": "?",
                "relevant": [{"doc": "../docs/protokoll.md", "text": "TOP 2: Verschiedenes."}],
            }
        ],
    )
    [question] = load_questions(gold)
    assert question.relevant[0].span is None
    [found] = SpanLocator(corpus_doc_ids(corpus)).golds(question.relevant)
    assert found.spans == (_span_of(corpus / "protokoll.md", "TOP 2: Verschiedenes."),)


@pytest.mark.parametrize(
    ("start", "end"),
    [(-1, 5), (10, 10), (20, 5), (0, len(DOC) + 100), ("0", 5), (True, 5), (1.5, 5)],
)
def test_span_outside_the_text_or_not_integers_is_rejected(
    tmp_path: Path, corpus: Path, start: object, end: object
) -> None:
    gold = _gold_file(
        tmp_path,
        [
            {
                "id": "q",
                "question": "?",
                "relevant": [{"doc": "../docs/protokoll.md", "start": start, "end": end}],
            }
        ],
    )
    with pytest.raises(EvalInputError) as caught:
        load_questions(gold)
    assert caught.value.code == "eval_input"


def test_span_record_naming_a_missing_document_is_rejected(tmp_path: Path, corpus: Path) -> None:
    gold = _gold_file(
        tmp_path,
        [{"id": "q", "question": "?", "relevant": [{"doc": "../docs/fehlt.md", "start": 0, "end": 3}]}],
    )
    with pytest.raises(EvalInputError):
        load_questions(gold)


def test_several_corpus_folders_give_doc_ids_prefixed_by_their_own_folder(tmp_path: Path) -> None:
    laws, minutes = tmp_path / "gesetze", tmp_path / "protokolle"
    laws.mkdir()
    (minutes / "2026").mkdir(parents=True)
    (laws / "ozg.md").write_text("# OZG\n\n§ 1 Portalverbund.\n", encoding="utf-8")
    (minutes / "2026" / "top1.md").write_text("# TOP 1\n\nBeschluss.\n", encoding="utf-8")
    ids = corpus_doc_ids([laws, minutes])
    assert sorted(ids.values()) == ["gesetze/ozg.md", "protokolle/2026/top1.md"]


def test_corpus_folders_with_the_same_name_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a" / "docs").mkdir(parents=True)
    (tmp_path / "b" / "docs").mkdir(parents=True)
    with pytest.raises(EvalInputError):
        corpus_roots([tmp_path / "a" / "docs", tmp_path / "b" / "docs"])


def test_corpus_hash_of_one_folder_is_unchanged_and_several_folders_hash_each(tmp_path: Path) -> None:
    one, two = tmp_path / "eins", tmp_path / "zwei"
    one.mkdir()
    two.mkdir()
    (one / "a.md").write_text("A\n", encoding="utf-8")
    (two / "b.md").write_text("B\n", encoding="utf-8")
    # A single folder, given alone or as a list of one, keeps the key it always had (cached indexes stay valid).
    assert corpus_hash(one) == corpus_hash([one])
    both = corpus_hash([one, two])
    assert both not in (corpus_hash(one), corpus_hash(two))
    (two / "b.md").write_text("B, geändert\n", encoding="utf-8")
    assert corpus_hash([one, two]) != both
