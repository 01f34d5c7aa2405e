"""Scoring of drafts (eval/draft_scoring.py) on hand-made drafts, with the real checker of service.citations."""

from __future__ import annotations

import pytest

from eval.draft_scoring import (
    FactGold,
    Passage,
    Statement,
    contains_value,
    covering_statement,
    overall,
    repeated_statements,
    score_draft,
    unsourced_figures,
)
from eval.metrics import Gold

MINUTES = "corpus/protokoll-ak-ki-2025-09-18.md"
PAPER = "corpus/positionspapier-ki-infrastruktur.pdf"
BUDGET = "Der AK beschließt das Pilotprojekt mit einem Pilotbudget von 250.000 EUR. Pilotstandort ist Hamm."
COSTS = "Die einmaligen Investitionskosten für den Vollbetrieb betragen 4,8 Mio. EUR."
PASSAGES = {
    1: Passage(1, MINUTES, 1000, 1100, None, None, BUDGET),
    2: Passage(2, PAPER, 5000, 5080, 3, 3, COSTS),
}
FACT_BUDGET = FactGold("f-budget", ("250.000 EUR",), Gold(MINUTES, ((1010, 1090),)))
FACT_COSTS = FactGold("f-costs", ("4,8 Mio. EUR",), Gold(PAPER, ((5005, 5081),)))


def _kept(text: str, *sources: int, origin: str = "model") -> Statement:
    return Statement(text, "Sachstand", True, sources, sources, origin)


@pytest.mark.parametrize(
    ("statement", "value", "expected"),
    [
        ("Die Investitionen belaufen sich auf 4.800.000 Euro.", "4,8 Mio. EUR", True),
        ("Die Investitionen belaufen sich auf 4,9 Mio. EUR.", "4,8 Mio. EUR", False),
        ("Der Pilot startet am 01.03.2026.", "1. März 2026", True),
        ("Der Pilot startet am 01.04.2026.", "1. März 2026", False),
        ("Gefördert werden sollen 60 % der Kosten.", "60 Prozent", True),
        ("Pilotstandorte sind Hamm und Wuppertal.", "Wuppertal", True),
        ("Pilotstandort ist Hamm.", "Wuppertal", False),
        ("Maßgeblich ist Art. 6 Abs. 1 lit. e DSGVO.", "Art. 6 Abs. 1 lit. e DSGVO", True),
        ("Maßgeblich ist Art. 9 DSGVO.", "Art. 6 Abs. 1 lit. e DSGVO", False),
        ("Es gilt eine Frist von 72 Stunden.", "72 Stunden", True),
        ("Es gilt eine Frist von 72 Tagen.", "72 Stunden", False),
        ("Die Standards folgen der XRechnung.", "XRechnung", True),
        # The forms of the values of drafts-1/-2 a statement may use instead of the gold's.
        ("Die Investitionen betragen 4,8 Millionen Euro.", "4,8 Mio. EUR", True),
        ("Die Investitionen betragen 4,80 Mio. €.", "4,8 Mio. EUR", True),
        ("Das Land soll 60% der Investitionskosten fördern.", "60 Prozent", True),
        ("Das Land soll sechzig Prozent der Investitionskosten fördern.", "60 Prozent", True),
        ("Das Land soll 2,88 Millionen Euro fördern.", "2,88 Mio. EUR", True),
        ("Jedes Mitglied zahlt jährlich einen Sockelbetrag von 2500 Euro.", "2.500 EUR", True),
        ("Jedes Mitglied zahlt jährlich einen Sockelbetrag von 25.000 EUR.", "2.500 EUR", False),
        ("Die Pilotphase beginnt am 1.3.2026.", "1. März 2026", True),
        ("Bis zum 31.12.2027 sollen alle Mitglieder angeschlossen sein.", "31. Dezember 2027", True),
        ("Bis Ende 2027 sollen alle Mitglieder angeschlossen sein.", "31. Dezember 2027", False),
    ],
)
def test_values_are_matched_by_the_checkers_normalised_tokens(
    statement: str, value: str, expected: bool
) -> None:
    assert contains_value(statement, value) is expected


def test_a_key_fact_is_covered_only_by_a_kept_statement_citing_its_gold_span_and_stating_its_values() -> None:
    right = _kept("Das Pilotbudget beträgt 250.000 EUR.", 1)
    assert covering_statement(FACT_BUDGET, [right], PASSAGES) == 0
    removed = Statement(right.text, "Sachstand", False, (), (1,))
    assert covering_statement(FACT_BUDGET, [removed], PASSAGES) is None
    other_passage = _kept("Das Pilotbudget beträgt 250.000 EUR.", 2)
    assert covering_statement(FACT_BUDGET, [other_passage], PASSAGES) is None
    wrong_value = _kept("Das Pilotbudget beträgt 320.000 EUR.", 1)
    assert covering_statement(FACT_BUDGET, [wrong_value], PASSAGES) is None
    assert covering_statement(FACT_BUDGET, [wrong_value, right], PASSAGES) == 1


def test_a_cited_passage_must_cover_half_of_the_gold_span() -> None:
    far = {1: Passage(1, MINUTES, 0, 1040, None, None, BUDGET)}  # 30 of the 80 gold characters
    assert covering_statement(FACT_BUDGET, [_kept("Das Pilotbudget beträgt 250.000 EUR.", 1)], far) is None


def test_figures_found_in_no_cited_passage_are_unsourced() -> None:
    statement = "Am 18.09.2025 wurde ein Pilotbudget von 250.000 EUR für 4 Kommunen beschlossen."
    assert unsourced_figures(statement, [BUDGET], min_support=0.5) == ["18.09.2025", "4"]
    assert (
        unsourced_figures(statement, [BUDGET + " Sitzung am 18.09.2025 mit vier Kommunen."], min_support=0.5)
        == []
    )
    assert unsourced_figures("Das Budget beträgt 250.000 EUR.", [], min_support=0.5) == ["250.000 EUR"]


def test_near_duplicates_are_counted_once_per_repeating_statement() -> None:
    texts = [
        "Das Pilotbudget des KI-Wissensassistenten beträgt 250.000 EUR.",
        "Das Pilotbudget des KI-Wissensassistenten beträgt insgesamt 250.000 EUR.",  # light word only
        "Die Investitionskosten betragen 4,8 Mio. EUR.",
    ]
    assert repeated_statements(texts) == [(1, 0)]
    assert repeated_statements(texts, threshold=1.01) == []


def test_a_hand_made_draft_is_scored_on_every_metric() -> None:
    statements = [
        _kept("Das Pilotbudget beträgt 250.000 EUR.", 1),  # covers f-budget, accepted, meets gold
        _kept("Die Investitionskosten betragen 4,8 Mio. EUR.", 2),  # covers f-costs
        _kept("Das Pilotbudget beträgt 999.000 EUR.", 1),  # marked mode: kept though unsupported
        _kept("Das Pilotbudget beträgt insgesamt 250.000 EUR.", 1),  # repeats the first
        Statement("Hamm erhält 5 Mio. EUR.", "Sachstand", False, (), (1,)),  # removed
    ]
    score = score_draft(statements, PASSAGES, [FACT_BUDGET, FACT_COSTS], min_support=0.5)
    assert score.facts == (("f-budget", 0), ("f-costs", 1))
    assert score.key_fact_recall == 1.0
    assert (score.kept, score.removed) == (4, 1)
    assert score.removed_share == pytest.approx(0.2)
    assert [c.accepted for c in score.citations] == [True, True, False, True]
    assert score.citation_precision == pytest.approx(0.75)
    assert score.gold_citation_share == 1.0  # every cited passage meets a gold span of the topic
    assert (score.model_pairs, score.model_pairs_accepted) == (5, 3)
    assert [(i, figure) for i, figure, _ in score.unsourced] == [(2, "999.000 EUR")]
    assert score.repeats == ((3, 0),)
    assert score.retrieved == (False, False)  # no retrieved passages given
    assert score.repeated_rate == pytest.approx(0.25)


def test_a_fact_counts_as_retrieved_when_a_retrieved_passage_meets_its_gold_span() -> None:
    found = [PASSAGES[2]]
    score = score_draft([], PASSAGES, [FACT_BUDGET, FACT_COSTS], min_support=0.5, retrieved=found)
    assert score.retrieved == (False, True) and score.key_fact_recall == 0.0
    assert overall([score])["key_fact_retrieved"] == 0.5


def test_overall_adds_up_pairs_and_facts_over_drafts_and_splits_by_origin() -> None:
    first = score_draft(
        [_kept("Das Pilotbudget beträgt 250.000 EUR.", 1)],
        PASSAGES,
        [FACT_BUDGET, FACT_COSTS],
        min_support=0.5,
    )
    decision = _kept("Am 18.09.2025 beschloss der AK: Pilotbudget von 250.000 EUR.", 1, origin="decision")
    second = score_draft([decision], PASSAGES, [FACT_COSTS], min_support=0.5)
    totals = overall([first, second])
    assert (totals["key_facts"], totals["key_facts_covered"]) == (3, 1)
    assert totals["key_fact_recall"] == pytest.approx(1 / 3)
    assert totals["key_fact_recall_macro"] == pytest.approx(0.25)
    assert totals["citation_pairs"] == 2 and totals["citation_precision"] == 0.5
    assert totals["unsourced_figures"] == 1
    assert totals["model_citation_precision"] == 1.0  # decision statements are not the model's citations
    assert totals["by_origin"]["model"]["citation_precision"] == 1.0
    assert totals["by_origin"]["decision"] == {
        "citation_pairs": 1,
        "citation_precision": 0.0,
        "gold_citation_share": 0.0,
        "unsourced_figures": 1,
    }
