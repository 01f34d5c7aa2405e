"""German compound splitting for the BM25 side (ingest/compounds.py)."""

from __future__ import annotations

import pytest

from ingest.compounds import split_compound, with_compound_parts


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("Vereinsveranstaltungen", ("verein", "veranstaltungen")),
        ("Mitgliederversammlungen", ("mitglieder", "versammlungen")),
        ("Energieeffizienzgesetz", ("energie", "effizienz", "gesetz")),
        ("Sportstättenbetrieb", ("sport", "stätte", "betrieb")),
        ("Zuschussempfänger", ("zuschuss", "empfänger")),
        ("Straßenbahnhaltestelle", ("straßenbahn", "haltestelle")),
    ],
)
def test_a_compound_of_common_words_is_cut_into_them(word: str, parts: tuple[str, ...]) -> None:
    assert split_compound(word) == parts


@pytest.mark.parametrize("word", ["Veranstaltungen", "Unterstützung", "Wirtschaftlichkeit", "Beteiligung"])
def test_a_derived_word_is_not_cut_at_its_ending_or_prefix(word: str) -> None:
    assert split_compound(word) == ()


def test_a_common_side_is_not_cut_again() -> None:
    # "sicherheit" is a common word of its own: not "sicher" + "heit".
    assert split_compound("Informationssicherheit") == ("information", "sicherheit")


def test_the_parts_follow_the_text_once_per_compound_and_short_words_stay_as_they_are() -> None:
    text = "Räume für Vereinsveranstaltungen; Vereinsveranstaltungen brauchen Räume."
    assert with_compound_parts(text) == f"{text}\nverein veranstaltungen"
    assert with_compound_parts("Kein Kompositum hier.") == "Kein Kompositum hier."
