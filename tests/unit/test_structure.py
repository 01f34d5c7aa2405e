from __future__ import annotations

from pathlib import Path

import pytest

from ingest.domain import Block, BlockKind, PageSpan, ParsedDocument
from ingest.structure import apply_minutes_structure, apply_outline_structure, find_agenda_items

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
CORPUS_REAL = DATASETS / "corpus-real"
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def doc(*parts: tuple[str, str], fmt: str = "text") -> ParsedDocument:
    """Blocks joined by blank lines; ("h1", text) is a level-1 heading, ("p", text) a paragraph."""
    text = ""
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    for kind, content in parts:
        start = len(text) + (2 if text else 0)
        text = f"{text}\n\n{content}" if text else content
        if kind == "p":
            blocks.append(Block(BlockKind.PARAGRAPH, content, start, len(text), tuple(h for _, h in path)))
        else:
            level = int(kind[1:])
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, content)]
            blocks.append(
                Block(BlockKind.HEADING, content, start, len(text), tuple(h for _, h in path), level)
            )
    pages = (PageSpan(1, 0, len(text) // 2), PageSpan(2, len(text) // 2, len(text)))
    return ParsedDocument("doc.txt", fmt, text, tuple(blocks), pages)


def real(*parts: str) -> ParsedDocument:
    from ingest.parsers import parse_file

    path = CORPUS_REAL.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"dataset file not found: {path}")
    return parse_file(path)


def assert_valid(before: ParsedDocument, after: ParsedDocument) -> None:
    assert after.text == before.text and after.pages == before.pages
    assert all(after.text[b.char_start : b.char_end] == b.text for b in after.blocks)
    assert all(b.text.strip() for b in after.blocks)
    starts = [b.char_start for b in after.blocks]
    assert starts == sorted(starts)
    for block in after.blocks:
        if block.kind is BlockKind.HEADING:
            assert block.level == len(block.section_path) and block.section_path[-1]


def headings(parsed: ParsedDocument) -> list[tuple[int, str]]:
    return [(b.level, b.section_path[-1]) for b in parsed.blocks if b.kind is BlockKind.HEADING]


def section_of(parsed: ParsedDocument, needle: str) -> tuple[str, ...]:
    return next(b.section_path for b in parsed.blocks if b.kind is BlockKind.PARAGRAPH and needle in b.text)


MINUTES_TEXT = (
    "Niederschrift der 3. Sitzung des AK Digitalisierung\nAnwesend: Frau Müller, Herr Schmidt\n"
    "TOP 1: Begrüßung\nFrau Müller begrüßt die Anwesenden.\n"
    "TOP 2 Haushalt 2026\nDer Haushalt wird vorgestellt.\nBeschluss: Der AK stimmt zu.\n"
    "Zu TOP 3: Verschiedenes\nKeine Wortmeldungen."
)


# --- minutes ------------------------------------------------------------------------------------------------


def test_agenda_lines_inside_a_paragraph_become_headings() -> None:
    before = doc(("p", MINUTES_TEXT))
    after = apply_minutes_structure(before)
    assert_valid(before, after)
    assert headings(after) == [
        (1, "TOP 1: Begrüßung"),
        (1, "TOP 2 Haushalt 2026"),
        (1, "Zu TOP 3: Verschiedenes"),
    ]
    assert section_of(after, "Anwesend") == ()
    assert section_of(after, "begrüßt") == ("TOP 1: Begrüßung",)
    assert section_of(after, "Beschluss: Der AK") == ("TOP 2 Haushalt 2026",)
    assert section_of(after, "Keine Wortmeldungen") == ("Zu TOP 3: Verschiedenes",)


def test_agenda_items_nest_under_a_document_title() -> None:
    before = doc(
        ("h1", "Protokoll der 3. Sitzung"),
        ("p", "Anwesend: Frau Müller"),
        ("h2", "Tagesordnungspunkt 1: Begrüßung"),
        ("p", "Text eins."),
        ("h3", "Diskussion"),
        ("p", "Text zwei."),
        ("h2", "Ö 2 Haushalt"),
        ("p", "Text drei."),
    )
    after = apply_minutes_structure(before)
    assert_valid(before, after)
    assert headings(after) == [
        (1, "Protokoll der 3. Sitzung"),
        (2, "Tagesordnungspunkt 1: Begrüßung"),
        (3, "Diskussion"),
        (2, "Ö 2 Haushalt"),
    ]
    assert section_of(after, "Text zwei") == (
        "Protokoll der 3. Sitzung",
        "Tagesordnungspunkt 1: Begrüßung",
        "Diskussion",
    )
    assert section_of(after, "Text drei") == ("Protokoll der 3. Sitzung", "Ö 2 Haushalt")


def test_a_heading_outside_the_agenda_items_closes_the_current_item() -> None:
    before = doc(
        ("h1", "Protokoll"),
        ("h2", "TOP 1: Begrüßung"),
        ("p", "Text eins."),
        ("h2", "Anlagen"),
        ("p", "Liste der Anlagen."),
    )
    after = apply_minutes_structure(before)
    assert section_of(after, "Liste der Anlagen") == ("Protokoll", "Anlagen")


def test_sub_items_nest_under_their_item() -> None:
    before = doc(
        ("p", "TOP 14: Immobilien\nText.\nTOP 14.1: Antrag KAL\nText 14.1.\nTOP 15: Sonstiges\nText 15.")
    )
    after = apply_minutes_structure(before)
    assert headings(after) == [
        (1, "TOP 14: Immobilien"),
        (2, "TOP 14.1: Antrag KAL"),
        (1, "TOP 15: Sonstiges"),
    ]
    assert section_of(after, "Text 14.1") == ("TOP 14: Immobilien", "TOP 14.1: Antrag KAL")


def test_the_agenda_overview_stays_text() -> None:
    overview = "Tagesordnung:\nTOP 1: Begrüßung\nTOP 2: Haushalt\nTOP 3: Verschiedenes"
    body = "TOP 1: Begrüßung\nText eins.\nTOP 2: Haushalt\nText zwei.\nTOP 3: Verschiedenes\nText drei."
    before = doc(("p", overview), ("p", body))
    after = apply_minutes_structure(before)
    assert_valid(before, after)
    assert [label for _, label in headings(after)] == [
        "TOP 1: Begrüßung",
        "TOP 2: Haushalt",
        "TOP 3: Verschiedenes",
    ]
    assert all(h.char_start > len(overview) for h in after.blocks if h.kind is BlockKind.HEADING)
    assert section_of(after, "Tagesordnung:") == ()


def test_numbered_agenda_lines_count_only_when_listed_in_the_agenda() -> None:
    before = doc(
        ("p", "Tagesordnung:\n1. Begrüßung\n2. Bericht des Vorstands\n3. Verschiedenes"),
        ("p", "1. Begrüßung\nDie Sitzung wird eröffnet."),
        ("p", "2. Bericht des Vorstands\nDer Vorstand berichtet:\n1. Die Kasse ist geprüft."),
        ("p", "3. Verschiedenes\nNichts."),
    )
    after = apply_minutes_structure(before)
    assert_valid(before, after)
    assert [label for _, label in headings(after)] == [
        "1. Begrüßung",
        "2. Bericht des Vorstands",
        "3. Verschiedenes",
    ]
    assert section_of(after, "Die Kasse") == ("2. Bericht des Vorstands",)


@pytest.mark.parametrize(
    "line",
    [
        "Tagesordnungspunkt 3 und bitte Sie um Ihr Votum.",  # a wrapped sentence
        "TOP 10.1: Einstimmige Zustimmung (45 Ja)",  # a vote result
        "top 3 der Woche",
        "- TOP 3: Haushalt",  # a list item
        "Der Vorsitzende ruft TOP 3 auf.",
    ],
)
def test_not_an_agenda_item(line: str) -> None:
    assert find_agenda_items(doc(("p", f"Einleitung.\n{line}\nWeiter."))) == ()


def test_minutes_without_agenda_items_are_returned_unchanged() -> None:
    before = doc(("h1", "Protokoll"), ("p", "Nur Text."))
    assert apply_minutes_structure(before) is before


def test_minutes_structure_is_idempotent() -> None:
    once = apply_minutes_structure(doc(("h1", "Protokoll"), ("p", MINUTES_TEXT)))
    assert apply_minutes_structure(once) == once


def test_a_vote_result_the_parser_took_for_a_heading_becomes_text() -> None:
    before = doc(
        ("p", "Punkt 16 der Tagesordnung: Neubaustrecke\nBeschluss:\nKenntnisnahme\nAbstimmungsergebnis:"),
        ("h1", "TOP 10.1: Einstimmige Zustimmung (45 Ja)"),
        ("p", "Der Vorsitzende ruft Tagesordnungspunkt 16 auf."),
    )
    after = apply_minutes_structure(before)
    assert headings(after) == [(1, "Punkt 16 der Tagesordnung: Neubaustrecke")]
    assert section_of(after, "TOP 10.1") == ("Punkt 16 der Tagesordnung: Neubaustrecke",)


def test_karlsruhe_minutes_with_wrapped_agenda_titles() -> None:
    before = real("karlsruhe-oparl", "gemeinderat-minutes", "2026-04-28", "TOP_14_file-678396.txt")
    after = apply_minutes_structure(before)
    assert_valid(before, after)
    items = find_agenda_items(before)
    assert [item.number for item in items] == ["14", "14.1", "14.2", "14.3"]
    assert items[0].label.startswith("Punkt 14 der Tagesordnung: Verwertung von nicht mehr für die")
    assert "benötigter Immobilien" in items[0].label  # the wrapped line belongs to the heading
    assert [level for level, label in headings(after) if label.startswith("Punkt")] == [1, 2, 2, 2]
    assert section_of(after, "Der Gemeinderat nimmt den jeweiligen Sachstand")[-1].startswith("Punkt 14.3")

    top2 = find_agenda_items(
        real("karlsruhe-oparl", "gemeinderat-minutes", "2026-04-28", "TOP_2_file-678384.txt")
    )
    assert len(top2) == 1
    assert "Ausscheiden von Franziska Buresch" in top2[0].label  # "Fran-\nziska" joined


def test_every_karlsruhe_file_has_its_agenda_item() -> None:
    folder = CORPUS_REAL / "karlsruhe-oparl" / "gemeinderat-minutes" / "2026-04-28"
    if not folder.is_dir():
        pytest.skip(f"dataset folder not found: {folder}")
    from ingest.parsers import parse_file

    for path in sorted(folder.glob("TOP_*.txt")):
        number = path.name.split("_")[1]
        items = find_agenda_items(parse_file(path))
        assert items and items[0].number == number, path.name


def test_project_corpus_minutes() -> None:
    from ingest.parsers import parse_file

    path = CORPUS / "protokoll-ak-ki-2025-09-18.md"
    before = parse_file(path)
    after = apply_minutes_structure(before)
    assert_valid(before, after)
    tops = [(level, label) for level, label in headings(after) if label.startswith("TOP")]
    assert [label.split(":")[0] for _, label in tops] == [f"TOP {n}" for n in range(1, 7)]
    assert {level for level, _ in tops} == {2}  # under the document title
    assert section_of(after, "Pilotbudget von 250.000 EUR")[-1].startswith("TOP 3:")


def test_fsfw_minutes_without_numbered_items_keep_their_topics() -> None:
    before = real("fsfw-dresden-protokolle", "protokolle", "protokoll-fsfw-dd-20161013.md")
    assert apply_minutes_structure(before) is before


# --- outline ------------------------------------------------------------------------------------------------

OPINION = (
    ("p", "Rechtsgutachten zur Nutzung von Cloud-Diensten"),
    ("p", "A. Sachverhalt\nDie Kommunen nutzen Cloud-Dienste."),
    ("p", "B. Rechtliche Würdigung"),
    ("p", "I. Datenschutz"),
    ("p", "1. Rechtsgrundlage\nRechtsgrundlage ist Art. 6 Abs. 1 lit. e DSGVO."),
    ("p", "a) Vertrag\nDer Vertrag nach Art. 28 Abs. 3 DSGVO regelt die Weisungen."),
    ("p", "§ 3 Abs. 2 OZG gilt entsprechend."),
    ("p", "b) Drittlandtransfer\nNur mit Garantien."),
    ("p", "2. Zwischenergebnis\nZulässig."),
    ("p", "II. Berufsgeheimnis\nNach § 203 StGB strafbar."),
    ("p", "C. Ergebnis\nSzenario 3 ist vorzugswürdig."),
)


def test_legal_outline_levels() -> None:
    before = doc(*OPINION)
    after = apply_outline_structure(before)
    assert_valid(before, after)
    assert headings(after) == [
        (1, "A. Sachverhalt"),
        (1, "B. Rechtliche Würdigung"),
        (2, "I. Datenschutz"),
        (3, "1. Rechtsgrundlage"),
        (4, "a) Vertrag"),
        (4, "b) Drittlandtransfer"),
        (3, "2. Zwischenergebnis"),
        (2, "II. Berufsgeheimnis"),
        (1, "C. Ergebnis"),  # the third letter after "B.", not Roman 100
    ]
    assert section_of(after, "Art. 28 Abs. 3") == (
        "B. Rechtliche Würdigung",
        "I. Datenschutz",
        "1. Rechtsgrundlage",
        "a) Vertrag",
    )
    # A paragraph that quotes a norm stays a paragraph of the section it is in.
    assert section_of(after, "§ 3 Abs. 2 OZG gilt")[-1] == "a) Vertrag"


def test_a_heading_line_is_split_from_its_paragraph() -> None:
    before = doc(("p", "1. Rechtsgrundlage\nRechtsgrundlage ist Art. 6 DSGVO."))
    after = apply_outline_structure(before)
    heading, paragraph = after.blocks
    assert (heading.kind, heading.text, heading.char_start) == (BlockKind.HEADING, "1. Rechtsgrundlage", 0)
    assert paragraph.text == "Rechtsgrundlage ist Art. 6 DSGVO."
    assert paragraph.char_start == len("1. Rechtsgrundlage\n")


def test_law_sections_nest_below_their_division() -> None:
    before = doc(
        ("h1", "Gesetz über die Digitalisierung (DigiG)"),
        ("p", "Abschnitt 1 Allgemeines"),
        ("p", "§ 1 Anwendungsbereich\n(1) Dieses Gesetz gilt für Behörden."),
        ("p", "§ 2\nBegriffsbestimmungen\n(1) Im Sinne dieses Gesetzes ist"),
        ("p", "Abschnitt 2 Verfahren"),
        ("p", "§ 3 Elektronischer Zugang\nJede Behörde ist verpflichtet."),
    )
    after = apply_outline_structure(before)
    assert_valid(before, after)
    assert headings(after) == [
        (1, "Gesetz über die Digitalisierung (DigiG)"),
        (2, "Abschnitt 1 Allgemeines"),
        (3, "§ 1 Anwendungsbereich"),
        (3, "§ 2 Begriffsbestimmungen"),  # number and title on two lines
        (2, "Abschnitt 2 Verfahren"),
        (3, "§ 3 Elektronischer Zugang"),
    ]


@pytest.mark.parametrize(
    "paragraph",
    [
        "1. Die Stadt trägt die Kosten.",  # a numbered sentence
        "3. Vereinigungen, soweit ihnen ein Recht zustehen kann, und",
        "a) die Behörde",  # lower case: a list item
        "1. Der Gemeinderat stellt nach § 16 Abs. 2 GemO\nfest, dass die Voraussetzungen vorliegen",
        "§ 16 GemO regelt die Befangenheit.",
        "§ 3 Absatz 2 Satz 1 gilt entsprechend",
        "15. Mai 2026\nDer Gemeinderat tagt im Bürgersaal.",  # a date
        "7. Dezember 2023 Steuerkreistreffen karlsruhe.digital",
        "3. Okt. 2025\nSitzung des Ausschusses",
    ],
)
def test_not_an_outline_heading(paragraph: str) -> None:
    before = doc(("p", "Einleitung."), ("p", paragraph), ("p", "Schluss."))
    assert headings(apply_outline_structure(before)) == []


def test_adjacent_numbered_blocks_are_a_list() -> None:
    items = [("p", "1. Behörden"), ("p", "2. Bürgerinnen und Bürger"), ("p", "3. Unternehmen")]
    before = doc(("h1", "§ 2 Begriffsbestimmungen"), *items, ("p", "Ende."))
    assert headings(apply_outline_structure(before)) == [(1, "§ 2 Begriffsbestimmungen")]


def test_bdsg_keeps_the_parser_levels() -> None:
    before = real("bundestag-gesetze", "bdsg_2018.md")
    after = apply_outline_structure(before)
    assert_valid(before, after)
    assert section_of(after, "(1) Dieses Gesetz gilt für die Verarbeitung personenbezogener Daten") == (
        "Bundesdatenschutzgesetz (BDSG 2018)",
        "Teil 1 - Gemeinsame Bestimmungen",
        "Kapitel 1 - Anwendungsbereich und Begriffsbestimmungen",
        "§ 1 Anwendungsbereich des Gesetzes",
    )


def test_grundgesetz_articles_nest_under_their_roman_section() -> None:
    after = apply_outline_structure(real("bundestag-gesetze", "gg.md"))
    assert ("Grundgesetz für die Bundesrepublik Deutschland (GG)", "I. - Die Grundrechte", "Art 1") in {
        b.section_path for b in after.blocks
    }


def test_ozg_list_items_are_not_headings() -> None:
    before = real("bundestag-gesetze", "ozg.md")
    after = apply_outline_structure(before)
    assert_valid(before, after)
    labels = [label for _, label in headings(after)]
    assert labels[0].startswith("Gesetz zur Verbesserung des Onlinezugangs")
    assert all(label.startswith("§") for label in labels[1:])
    assert len(labels) == 12


def test_project_corpus_legal_opinion() -> None:
    from ingest.parsers import parse_file

    path = CORPUS / "rechtsgutachten-cloud-nutzung.pdf"
    before = parse_file(path)
    after = apply_outline_structure(before)
    assert_valid(before, after)
    assert ("B. Rechtliche Würdigung", "I. Datenschutzrechtliche Zulässigkeit") in {
        b.section_path[:2] for b in after.blocks
    }
    assert (1, "C. Ergebnis") in headings(after)
