from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.domain import ScoredChunk
from ingest.errors import ConfigurationError
from service.answering import AnswerFieldStream, parse_model_output
from service.citations import verify
from service.prompting import answer_schema, fit_sources, format_sources, load_prompt, render

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def _hit(text: str, page: int) -> ScoredChunk:
    return ScoredChunk(
        "p",
        1.0,
        {
            "text": text,
            "title": "Positionspapier",
            "page_start": page,
            "page_end": page,
            "section_path": ["2. Rechenkapazität"],
            "doc_id": "pp.pdf",
        },
    )


def test_answer_prompt_expects_sources_and_question_and_fails_on_missing() -> None:
    template = load_prompt(PROMPTS / "answer.de.md")
    assert template.variables == {"sources", "question"}
    with pytest.raises(ConfigurationError, match="question"):
        render(template, sources="[1] x")


def test_rendered_prompt_numbers_sources_as_the_parser_reads_them() -> None:
    template = load_prompt(PROMPTS / "answer.de.md")
    hits = [_hit("16 GPUs mit je 80 GB.", 2), _hit("Kosten nach Einwohnern.", 3)]
    messages = render(template, sources=format_sources(hits), question="Wie viele GPUs?")
    user = messages[1]["content"]
    assert "[1] Positionspapier, S. 2 – 2. Rechenkapazität" in user and "[2] Positionspapier, S. 3" in user
    # the schema the prompt announces is the one generation is constrained by, and the parser reads it back
    reply = json.dumps({"antwort": "Mindestens 16 GPUs.", "quellen": [1]})
    text, cited = parse_model_output(reply) or ("", [])
    assert verify(text, cited, [h.text for h in hits], 0.5).valid == (1,)
    schema = answer_schema(2)
    assert schema["properties"]["quellen"]["items"]["enum"] == [1, 2]


def test_prompt_budget_limits_sources() -> None:
    template = load_prompt(PROMPTS / "answer.de.md")
    hits = [_hit("Wort " * 200, i) for i in range(1, 6)]
    chosen = fit_sources(template, "Frage?", hits, budget_tokens=700, count_tokens=lambda t: len(t) // 4)
    assert 1 <= len(chosen) < 5


def test_answer_field_streams_across_chunk_boundaries_and_escapes() -> None:
    raw = '{"antwort": "Zeile \\"eins\\"\\nund \\u00fcber", "quellen": [1]}'
    stream = AnswerFieldStream("antwort")
    out = "".join(stream.feed(raw[i : i + 3]) for i in range(0, len(raw), 3))
    assert out == 'Zeile "eins"\nund über'


def test_truncated_model_output_is_salvaged() -> None:
    assert parse_model_output('{"antwort": "16 GPUs", "quellen": [1, 2') == ("16 GPUs", [1, 2])
    assert parse_model_output("kein json") is None
