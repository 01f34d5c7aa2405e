"""Which minutes' decisions belong to a draft's topic, and how their provenance is shown: pure functions of
service/drafting/decisions.py, on decision wordings of corpus/ minutes."""

from __future__ import annotations

import pytest

from service.citations import content_words
from service.drafting.decisions import about_topic, decision_lead

DRILL = (
    "TOP 4: Gemeinsame Notfallübung 2026\nDer AK führt am 18.03.2026 eine gemeinsame Notfallübung mit dem Szenario "
    "„Ransomware-Angriff auf ein Rechenzentrum“ durch."
)
DRAFT_PAPER = (
    "TOP 2: Entwurf des Positionspapiers „Gemeinsame KI-Infrastruktur“\nDer AK legt für das Positionspapier eine "
    "technische Mindestausstattung von 16 GPUs fest und beauftragt die Redaktionsgruppe, den Entwurf einschließlich "
    "eines Finanzierungsmodells mit Sockelbetrag zu überarbeiten."
)
ENERGY = (
    "TOP 5: Berichtspflichten nach dem Energieeffizienzgesetz\nDie Mitglieder erheben die PUE-Werte aller "
    "Standorte für 2025."
)
BUDGET = (
    "TOP 3: Pilotprojekt „KI-Wissensassistent“\nDer AK beschließt das Pilotprojekt „KI-Wissensassistent“ mit einem "
    "Pilotbudget von 250.000 EUR."
)


@pytest.mark.parametrize(
    ("topic", "decision", "expected"),
    [
        # One shared word ("gemeinsam") is not a topic: the emergency drill is not about financing.
        ("Finanzierung der gemeinsamen KI-Infrastruktur der Verbandsmitglieder", DRILL, False),
        ("Finanzierung der gemeinsamen KI-Infrastruktur der Verbandsmitglieder", DRAFT_PAPER, True),
        # "Rechenzentrum" alone is not enough either.
        ("Energieeffizienz der Rechenzentren nach dem Energieeffizienzgesetz", DRILL, False),
        # Two words that share a 6-letter stem still count as two ("Energieeffizienz", "…gesetz").
        ("Energieeffizienz der Rechenzentren nach dem Energieeffizienzgesetz", ENERGY, True),
        # A compound's head: "Budget" in "Pilotbudget".
        ("Budget des Pilotprojekts KI-Wissensassistent", BUDGET, True),
        # A one-word topic needs its one word.
        ("Pilotbudget", BUDGET, True),
        ("Notfallübung", BUDGET, False),
    ],
)
def test_a_decision_is_about_the_topic_when_it_says_two_of_its_words(
    topic: str, decision: str, expected: bool
) -> None:
    assert about_topic(content_words(topic), decision) is expected


def test_content_words_keep_one_word_per_lemma_without_function_words() -> None:
    words = content_words(
        "Energieeffizienz der Rechenzentren nach dem Energieeffizienzgesetz der Rechenzentren"
    )
    assert words == ["Energieeffizienz", "Rechenzentren", "Energieeffizienzgesetz"]


def test_the_lead_shows_date_body_and_agenda_item_as_provenance() -> None:
    lead = decision_lead("2025-09-18", "AK KI und Automatisierung", "TOP 2: Entwurf")
    assert lead == "Sitzung vom 18.09.2025, AK KI und Automatisierung, TOP 2: Entwurf"
    assert decision_lead(None, None, "TOP 1") == "Sitzung, TOP 1"
