"""The citation checker rejects a statement that says the opposite of its source ("dürfen" vs "dürfen nicht"),
which the share rule alone accepts: every content word is in the passage. Real passages from `corpus/`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from service.citations import check_statement

REPO = Path(__file__).resolve().parents[2]
GUTACHTEN = REPO / "corpus" / "rechtsgutachten-cloud-nutzung.pdf"
MIN_SUPPORT = 0.5


@cache
def _page(number: int) -> str:
    from ingest.parsers import parse_file

    doc = parse_file(GUTACHTEN, display_path=GUTACHTEN.name)
    span = next(p for p in doc.pages if p.number == number)
    return doc.text[span.char_start : span.char_end]


def test_an_affirmed_statement_whose_source_negates_it_is_rejected_with_the_reason() -> None:
    # The answer the 1.5B model gave to corpus-7 with focused passages; page 6 says "dürfen nicht".
    statement = (
        "Ja, Daten, die dem § 203 StGB unterliegen, dürfen mit KI-Diensten außereuropäischer Cloud-Anbieter "
        "verarbeitet werden."
    )
    verdict = check_statement(statement, _page(6), min_support=MIN_SUPPORT)
    assert verdict.share == 1.0  # every content word is there: only the polarity tells them apart
    assert not verdict.supported
    assert verdict.contradicted
    assert verdict.reasons == ("die Quelle sagt das Gegenteil (Verneinung)",)


def test_the_negated_statement_that_matches_its_source_is_accepted() -> None:
    statement = (
        "Nein, Daten, die dem § 203 StGB unterliegen, dürfen nicht mit KI-Diensten außereuropäischer "
        "Cloud-Anbieter verarbeitet werden."
    )
    verdict = check_statement(statement, _page(6), min_support=MIN_SUPPORT)
    assert verdict.supported and not verdict.contradicted


def test_a_negated_statement_whose_source_affirms_it_is_rejected() -> None:
    passage = (
        "Der Arbeitskreis beschließt das Pilotprojekt KI-Wissensassistent mit einem Budget von 250.000 EUR."
    )
    statement = "Der Arbeitskreis beschließt das Pilotprojekt KI-Wissensassistent nicht."
    verdict = check_statement(statement, passage, min_support=MIN_SUPPORT)
    assert verdict.contradicted and not verdict.supported
    assert check_statement(
        "Der Arbeitskreis beschließt das Pilotprojekt KI-Wissensassistent.", passage, min_support=MIN_SUPPORT
    ).supported


def test_a_negation_in_another_clause_of_the_source_sentence_does_not_count() -> None:
    # § 2 Abs. 2 EGovG: the main clause obliges; only the exception ("es sei denn … keinen Zugang") is negated.
    passage = (
        "(2) Jede Behörde des Bundes ist verpflichtet, den elektronischen Zugang zusätzlich durch eine "
        "De-Mail-Adresse im Sinne des De-Mail-Gesetzes zu eröffnen, es sei denn, die Behörde des Bundes hat "
        "keinen Zugang zu dem zentral für die Bundesverwaltung angebotenen IT-Verfahren."
    )
    statement = "Jede Behörde des Bundes muss den elektronischen Zugang zusätzlich über eine De-Mail-Adresse eröffnen."
    verdict = check_statement(statement, passage, min_support=MIN_SUPPORT)
    assert verdict.supported and not verdict.contradicted


def test_a_statement_of_two_clauses_one_negated_is_accepted_when_the_source_says_both() -> None:
    passage = (
        "Die Pilotkommunen tragen keine Kosten der Pilotphase. "
        "Die Umlage wird erstmals für das Jahr 2027 erhoben."
    )
    statement = (
        "Die Umlage wird erstmals für 2027 erhoben, die Pilotkommunen tragen keine Kosten der Pilotphase."
    )
    assert check_statement(statement, passage, min_support=MIN_SUPPORT).supported
