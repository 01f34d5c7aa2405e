"""PDF headings inside a running sentence, and tables of contents without dot leaders."""

from __future__ import annotations

from pathlib import Path

from ingest.domain import BlockKind
from ingest.parsers import parse_file
from ingest.parsers.outline import Line, segment_lines

POSITION_PAPER = Path(__file__).resolve().parents[2] / "corpus" / "positionspapier-ki-infrastruktur.pdf"


def _headings(texts: list[str]) -> list[str]:
    segments = segment_lines([Line(text, 1) for text in texts])
    return [" ".join(s.lines) for s in segments if s.kind is BlockKind.HEADING]


def test_position_paper_numbered_demands_are_headings_under_their_section() -> None:
    doc = parse_file(POSITION_PAPER)
    headings = {b.text: b.section_path for b in doc.blocks if b.kind is BlockKind.HEADING}
    parent = "5. Forderungen an das Land Nordrhein-Westfalen"
    for title in (
        "5.1 Förderung der Investitionskosten",
        "5.2 Rechtssicherheit für die interkommunale Zusammenarbeit",
        "5.3 Keine Verpflichtung auf zentrale Cloud-Angebote",
        "5.4 Beteiligung an der Umsetzung der KI-Verordnung",
    ):
        assert headings.get(title) == (parent, title), (title, headings.get(title))


def test_dotted_number_that_continues_the_numbering_is_a_heading_inside_a_sentence() -> None:
    texts = [
        "2. Forderungen",
        "Der Verband fordert das Land auf,",
        "2.1 Förderung der Investitionskosten",
        "60 Prozent der Investitionskosten aus Landesmitteln zu fördern und die Mittel verbindlich zuzusagen;",
        "2.2 Rechtssicherheit für die Zusammenarbeit",
        "klarzustellen, dass die gemeinsame Bereitstellung vergaberechtsfrei zulässig ist.",
    ]
    assert _headings(texts) == ["2. Forderungen", "2.1 Förderung der Investitionskosten",
                                "2.2 Rechtssicherheit für die Zusammenarbeit"]  # fmt: skip


def test_dotted_number_out_of_sequence_inside_a_sentence_stays_text() -> None:
    texts = [
        "2. Forderungen",
        "Die Werte stehen in Tabelle",
        "7.4 Übersicht der Kosten",
        "und werden jährlich fortgeschrieben, wie es der Beschluss vorsieht und das Land verlangt.",
    ]
    assert _headings(texts) == ["2. Forderungen"]


def test_contents_lines_with_page_numbers_are_no_headings() -> None:
    texts = [
        "Inhalt",
        "1 Allgemeines 3",
        "2 Systemaufbau 5",
        "2.1 Leitstellengerät 5",
        "3 Geräteausstattung 7",
        "3.1 Optische Anzeigen 7",
        "",
        "1 Allgemeines",
        "Diese Richtlinie gilt für alle Geräte des Funkmeldesystems der Behörden und Organisationen.",
    ]
    assert _headings(texts) == ["1 Allgemeines"]


def test_heading_ending_in_a_year_is_no_contents_line() -> None:
    texts = [
        "4.1 Pilotphase 2026",
        "Die Pilotphase beginnt im Januar mit drei Mitgliedern und dauert zwölf Monate bis zum Jahresende.",
        "4.2 Rollout 2027",
        "Der Rollout folgt im Jahr darauf in allen Mitgliedsverbänden, die sich beteiligen wollen und können.",
    ]
    assert _headings(texts) == ["4.1 Pilotphase 2026", "4.2 Rollout 2027"]
