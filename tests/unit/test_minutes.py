from __future__ import annotations

from pathlib import Path

import pytest

from ingest.domain import Block, BlockKind, ParsedDocument
from ingest.minutes import ActionItem, Decision, MinutesRecords, extract_minutes_records, parse_vote

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
CORPUS_REAL = DATASETS / "corpus-real"
KARLSRUHE = CORPUS_REAL / "karlsruhe-oparl" / "gemeinderat-minutes" / "2026-04-28"
FSFW = CORPUS_REAL / "fsfw-dresden-protokolle" / "protokolle"
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def markdown(text: str) -> ParsedDocument:
    from ingest.parsers import parse_bytes

    return parse_bytes(text.encode("utf-8"), "protokoll.md")


def paragraphs(*texts: str) -> ParsedDocument:
    """Paragraph blocks joined by blank lines, no headings: the shape of plain-text minutes."""
    full = "\n\n".join(texts)
    blocks, start = [], 0
    for text in texts:
        blocks.append(Block(BlockKind.PARAGRAPH, text, start, start + len(text)))
        start += len(text) + 2
    return ParsedDocument("protokoll.txt", "text", full, tuple(blocks))


def parsed_file(path: Path) -> ParsedDocument:
    from ingest.parsers import parse_file

    if not path.is_file():
        pytest.skip(f"file not found: {path}")
    return parse_file(path)


def assert_offsets(parsed: ParsedDocument, records: MinutesRecords) -> None:
    spans: list[Decision | ActionItem] = [*records.decisions, *records.action_items]
    for record in spans:
        span = parsed.text[record.char_start : record.char_end]
        assert span and span == span.strip()
    for decision in records.decisions:
        # The wording comes from the span (whitespace and line-break hyphens aside).
        first_word = decision.text.split()[0].strip("*")
        assert first_word in parsed.text[decision.char_start : decision.char_end]


MINUTES = """# Protokoll der 7. Sitzung des AK Digitale Verwaltung

**Datum:** 12.03.2025

**Anwesend:**

- Dr. Anna Berg (Stadt Hamm, Vorsitz)
- Jonas Keller (KDZ Hellweg)
- Petra Lang

**Entschuldigt:** Uwe Gerdes

Gast: Prof. Dr. Albers

## TOP 1: Genehmigung der Tagesordnung

**Beschluss:** Die Tagesordnung wird genehmigt. Abstimmungsergebnis: einstimmig.

## TOP 2: OZG-Umsetzung

Herr Keller berichtet über den Stand.

Beschluss:
Der AK empfiehlt den Mitgliedern, das Nutzerkonto Bund anzubinden.
Abstimmungsergebnis:
8 Ja, 1 Nein, 2 Enthaltungen

Aufgabe: Leitfaden zur Anbindung erstellen – verantwortlich: Jonas Keller (KDZ Hellweg) – bis: 31.03.2025

To-do: Termin mit dem Land abstimmen (verantwortlich: Petra Lang, bis 15. April 2025)

## TOP 3: Verschiedenes

Der Arbeitskreis beschließt, die nächste Sitzung als Videokonferenz abzuhalten.

| Wer | Was | Bis wann |
|---|---|---|
| Dr. Anna Berg | Einladung versenden | 01.04.2025 |
| Jonas Keller | Raum buchen | nächste Sitzung |

Maßnahme: Protokoll im Wiki veröffentlichen
"""


@pytest.fixture(scope="module")
def records() -> MinutesRecords:
    return extract_minutes_records(markdown(MINUTES))


def test_attendees_from_a_list_under_anwesend(records: MinutesRecords) -> None:
    assert records.attendees == (
        "Dr. Anna Berg (Stadt Hamm, Vorsitz)",
        "Jonas Keller (KDZ Hellweg)",
        "Petra Lang",
    )


def test_decisions_with_their_votes_and_agenda_items(records: MinutesRecords) -> None:
    assert [(d.agenda_item, d.vote) for d in records.decisions] == [
        ("TOP 1: Genehmigung der Tagesordnung", "einstimmig"),
        ("TOP 2: OZG-Umsetzung", "8:1:2"),
        ("TOP 3: Verschiedenes", None),
    ]
    texts = [d.text for d in records.decisions]
    assert texts[0] == "Die Tagesordnung wird genehmigt."
    assert texts[1] == "Der AK empfiehlt den Mitgliedern, das Nutzerkonto Bund anzubinden."
    assert texts[2] == "Der Arbeitskreis beschließt, die nächste Sitzung als Videokonferenz abzuhalten."


def test_action_items_with_who_and_due(records: MinutesRecords) -> None:
    assert [(a.agenda_item, a.who, a.what, a.due) for a in records.action_items] == [
        (
            "TOP 2: OZG-Umsetzung",
            "Jonas Keller (KDZ Hellweg)",
            "Leitfaden zur Anbindung erstellen",
            "2025-03-31",
        ),
        ("TOP 2: OZG-Umsetzung", "Petra Lang", "Termin mit dem Land abstimmen", "2025-04-15"),
        ("TOP 3: Verschiedenes", "Dr. Anna Berg", "Einladung versenden", "2025-04-01"),
        ("TOP 3: Verschiedenes", "Jonas Keller", "Raum buchen", "nächste Sitzung"),
        ("TOP 3: Verschiedenes", None, "Protokoll im Wiki veröffentlichen", None),
    ]


def test_offsets_point_into_the_text() -> None:
    parsed = markdown(MINUTES)
    records = extract_minutes_records(parsed)
    assert_offsets(parsed, records)
    decision = records.decisions[1]
    span = parsed.text[decision.char_start : decision.char_end]
    assert span.startswith("Beschluss:") and span.endswith("2 Enthaltungen")


def test_already_structured_minutes_give_the_same_records() -> None:
    from ingest.structure import apply_minutes_structure

    parsed = markdown(MINUTES)
    assert extract_minutes_records(apply_minutes_structure(parsed)) == extract_minutes_records(parsed)


def test_plain_text_minutes_without_headings() -> None:
    parsed = paragraphs(
        "Niederschrift\nAnwesende: Müller, Schmidt,\nYilmaz und Wagner\nProtokoll: Wagner",
        "TOP 1 Bericht\nDer Vorstand berichtet.\nBeschlossen: Der Bericht wird zur Kenntnis genommen.\n"
        "Abstimmung: 4/0/1",
        "TOP 2 Haushalt\nZwischenbeschluss: Die Beratung wird vertagt.\n"
        "Abstimmungsergebnis: mehrheitlich abgelehnt (3 Ja-Stimmen, 5 Gegenstimmen)\n"
        "Aufgaben:\n- Müller: Zahlen aufbereiten\n- Schmidt: Antrag formulieren (bis 30.04.2025)",
    )
    records = extract_minutes_records(parsed)
    assert records.attendees == ("Müller", "Schmidt", "Yilmaz", "Wagner")
    assert [(d.agenda_item, d.text, d.vote) for d in records.decisions] == [
        ("TOP 1 Bericht", "Der Bericht wird zur Kenntnis genommen.", "4:0:1"),
        ("TOP 2 Haushalt", "Die Beratung wird vertagt.", "mehrheitlich abgelehnt 3:5:0"),
    ]
    assert [(a.who, a.what, a.due) for a in records.action_items] == [
        ("Müller", "Zahlen aufbereiten", None),
        ("Schmidt", "Antrag formulieren", "2025-04-30"),
    ]
    assert_offsets(parsed, records)


def test_a_vote_without_a_decision_before_it_is_recorded_as_one() -> None:
    records = extract_minutes_records(
        paragraphs("TOP 4 Losverfahren\nDiskussion.\nAbstimmung: 8 dafür, 1 dagegen")
    )
    assert records.decisions == (
        Decision("TOP 4 Losverfahren", "Abstimmung: 8 dafür, 1 dagegen", "8:1:0", 31, 61),
    )


def test_a_negated_decision_sentence_is_no_decision() -> None:
    records = extract_minutes_records(
        paragraphs("Der AK beschließt heute nichts.", "Es wird nicht beschlossen.")
    )
    assert [d.text for d in records.decisions] == ["Der AK beschließt heute nichts."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("einstimmig", "einstimmig"),
        ("Einstimmige Zustimmung (44 Ja)", "einstimmig 44:0:0"),
        ("Mehrheitliche Zustimmung (41 JA-Stimmen, 4 Nein-Stimmen)", "mehrheitlich 41:4:0"),
        ("8 Ja, 1 Nein, 2 Enthaltungen", "8:1:2"),
        ("12:3:1", "12:3:1"),
        ("4/3/2", "4:3:2"),
        ("Antrag einstimmig angenommen (5-0-0)", "einstimmig angenommen 5:0:0"),
        ("ohne Gegenrede angenommen", "ohne Gegenrede angenommen"),
        (
            "Mehrheitliche Ablehnung (17 JA-Stim-\nmen, 26 Nein-Stimmen, 1 Enthaltung)",
            "mehrheitlich abgelehnt 17:26:1",
        ),
        ("Keine Abstimmung", None),
        ("am 2025-03-12 um 18:30", None),
    ],
)
def test_parse_vote(text: str, expected: str | None) -> None:
    assert parse_vote(text) == expected


# --- real minutes -------------------------------------------------------------------------------------------


def test_karlsruhe_every_agenda_item_has_one_decision() -> None:
    if not KARLSRUHE.is_dir():
        pytest.skip(f"dataset folder not found: {KARLSRUHE}")
    for path in sorted(KARLSRUHE.glob("TOP_*.txt")):
        records = extract_minutes_records(parsed_file(path))
        number = path.name.split("_")[1]
        assert len(records.decisions) == 1, path.name
        agenda_item = records.decisions[0].agenda_item
        assert agenda_item is not None and agenda_item.startswith(f"Punkt {number}"), path.name


def test_karlsruhe_decisions_and_votes() -> None:
    top2 = extract_minutes_records(parsed_file(KARLSRUHE / "TOP_2_file-678384.txt")).decisions[0]
    assert top2.vote == "einstimmig 44:0:0"
    assert top2.text.startswith("1. Der Gemeinderat stellt nach § 16 Abs. 2 in Verbindung mit")
    assert "ausscheidet." in top2.text  # "ausschei-\ndet" joined
    top12 = extract_minutes_records(parsed_file(KARLSRUHE / "TOP_12_file-678394.txt")).decisions[0]
    assert top12.vote == "mehrheitlich 41:4:0"
    # The amendment was rejected, the unchanged proposal adopted: the proposal's vote is the decision's.
    top19 = extract_minutes_records(parsed_file(KARLSRUHE / "TOP_19_file-678404.txt")).decisions[0]
    assert top19.vote == "einstimmig"
    top22 = extract_minutes_records(parsed_file(KARLSRUHE / "TOP_22_file-678408.txt")).decisions[0]
    assert (top22.text, top22.vote) == ("Beratung im Planungsausschuss am 7. Mai 2026, öffentlich", None)


def test_fsfw_minutes_attendees_and_votes() -> None:
    parsed = parsed_file(FSFW / "protokoll-fsfw-dd-20161013.md")
    records = extract_minutes_records(parsed)
    assert len(records.attendees) == 11
    assert records.attendees[0] == "Sebi" and records.attendees[-1] == "Norman"  # across a wrapped line
    by_text = {d.text: d for d in records.decisions}
    assert by_text["Die Tagesordnung wird ohne Gegenrede angenommen."].vote == "ohne Gegenrede angenommen"
    vote = by_text["Abstimmung: 8 dafür, 1 dagegen, 1 Enthaltung"]
    assert (vote.agenda_item, vote.vote) == ("USB-Stick", "8:1:1")
    assert_offsets(parsed, records)


def test_fsfw_decision_that_is_only_a_vote_takes_the_motion() -> None:
    records = extract_minutes_records(parsed_file(FSFW / "protokoll-fsfw-dd-20160818.md"))
    first = records.decisions[0]
    assert first.text == "wir machen das so (sprich: Dokumentation als Markdown im Stick-Repo)"
    assert first.vote == "ohne Gegenrede angenommen"
    assert ("Gerd", "dummy-Seite anlegen (wird schon gemacht)") in {
        (a.who, a.what) for a in records.action_items
    }


def test_fsfw_todo_list() -> None:
    records = extract_minutes_records(parsed_file(FSFW / "protokoll-fsfw-dd-20151008.md"))
    assert [a.what for a in records.action_items][:2] == [
        "Doku im wiki schaffen",
        "Inhalte verlinken, z.B. Wissenschaftl. Arbeitem mit LO",
    ]
    assert len(records.action_items) == 5


def test_project_corpus_minutes_markdown() -> None:
    path = CORPUS / "protokoll-ak-ki-2025-09-18.md"
    parsed = parsed_file(path)
    records = extract_minutes_records(parsed)
    assert len(records.attendees) == 11
    assert "Uwe Gerdes (Siegerland Kommunal-IT)" not in records.attendees  # entschuldigt
    assert [d.agenda_item.split(":")[0] for d in records.decisions if d.agenda_item] == [
        "TOP 1",
        "TOP 2",
        "TOP 3",
        "TOP 4",
        "TOP 5",
    ]
    pilot = records.decisions[2]
    assert pilot.vote == "8:1:1" and "Pilotbudget von 250.000 EUR" in pilot.text
    assert (
        ActionItem(
            "TOP 3: Pilotprojekt „KI-Wissensassistent für die Arbeitskreise“",
            "Markus Terhorst (KDZ Hellweg)",
            "Leistungsbeschreibung für die Anmietung der GPU-Server erstellen",
            "2025-11-15",
            records.action_items[1].char_start,
            records.action_items[1].char_end,
        )
        == records.action_items[1]
    )
    assert len(records.action_items) == 5
    assert_offsets(parsed, records)


def test_project_corpus_minutes_docx() -> None:
    path = CORPUS / "protokoll-ak-rechenzentren-2025-10-15.docx"
    records = extract_minutes_records(parsed_file(path))
    votes = {d.agenda_item.split(":")[0]: d.vote for d in records.decisions if d.agenda_item}
    assert votes["TOP 3"] == "9:2:1"
    assert {a.due for a in records.action_items} >= {"2026-01-15", "2025-10-31"}
