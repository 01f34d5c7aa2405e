from __future__ import annotations

from pathlib import Path

import pytest

from ingest.domain import ScoredChunk
from service.citations import content_terms
from service.cited_generation import CitedGenerator, SourceBook
from service.focusing import FOCUS_OFF, GAP, Focus, FocusedPassage, focus_passage, focus_passages, units
from service.prompting import (
    decisive_count,
    format_offered,
    format_sources,
    load_prompt,
    offer_passages,
    render,
)
from tests.fakes import ScriptedLLM

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def words(text: str) -> int:
    """A stand-in tokenizer for the caps: one token per word."""
    return len(text.split())


PASSAGE = (
    "3.2 Laufende Betriebskosten\n\n"
    "Die Infrastruktur wird von zwei Rechenzentren betrieben. Der Vorstand hat im März 2025 darüber beraten. "
    "Die jährlichen Betriebskosten werden auf 1,44 Mio. EUR geschätzt. Sie werden nach Einwohnerzahl auf die "
    "Mitglieder verteilt. Für die Pilotphase gilt eine Sonderregel. Die Evaluation erfolgt durch Dritte."
)

LIST_PASSAGE = (
    "Die Mitglieder beschließen folgende Mindestanforderungen an KI-Dienste:\n"
    "1. Betrieb ausschließlich in Rechenzentren der Mitglieder. Keine Übermittlung an Dritte.\n"
    "2. Einsatz von Open-Weight-Modellen. Die Lizenz erlaubt die Nutzung ohne Entgelt.\n"
    "3. Protokollierung aller Anfragen.\n"
    "Die Umsetzung prüft der Arbeitskreis jährlich. Ein Bericht geht an den Vorstand."
)


def focus(text: str, question: str, *, sentences: int = 3, tokens: int = 200) -> FocusedPassage:
    return focus_passage(
        text,
        frozenset(content_terms(question)),
        max_sentences=sentences,
        max_tokens=tokens,
        count_tokens=words,
    )


@pytest.mark.parametrize(
    ("text", "question"),
    [
        (PASSAGE, "Wie hoch sind die jährlichen Betriebskosten?"),
        (PASSAGE, "Wann hat der Vorstand beraten?"),
        (LIST_PASSAGE, "Welche Mindestanforderungen gelten für KI-Dienste?"),
        (LIST_PASSAGE, "Wer prüft die Umsetzung?"),
        ("  Ein Satz ohne Ende  \n\nNoch einer. Und ein dritter. Und vierter.  ", "Wer ist vierter?"),
    ],
)
def test_every_kept_piece_is_the_exact_span_of_the_chunk_text(text: str, question: str) -> None:
    focused = focus(text, question, sentences=2)
    assert focused.focused
    assert focused.text == GAP.join(text[a:b] for a, b in focused.pieces)
    for start, end in focused.pieces:
        assert 0 <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
    assert [a for a, _ in focused.pieces] == sorted(a for a, _ in focused.pieces)


def test_the_best_sentence_and_its_neighbours_are_kept_and_the_rest_left_out() -> None:
    focused = focus(PASSAGE, "Wie hoch sind die jährlichen Betriebskosten?")
    assert focused.text == (
        "Der Vorstand hat im März 2025 darüber beraten. "
        "Die jährlichen Betriebskosten werden auf 1,44 Mio. EUR geschätzt. "
        "Sie werden nach Einwohnerzahl auf die Mitglieder verteilt."
    )
    # The heading is left out: the source label in the prompt names the section already.
    assert "3.2 Laufende" not in focused.text


def test_with_room_for_one_neighbour_the_previous_sentence_wins_a_tie() -> None:
    focused = focus(PASSAGE, "Wie hoch sind die jährlichen Betriebskosten?", sentences=2)
    assert focused.text == (
        "Der Vorstand hat im März 2025 darüber beraten. "
        "Die jährlichen Betriebskosten werden auf 1,44 Mio. EUR geschätzt."
    )


def test_left_out_sentences_are_marked_with_an_ellipsis() -> None:
    question = "Betriebskosten und Evaluation durch Dritte?"
    focused = focus(PASSAGE, question, sentences=3)
    assert len(focused.pieces) == 2 and GAP in focused.text
    assert focused.text.endswith("Die Evaluation erfolgt durch Dritte.")


def test_numbered_items_are_kept_whole_with_their_inner_sentences() -> None:
    focused = focus(LIST_PASSAGE, "Wird an Dritte übermittelt?", sentences=1)
    assert (
        focused.text
        == "1. Betrieb ausschließlich in Rechenzentren der Mitglieder. Keine Übermittlung an Dritte."
    )
    assert units(LIST_PASSAGE)[1:4] == [
        (LIST_PASSAGE.index("1. "), LIST_PASSAGE.index("\n2. ")),
        (LIST_PASSAGE.index("2. "), LIST_PASSAGE.index("\n3. ")),
        (LIST_PASSAGE.index("3. "), LIST_PASSAGE.index("\nDie Umsetzung")),
    ]


def test_a_sentence_ending_in_a_colon_keeps_the_list_it_introduces() -> None:
    focused = focus(LIST_PASSAGE, "Welche Mindestanforderungen gelten für KI-Dienste?", sentences=4)
    assert focused.text.startswith(
        "Die Mitglieder beschließen folgende Mindestanforderungen an KI-Dienste:\n1. "
    )
    assert focused.text.endswith("3. Protokollierung aller Anfragen.")


def test_inline_numbered_paragraphs_are_items() -> None:
    text = "Es gilt: (1) Betrieb im Land. Sonst nichts. (2) Offene Modelle. (3) Keine Entgelte."
    assert [text[a:b] for a, b in units(text)] == [
        "Es gilt:",
        "(1) Betrieb im Land. Sonst nichts.",
        "(2) Offene Modelle.",
        "(3) Keine Entgelte.",
    ]


def test_focusing_off_is_the_identity() -> None:
    focused = focus(PASSAGE, "Wie hoch sind die Betriebskosten?", sentences=0)
    assert focused == FocusedPassage(PASSAGE, ((0, len(PASSAGE)),), False)


def test_a_passage_that_fits_whole_is_left_whole() -> None:
    focused = focus("Erster Satz. Zweiter Satz.", "Welcher Satz?", sentences=3)
    assert not focused.focused and focused.text == "Erster Satz. Zweiter Satz."


def test_a_question_without_shared_terms_keeps_the_lead_sentences() -> None:
    focused = focus(PASSAGE, "Wer gewann die Fußballweltmeisterschaft?", sentences=2)
    assert focused.text == (
        "Die Infrastruktur wird von zwei Rechenzentren betrieben. Der Vorstand hat im März 2025 darüber beraten."
    )


def test_the_token_cap_drops_sentences_but_keeps_the_best() -> None:
    focused = focus(PASSAGE, "Wie hoch sind die jährlichen Betriebskosten?", sentences=3, tokens=12)
    assert focused.text == "Die jährlichen Betriebskosten werden auf 1,44 Mio. EUR geschätzt."


def test_a_best_sentence_longer_than_the_cap_is_cut_at_a_word_and_stays_an_exact_span() -> None:
    text = "Kopf. " + " ".join(f"Wort{i}" for i in range(60)) + " Betriebskosten Ende. Schluss."
    focused = focus(text, "Betriebskosten?", sentences=1, tokens=20)
    ((start, end),) = focused.pieces
    assert text[start:end] == focused.text and words(focused.text) <= 21
    assert text[end] == " "


def test_focus_passages_focuses_each_passage_on_the_same_question() -> None:
    out = focus_passages(
        [PASSAGE, LIST_PASSAGE],
        "Wer prüft die Umsetzung?",
        max_sentences=1,
        max_tokens=100,
        count_tokens=words,
    )
    assert out[1].text == "Die Umsetzung prüft der Arbeitskreis jährlich."
    assert out[0].text == "Die Infrastruktur wird von zwei Rechenzentren betrieben."  # no shared term: lead


def _hit(point_id: str, score: float, text: str = PASSAGE) -> ScoredChunk:
    return ScoredChunk(
        point_id, score, {"text": text, "title": "Positionspapier", "page_start": 3, "doc_id": "pp"}
    )


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.44, 0.367, 0.3, 0.2], 4),  # first and second in both rankings: margin 0.17, not decisive
        ([0.44, 0.29, 0.2, 0.1], 2),  # runner-up far down one ranking: margin 0.34
        ([0.44, 0.308], 2),  # exactly the margin (0.3)
        ([0.44, 0.309, 0.1], 4),  # just below it
        ([0.44], 4),  # one hit: nothing to compare
        ([0.0, 0.0, 0.0], 4),
    ],
)
def test_fewer_sources_only_when_the_fused_ranking_is_decisive(scores: list[float], expected: int) -> None:
    hits = [_hit(f"p{i}", s) for i, s in enumerate(scores)]
    assert decisive_count(hits, max_sources=4, margin=0.3, decisive_sources=2) == expected


def test_decisive_rule_off_offers_all_sources() -> None:
    hits = [_hit("a", 0.44), _hit("b", 0.1)]
    assert decisive_count(hits, max_sources=4, margin=0.3, decisive_sources=0) == 4
    assert decisive_count(hits, max_sources=1, margin=0.3, decisive_sources=2) == 1


def test_offered_passages_render_focused_text_and_off_renders_as_before() -> None:
    template = load_prompt(PROMPTS / "answer.de.md")
    hits = [_hit("a", 0.4), _hit("b", 0.3, LIST_PASSAGE)]
    question = "Wie hoch sind die jährlichen Betriebskosten?"
    off = offer_passages(
        template,
        {"question": question},
        hits,
        focus_query=question,
        focus=FOCUS_OFF,
        budget_tokens=1500,
        count_tokens=words,
    )
    assert format_offered(off) == format_sources(hits)
    on = offer_passages(
        template,
        {"question": question},
        hits,
        focus_query=question,
        focus=Focus(2, 100),
        budget_tokens=1500,
        count_tokens=words,
    )
    assert [o.hit for o in on] == hits and on[0].hit.text == PASSAGE
    user_on = render(template, sources=format_offered(on), question=question)[1]["content"]
    user_off = render(template, sources=format_offered(off), question=question)[1]["content"]
    assert "1,44 Mio. EUR" in user_on and "Evaluation erfolgt" not in user_on
    assert len(user_on) < len(user_off)


def _generator(focus: Focus, statement: str) -> tuple[CitedGenerator, ScriptedLLM]:
    llm = ScriptedLLM({"aussagen": [{"text": statement, "quellen": [1]}]})
    template = load_prompt(PROMPTS / "draft_section.de.md")
    return CitedGenerator(llm, template, 1800, 400, 0.5, focus=focus), llm


DRAFT_VARIABLES = {
    "topic": "Betriebskosten",
    "section": "Kosten",
    "guidance": "",
    "questions": "- Wie hoch sind die jährlichen Betriebskosten?",
    "context": "(noch nichts)",
}


def test_cited_generation_offers_whole_passages_unless_focus_is_set() -> None:
    """Drafts keep whole passages by default; with a focus the prompt shrinks and a statement is checked against
    the focused text the model saw."""
    left_out = "Die Evaluation erfolgt durch Dritte."
    whole, whole_llm = _generator(FOCUS_OFF, left_out)
    generated = whole.generate([_hit("a", 0.4)], DRAFT_VARIABLES, SourceBook())
    assert PASSAGE.strip() in whole_llm.calls[0][1]["content"]
    assert generated.statements[0].supported

    focused, focused_llm = _generator(Focus(2, 100), left_out)
    generated = focused.generate([_hit("a", 0.4)], DRAFT_VARIABLES, SourceBook())
    prompt = focused_llm.calls[0][1]["content"]
    assert "1,44 Mio. EUR" in prompt and left_out not in prompt
    assert not generated.statements[0].supported
