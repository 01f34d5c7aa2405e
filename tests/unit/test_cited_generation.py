"""The cited-generation unit and the checker's statement helpers for drafts: pure functions."""

from __future__ import annotations

import json

import pytest

from ingest.domain import ScoredChunk
from ingest.parsers import parse_file
from service.citations import find_conflicts, near_duplicate
from service.cited_generation import (
    CitedGenerator,
    Prompted,
    Reply,
    SourceBook,
    check_statements,
    parse_statements,
    salvage_statements,
    statements_schema,
    strip_echo,
)
from service.config import Settings
from service.drafting.templates import load_template, template_names
from service.prompting import Offered, load_prompt, render
from tests.conftest import CORPUS
from tests.fakes import ScriptedLLM

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
    assert "Abschnitt: S\nAufgabe des Abschnitts (nicht abschreiben): G" in user["content"]


# -- a reply cut by the token cap ------------------------------------------------------------------------------
CUT_REPLY = json.dumps(
    {
        "aussagen": [
            {"text": "Das Pilotbudget wird auf 320.000 EUR erhöht.", "quellen": [1]},
            {
                "text": "Der AK beschließt das Pilotprojekt mit einem Pilotbudget von 250.000 EUR.",
                "quellen": [2],
            },
            {"text": "Der Pilot läuft an zwei Standorten mit sechs Pilotkommunen.", "quellen": [1]},
        ]
    },
    ensure_ascii=False,
)


@pytest.mark.parametrize(
    ("cut_after", "expected"),
    [
        ("sechs Pilotkommunen.", 2),  # inside the third statement's text
        ('"quellen": [2]}', 2),  # the second statement complete, nothing after it
        ('"quellen": [2]', 1),  # the second statement's object not closed
        ("320.000 EUR", 0),  # inside the first statement: nothing complete
    ],
)
def test_salvage_keeps_the_statements_completed_before_the_cut(cut_after: str, expected: int) -> None:
    raw = CUT_REPLY[: CUT_REPLY.index(cut_after) + len(cut_after)]
    assert parse_statements(raw) is None
    salvaged = salvage_statements(raw)
    assert salvaged == parse_statements(CUT_REPLY)[:expected]  # type: ignore[index]


def test_salvage_reads_a_complete_reply_whole_and_rejects_other_text() -> None:
    assert salvage_statements(CUT_REPLY) == parse_statements(CUT_REPLY)
    assert salvage_statements("Die Antwort lautet: 320.000 EUR") is None
    assert salvage_statements('{"andere": [') is None


def test_a_section_cut_by_the_token_cap_keeps_its_complete_statements_checked() -> None:
    hits = [_hit("p1", BUDGET), _hit("p2", OTHER)]
    generator = CitedGenerator(llm=None, template=None, budget_tokens=0, max_tokens=0, min_support=0.5)  # type: ignore[arg-type]
    raw = CUT_REPLY[: CUT_REPLY.index("zwei Standorten")]
    generated = generator.check(
        Prompted([Offered.whole(h) for h in hits], []), Reply(raw, None), SourceBook()
    )
    assert generated.truncated and not generated.valid_output
    assert [(s.text, s.sources, s.supported) for s in generated.statements] == [
        ("Das Pilotbudget wird auf 320.000 EUR erhöht.", (1,), True),
        ("Der AK beschließt das Pilotprojekt mit einem Pilotbudget von 250.000 EUR.", (2,), True),
    ]
    whole = generator.check(
        Prompted([Offered.whole(h) for h in hits], []), Reply(CUT_REPLY, None), SourceBook()
    )
    assert whole.valid_output and not whole.truncated


# -- a statement that opens with the copied section guidance ----------------------------------------------------
# The exact case of a real run (drafts-2, kurzempfehlung, Qwen2.5-1.5B): the guidance of "Sachstand" as it was
# then, copied in front of the fact; the whole statement was removed as unsupported.
OLD_GUIDANCE = (
    "Der aktuelle Stand mit Zahlen, Daten, Fristen und Beteiligten, wie ihn die Quellen beschreiben."
)
ECHOED = (
    "Der aktuelle Stand mit Zahlen, Daten, Fristen und Beteiligten, wie ihn die Quellen beschreiben, ist, dass "
    "der Rollout am 1. April 2027 beginnt mit zehn Mitgliedern in der ersten Stufe. Bis zum 31. Dezember 2027 "
    "sollen alle 28 Mitglieder angeschlossen sein."
)


def _rollout_passage() -> str:
    text = parse_file(CORPUS / "positionspapier-ki-infrastruktur.pdf").text
    start = text.index("4.2 Rollout 2027")
    return text[start : text.index("angeschlossen sein.", start) + len("angeschlossen sein.")]


def test_a_statement_opening_with_the_copied_guidance_is_kept_without_it() -> None:
    passage = _rollout_passage()
    generator = CitedGenerator(
        ScriptedLLM({"aussagen": [{"text": ECHOED, "quellen": [1]}]}),
        load_prompt(Settings().prompts_dir / "draft_section.de.md"),
        1800,
        512,
        0.5,
        instruction_variables=("section", "guidance", "questions"),
    )
    variables = {
        "topic": "Zeitplan für Pilotphase und Rollout der gemeinsamen KI-Infrastruktur",
        "section": "Sachstand",
        "guidance": OLD_GUIDANCE,
        "questions": "- Wie ist der Sachstand zu Zeitplan für Pilotphase und Rollout?",
        "context": "(noch nichts)",
    }
    generated = generator.generate([_hit("p1", passage)], variables, SourceBook())
    assert generated.echoes_cut == 1
    assert [(s.text, s.supported) for s in generated.statements] == [
        ("Der Rollout am 1. April 2027 beginnt mit zehn Mitgliedern in der ersten Stufe.", True),
        ("Bis zum 31. Dezember 2027 sollen alle 28 Mitglieder angeschlossen sein.", True),
    ]
    # Without the clean-up the first sentence is removed although its facts are in the passage.
    plain = CitedGenerator(generator.llm, generator.template, 1800, 512, 0.5)
    assert not plain.generate([_hit("p1", passage)], variables, SourceBook()).statements[0].supported


@pytest.mark.parametrize(
    "statement",
    [
        # The lead-in states facts of its own: not a copy.
        "Der Stand zum 1. März 2026 ist: Die Pilotphase beginnt in Hamm.",
        # The lead-in's words are not from the instructions.
        "Wichtig ist, dass die Pilotphase am 1. März 2026 in Hamm beginnt.",
        # A colon inside a statement of the source.
        "Erprobt werden drei Anwendungsfälle: ein Wissensassistent und die Zusammenfassung von Ratsvorlagen.",
        # Nothing left that could be a statement.
        "Der aktuelle Stand ist: offen.",
        # The topic restated with a verb of its own, then the fact: kept whole.
        "Der aktuelle Stand sieht vor, dass die Pilotphase am 1. März 2026 in Hamm beginnt.",
    ],
)
def test_strip_echo_leaves_statements_that_do_not_open_with_a_copied_instruction(statement: str) -> None:
    assert strip_echo(statement, f"Sachstand\n{OLD_GUIDANCE}") == statement


def test_strip_echo_cuts_a_copied_section_title() -> None:
    assert strip_echo(
        "Sachstand: Die Pilotphase beginnt am 1. März 2026.", "Sachstand\nNenne den Stand."
    ) == ("Die Pilotphase beginnt am 1. März 2026.")


def test_a_paragraph_named_only_in_the_sources_heading_backs_the_statement_citing_it() -> None:
    """A law's chunk carries its § in the section heading, which the model sees in the source's label line
    ("ERechV – § 4 Inhalt der elektronischen Rechnung"), not in the passage text. A statement naming it is
    verified against what the model saw, label included; a § in neither is still rejected."""
    text = "Die elektronische Rechnung hat neben den umsatzsteuerlichen Angaben die Leitweg-ID zu enthalten."
    payload = {
        "doc_id": "erechv.md",
        "revision": "b" * 64,
        "title": "ERechV",
        "section_path": ["Abschnitt 2", "§ 4 Inhalt der elektronischen Rechnung"],
        "text": text,
    }
    hit = ScoredChunk(point_id="p1", score=1.0, payload=payload)
    raw = json.dumps(
        {
            "aussagen": [
                {
                    "text": "Nach § 4 ERechV muss die elektronische Rechnung die Leitweg-ID enthalten.",
                    "quellen": [1],
                },
                {
                    "text": "Nach § 9 ERechV muss die elektronische Rechnung die Leitweg-ID enthalten.",
                    "quellen": [1],
                },
            ]
        }
    )
    generator = CitedGenerator(llm=None, template=None, budget_tokens=0, max_tokens=0, min_support=0.5)  # type: ignore[arg-type]
    named, other = generator.check(
        Prompted([Offered.whole(hit)], []), Reply(raw, None), SourceBook()
    ).statements
    assert named.supported and named.sources == (1,)
    assert not other.supported and any("§ 9" in r for r in other.reasons)
