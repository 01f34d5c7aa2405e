from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ingest.domain import ScoredChunk
from ingest.errors import ConfigurationError
from service.answering import (
    DECLINE_TEXT,
    AnswerFieldStream,
    parse_model_output,
    parse_short_answer,
    short_answer_of,
)
from service.citations import verify
from service.prompting import (
    ANSWER_KEY,
    SHORT_KEY,
    SOURCES_KEY,
    answer_schema,
    asks_short_answer,
    fit_sources,
    format_sources,
    load_prompt,
    render,
)

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


@pytest.mark.parametrize("name", ["answer.de.md", "answer_kurz.de.md"])
def test_rendered_prompt_numbers_sources_as_the_parser_reads_them(name: str) -> None:
    """The citation format as the prompt file states it, the rendered sources, the output schema and the parser
    agree: read from the answer prompt files, not assumed."""
    prompt_file = (PROMPTS / name).read_text(encoding="utf-8")
    template = load_prompt(PROMPTS / name)
    short = asks_short_answer(template)
    assert short == (name == "answer_kurz.de.md")
    hits = [_hit("16 GPUs mit je 80 GB.", 2), _hit("Kosten nach Einwohnern.", 3)]
    messages = render(template, sources=format_sources(hits), question="Wie viele GPUs?")
    system, user = messages[0]["content"], messages[1]["content"]

    # Each source is headed as the prompt file documents it: "[n] Titel, S. x – Abschnitt".
    documented = re.search(r'numbered passages "([^"]+)"', prompt_file)
    assert documented is not None
    header = re.escape(documented.group(1))
    for placeholder, pattern in (("n", r"(\d+)"), ("Titel", ".+?"), ("x", r"\d+"), ("Abschnitt", ".+")):
        header = header.replace(placeholder, pattern, 1)
    numbers = [int(m.group(1)) for m in re.finditer(f"^{header}$", user, re.MULTILINE)]
    assert "[1] Positionspapier, S. 2 – 2. Rechenkapazität" in user and "[2] Positionspapier, S. 3" in user

    # The reply format the system prompt announces is the schema generation is constrained by, whose source
    # numbers are exactly the numbers the sources carry.
    announced = re.search(r"Antworte als JSON: (\{.*\})", system)
    assert announced is not None
    example = json.loads(announced.group(1).replace("[Nummern]", "[1]"))
    schema = answer_schema(len(hits), short=short)
    assert (
        set(example)
        == set(schema["required"])
        == {ANSWER_KEY, SOURCES_KEY} | ({SHORT_KEY} if short else set())
    )
    assert list(example) == list(schema["properties"])  # the order the grammar forces
    assert f'"{SOURCES_KEY}"' in system
    assert numbers == schema["properties"][SOURCES_KEY]["items"]["enum"] == [1, 2]

    # A reply written as the prompt asks is read back by the parser and its citation verified.
    reply = json.dumps({SHORT_KEY: "16 GPUs", ANSWER_KEY: "Mindestens 16 GPUs.", SOURCES_KEY: [1]})
    text, cited = parse_model_output(reply) or ("", [])
    assert verify(text, cited, [h.text for h in hits], 0.5).valid == (1,)
    assert short_answer_of(parse_short_answer(reply), text) == "16 GPUs"
    # The decline the prompt prescribes is the service's own decline text, and it cites nothing.
    assert f'"{DECLINE_TEXT}"' in system
    assert parse_model_output(json.dumps({ANSWER_KEY: DECLINE_TEXT, SOURCES_KEY: []})) == (DECLINE_TEXT, [])


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


def test_a_mark_quoted_in_the_comment_does_not_start_the_system_prompt() -> None:
    from service.config import Settings
    from service.prompting import load_prompt

    for name in ("answer.de.md", "condense.de.md"):
        template = load_prompt(Settings().prompts_dir / name)
        system = template.system.template
        assert "===" not in system and "-->" not in system and "comment" not in system, name


def test_a_short_answer_is_shown_only_when_all_its_words_are_in_the_checked_answer() -> None:
    checked = "Die Transparenzpflichten nach Art. 50 der KI-Verordnung gelten ab dem 2. August 2026."
    assert short_answer_of("2. August 2026", checked) == "2. August 2026"
    assert short_answer_of("ab dem 2. august 2026.", checked) == "ab dem 2. august 2026"
    # A fact the checked sentence does not contain rests on no citation: not shown.
    assert short_answer_of("1. August 2026", checked) is None
    assert short_answer_of("2. August 2025", checked) is None
    # Empty, a decline, the whole sentence again, or a sentence of its own: not a short answer.
    assert short_answer_of("", checked) is None
    assert short_answer_of(None, checked) is None
    assert short_answer_of(DECLINE_TEXT, checked) is None
    assert short_answer_of(checked, checked) is None
    long_answer = " ".join(f"Wort{i}" for i in range(20))
    assert short_answer_of(" ".join(f"Wort{i}" for i in range(13)), long_answer) is None


def test_the_short_answer_field_is_read_only_from_complete_json() -> None:
    assert (
        parse_short_answer('{"antwort": "Es sind 16 GPUs.", "kurz": " 16 GPUs ", "quellen": [1]}')
        == "16 GPUs"
    )
    assert parse_short_answer('{"antwort": "Es sind 16 GPUs.", "kurz": "", "quellen": [1]}') is None
    assert parse_short_answer('{"antwort": "Es sind 16 GPUs.", "quellen": [1]}') is None
    assert parse_short_answer('{"antwort": "Es sind 16 GPUs.", "kurz": "16 G') is None
