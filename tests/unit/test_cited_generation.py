"""The cited-generation unit and the checker's statement helpers for drafts: pure functions."""

from __future__ import annotations

import json

import pytest

from ingest.domain import ScoredChunk
from service.citations import find_conflicts, near_duplicate
from service.cited_generation import (
    CitedGenerator,
    Prompted,
    Reply,
    SourceBook,
    check_statements,
    parse_statements,
    statements_schema,
)
from service.config import Settings
from service.drafting.templates import load_template, template_names
from service.prompting import Offered, load_prompt, render

BUDGET = "Das Pilotbudget des KI-Wissensassistenten wird von 250.000 EUR auf 320.000 EUR erhöht."
OTHER = "Der AK beschließt das Pilotprojekt mit einem Pilotbudget von 250.000 EUR."


def _hit(point_id: str, text: str) -> ScoredChunk:
    payload = {"doc_id": "d", "revision": "a" * 64, "title": "Protokoll", "page_start": 3, "text": text}
    return ScoredChunk(point_id=point_id, score=1.0, payload=payload)


def test_statements_schema_limits_source_numbers_to_the_offered_passages() -> None:
    schema = statements_schema(3)
    items = schema["properties"]["aussagen"]["items"]
    assert items["properties"]["quellen"]["items"]["enum"] == [1, 2, 3]
    assert schema["required"] == ["aussagen"]


def test_parse_statements_reads_markers_in_the_text_and_rejects_non_json() -> None:
    raw = json.dumps({"aussagen": [{"text": "Das Budget steigt [2].", "quellen": [1]}, {"text": " "}]})
    assert parse_statements(raw) == [("Das Budget steigt.", [1, 2])]
    assert parse_statements('{"aussagen": [{"text": "abgeschnitten') is None


def test_check_statements_reattributes_to_the_supporting_passage_and_reports_bad_numbers() -> None:
    passages = {1: "Die Sitzung beginnt um 10 Uhr.", 2: BUDGET}
    [moved, invented] = check_statements(
        [
            ("Das Pilotbudget wird auf 320.000 EUR erhöht.", [1, 7]),
            ("Das Pilotbudget beträgt 999.000 EUR.", [2]),
        ],
        passages,
        min_support=0.5,
    )
    assert moved.supported and moved.sources == (2,) and moved.reattributed and moved.invalid_markers == (7,)
    assert not invented.supported and any("999.000 EUR" in r for r in invented.reasons)


def test_a_statement_merging_two_passages_is_checked_sentence_by_sentence() -> None:
    """ "A. B." citing [1, 2], where [1] backs A and [2] backs B: no single passage supports the whole, but each
    sentence is kept with the passage that backs it; an invented sentence in it is removed on its own."""
    session = "Die Sitzung des AK KI beginnt am 18. September 2025 um 10 Uhr."
    hits = [_hit("p1", session), _hit("p2", BUDGET)]
    merged = (
        "Die Sitzung beginnt am 18. September 2025 um 10 Uhr. Das Pilotbudget wird auf 320.000 EUR erhöht."
    )
    raw = json.dumps(
        {
            "aussagen": [
                {"text": merged, "quellen": [1, 2]},
                {"text": "Es gibt 999 GPUs. Das ist viel.", "quellen": [1]},
            ]
        }
    )
    generator = CitedGenerator(llm=None, template=None, budget_tokens=0, max_tokens=0, min_support=0.5)  # type: ignore[arg-type]
    generated = generator.check(
        Prompted([Offered.whole(h) for h in hits], []), Reply(raw, None), SourceBook()
    )
    texts = [(s.text, s.sources, s.supported) for s in generated.statements]
    assert texts[0] == ("Die Sitzung beginnt am 18. September 2025 um 10 Uhr.", (1,), True)
    assert texts[1] == ("Das Pilotbudget wird auf 320.000 EUR erhöht.", (2,), True)
    assert texts[2][0] == "Es gibt 999 GPUs." and not texts[2][2]


def test_source_book_keeps_a_passage_number_for_the_whole_draft() -> None:
    book = SourceBook()
    assert book.number_of(_hit("p1", BUDGET)) == 1
    assert book.number_of(_hit("p2", OTHER)) == 2
    assert book.number_of(_hit("p1", BUDGET)) == 1
    assert book.entries[1].footnote == "Protokoll, S. 3 (Revision aaaaaaaa)"


def test_near_duplicates_need_the_same_facts() -> None:
    assert near_duplicate(
        "Das Pilotbudget beträgt 250.000 EUR.", "Das Pilotbudget beträgt insgesamt 250.000 EUR."
    )
    assert not near_duplicate("Das Pilotbudget beträgt 250.000 EUR.", "Das Pilotbudget beträgt 320.000 EUR.")
    assert not near_duplicate("Der AK tagt in Hamm.", "Der AK beschließt ein Budget für die Pilotkommunen.")


def test_conflicts_are_different_figures_for_the_same_subject() -> None:
    [conflict] = find_conflicts(
        [OTHER, "Das Budget beträgt 410.000 Euro.", "Die Preise stiegen um 18 Prozent."]
    )
    assert conflict.subject == "budget" and conflict.passages == (0, 1)
    assert "250000 EUR" in conflict.description and "410000 EUR" in conflict.description
    assert find_conflicts([BUDGET, OTHER]) == []  # sharing 250.000 EUR: one lists more, no conflict


@pytest.mark.parametrize("name", ["handlungsempfehlung", "stellungnahme", "kurzvermerk"])
def test_templates_load_with_one_to_three_questions_per_section(name: str) -> None:
    template = load_template(Settings().prompts_dir, name)
    assert all(1 <= len(s.questions) <= 3 for s in template.sections)
    assert any(s.kind == "decisions" and s.title == "Bisherige Beschlüsse" for s in template.sections)


def test_handlungsempfehlung_has_the_sections_of_the_issue() -> None:
    assert [s.title for s in load_template(Settings().prompts_dir, "handlungsempfehlung").sections] == [
        "Anlass und Ziel",
        "Ausgangslage und Sachstand",
        "Rechtlicher Rahmen",
        "Bisherige Beschlüsse",
        "Bewertung",
        "Empfehlungen",
        "Offene Punkte und Risiken",
    ]
    assert {"handlungsempfehlung", "stellungnahme", "kurzvermerk"} <= set(
        template_names(Settings().prompts_dir)
    )


def test_section_prompt_renders_all_variables_and_no_comment() -> None:
    template = load_prompt(Settings().prompts_dir / "draft_section.de.md")
    assert template.variables == {"sources", "topic", "section", "guidance", "questions", "context"}
    system, user = render(
        template, sources="[1] Q", topic="T", section="S", guidance="G", questions="- F", context="-"
    )
    assert system["content"].startswith("Du schreibst") and '"aussagen"' in system["content"]
    assert "Abschnitt: S – G" in user["content"]
