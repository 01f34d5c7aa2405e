"""Follow-up detection, the rewrite prompt and the parsing of the model's rewrite (service/condense.py)."""

from __future__ import annotations

import pytest

from service.condense import (
    CONDENSE_PROMPT,
    Condenser,
    Turn,
    fallback_query,
    format_history,
    needs_rewrite,
    parse_query,
)
from service.config import Settings
from service.prompting import load_prompt, render
from tests.fakes import ScriptedLLM


@pytest.mark.parametrize(
    "question",
    [
        "Und bis wann?",
        "Falls nein, warum nicht?",
        "Wenn ja, wer ist für die Pflege dieser Flächen zuständig?",
        "Wie viele davon entfallen auf die Innenstadt?",
        "Seit wann gibt es diese Überlegungen?",
        "Wer ist dort zuständig?",
        "Was kostet sie?",
        "Warum?",
    ],
)
def test_follow_ups_need_a_rewrite(question: str) -> None:
    assert needs_rewrite(question)


@pytest.mark.parametrize(
    "question",
    [
        "Wie viele GPUs braucht die gemeinsame KI-Infrastruktur mindestens?",
        "Gibt es in Karlsruhe Ärzte, die auf Virenerkrankungen spezialisiert sind?",
        "Können Sie die Kosten der Sanierung der Europahalle beziffern?",
    ],
)
def test_standalone_questions_need_no_rewrite(question: str) -> None:
    assert not needs_rewrite(question)


def test_prompt_file_renders_history_and_question() -> None:
    template = load_prompt(Settings().prompts_dir / CONDENSE_PROMPT)
    assert template.variables == {"history", "question"}
    messages = render(template, history="Frage: A?", question="Und B?")
    assert messages[1]["content"].endswith("Verlauf:\nFrage: A?\nFolgefrage: Und B?")
    assert '{"suchanfrage":' in messages[0]["content"]


def test_history_keeps_the_last_turns_and_only_the_last_answer_shortened() -> None:
    turns = [Turn(f"Frage {i}?", f"Antwort {i}. " + "lang " * 200) for i in range(5)]
    text = format_history(turns)
    assert text.startswith("Frage: Frage 2?\nFrage: Frage 3?\nFrage: Frage 4?\nAntwort: Antwort 4.")
    assert text.count("Antwort:") == 1 and text.endswith(" …") and len(text) < 400


def test_parse_query_reads_json_and_rejects_empty_or_garbage() -> None:
    assert parse_query('{"suchanfrage": "Bis wann  gilt\\ndie Frist?"}') == "Bis wann gilt die Frist?"
    assert parse_query('{"suchanfrage": "Bis wann gilt die Fr') == "Bis wann gilt die Fr"
    assert parse_query('{"suchanfrage": ""}') is None
    assert parse_query("Ich kann das nicht.") is None


def _condenser(*outputs: object) -> tuple[Condenser, ScriptedLLM]:
    llm = ScriptedLLM(*outputs)  # type: ignore[arg-type]
    return Condenser(llm, load_prompt(Settings().prompts_dir / CONDENSE_PROMPT)), llm


def test_follow_up_is_rewritten_by_the_model() -> None:
    condenser, llm = _condenser({"suchanfrage": "Bis wann läuft die Pilotphase der KI-Infrastruktur?"})
    result = condenser.condense("Und bis wann?", [Turn("Wann beginnt die Pilotphase der KI-Infrastruktur?")])
    assert result.rewritten and result.reason == "rewritten"
    assert result.query == "Bis wann läuft die Pilotphase der KI-Infrastruktur?"
    assert result.question == "Und bis wann?"
    assert "Frage: Wann beginnt die Pilotphase" in llm.calls[0][1]["content"]
    assert llm.schemas[0] == {
        "type": "object",
        "properties": {"suchanfrage": {"type": "string"}},
        "required": ["suchanfrage"],
    }


def test_no_model_call_without_history_or_for_a_standalone_question() -> None:
    condenser, llm = _condenser({"suchanfrage": "x"})
    assert condenser.condense("Und bis wann?", []).reason == "no_history"
    standalone = "Wie viele GPUs braucht die gemeinsame KI-Infrastruktur mindestens?"
    result = condenser.condense(standalone, [Turn("Wann beginnt die Pilotphase?")])
    assert (result.query, result.rewritten, result.reason) == (standalone, False, "standalone")
    assert llm.calls == []


def test_unusable_rewrite_falls_back_to_previous_question_plus_follow_up() -> None:
    condenser, _ = _condenser("kein JSON")
    history = [Turn("Wann beginnt die Pilotphase?")]
    result = condenser.condense("Und bis wann?", history)
    assert result.reason == "rewrite_failed"
    assert (
        result.query
        == fallback_query("Und bis wann?", history)
        == "Wann beginnt die Pilotphase? Und bis wann?"
    )
