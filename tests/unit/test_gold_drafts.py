"""The committed draft topics (eval/gold/drafts/topics.jsonl) checked against the documents as the parser sees
them, and the loader's errors. Skipped when the shared datasets are not there (some sources lie in them)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from eval.draft_gold import load_topics
from eval.draft_scoring import contains_value
from eval.gold import EvalInputError
from ingest.parsers import parse_file

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "eval" / "gold" / "drafts"
TOPICS = GOLD / "topics.jsonl"
MINUTES = REPO / "corpus" / "protokoll-ak-ki-2025-09-18.md"


def _records() -> list[dict[str, object]]:
    return [json.loads(line) for line in TOPICS.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def datasets_present() -> None:
    docs = [f["source"]["doc"] for r in _records() for f in r["key_facts"]]  # type: ignore[attr-defined]
    missing = [d for d in docs if not (GOLD / d).resolve().is_file()]
    if missing:
        pytest.skip(f"shared datasets not found ({missing[0]} does not resolve)")


@cache
def _text(path: Path) -> str:
    return parse_file(path).text


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def test_topics_file_has_spans_only_from_allowed_folders(datasets_present: None) -> None:
    records = _records()
    assert len(records) >= 12
    docs: set[str] = set()
    for record in records:
        assert set(record) <= {"id", "topic", "working_group", "key_facts"}
        for fact in record["key_facts"]:  # type: ignore[attr-defined]
            assert set(fact) == {"id", "fact", "values", "source"}
            assert set(fact["source"]) == {"doc", "start", "end"}
            docs.add(fact["source"]["doc"])
    assert not any("karlsruhe" in doc for doc in docs)  # no redistribution: nothing of that origin
    assert any(doc.startswith("../../../corpus/") for doc in docs)
    assert any("/corpus-real/" in doc for doc in docs)


def test_every_topic_loads_and_every_value_is_in_its_own_gold_passage(datasets_present: None) -> None:
    topics = load_topics(TOPICS)
    assert len(topics) == len(_records())
    for topic in topics:
        assert 2 <= len(topic.key_facts) <= 5, topic.id
        for fact in topic.key_facts:
            assert fact.source.span is not None
            for value in fact.values:
                assert contains_value(fact.source.text, value), (fact.id, value)


def test_facts_are_written_in_own_words(datasets_present: None) -> None:
    for topic in load_topics(TOPICS):
        for fact in topic.key_facts:
            document = " ".join(_words(_text(fact.source.path)))
            words = _words(fact.fact)
            runs = {" ".join(words[i : i + 8]) for i in range(len(words) - 7)}
            assert not [run for run in runs if run in document], fact.id


def _write(tmp_path: Path, **source: object) -> Path:
    fact = {"id": "x-a", "fact": "Budget", "values": [], "source": {"doc": str(MINUTES), **source}}
    record = {"id": "x", "topic": "Pilotbudget", "key_facts": [fact, {**fact, "id": "x-b"}]}
    path = tmp_path / "topics.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def test_a_span_outside_its_document_is_reported_with_topic_fact_and_document(tmp_path: Path) -> None:
    length = len(_text(MINUTES))
    with pytest.raises(EvalInputError) as raised:
        load_topics(_write(tmp_path, start=length - 5, end=length + 10))
    message = str(raised.value)
    assert "topic x" in message and "key fact x-a" in message and "protokoll-ak-ki-2025-09-18.md" in message
    assert "outside" in message


def test_copied_text_instead_of_a_span_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalInputError, match="span"):
        load_topics(_write(tmp_path, text="Der AK beschließt"))


def test_a_valid_span_loads_with_its_passage(tmp_path: Path) -> None:
    [topic] = load_topics(_write(tmp_path, start=0, end=40))
    assert topic.key_facts[0].source.text == _text(MINUTES)[:40]
