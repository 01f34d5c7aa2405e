"""The document parsers on small German documents generated here, on bad input, and on real files."""

from __future__ import annotations

import io
import os
import unicodedata
import zipfile
from collections.abc import Sequence
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen import canvas

from ingest.domain import BlockKind, ParsedDocument
from ingest.errors import (
    CorruptDocument,
    EmptyFile,
    EncryptedDocument,
    FileTooLarge,
    IngestError,
    InvalidMetadata,
    NoTextLayer,
    SuspiciousArchive,
    UnsupportedFormat,
)
from ingest.parsers import SUPPORTED_SUFFIXES, parse_bytes, parse_file
from ingest.parsers.outline import Line, heading_candidate, segment_lines
from ingest.parsers.pdf import join_wrapped_lines

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def assert_consistent(doc: ParsedDocument) -> None:
    """The ParsedDocument contract: offsets, blocks joined by blank lines, NFC, pages tiling the text."""
    assert doc.blocks
    for block in doc.blocks:
        assert doc.text[block.char_start : block.char_end] == block.text
        if block.kind is BlockKind.HEADING:
            assert block.level >= 1
            assert block.section_path[-1] == block.text
    assert doc.text == "\n\n".join(block.text for block in doc.blocks)
    assert unicodedata.is_normalized("NFC", doc.text)
    if doc.pages:
        assert [page.number for page in doc.pages] == list(range(1, len(doc.pages) + 1))
        assert doc.pages[0].char_start == 0
        assert doc.pages[-1].char_end == len(doc.text)
        for before, after in zip(doc.pages, doc.pages[1:], strict=False):
            assert before.char_end == after.char_start
            assert before.char_start <= before.char_end


def outline(doc: ParsedDocument) -> list[tuple[str, str, int, tuple[str, ...]]]:
    return [(b.kind.value, b.text, b.level, b.section_path) for b in doc.blocks]


def write_pdf(path: Path, pages: Sequence[Sequence[str]], **canvas_options: object) -> Path:
    """One line of text per entry, 14 pt apart; " " draws an (extractable) blank line."""
    pdf = canvas.Canvas(str(path), **canvas_options)
    pdf.setTitle("Protokoll AK Digitalisierung")
    pdf.setAuthor("Geschäftsstelle")
    for lines in pages:
        y = 780
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()
    return path


def simple_pdf(path: Path, **canvas_options: object) -> Path:
    return write_pdf(
        path, [["Die Verwaltung prüft die Einführung.", " ", "Zweiter Absatz."]], **canvas_options
    )


def expect_error(error: type[IngestError], code: str, path: Path, **options: object) -> IngestError:
    with pytest.raises(error) as info:
        parse_file(path, **options)  # type: ignore[arg-type]
    assert info.value.code == code
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


# --- PDF ----------------------------------------------------------------------------------------------------

MINUTES_PAGES = [
    [
        "Musterstadt · Protokoll AK Digitalisierung",
        "A. Ausgangslage",
        "Die Verwal-",
        "tung der Stadt prüft die Einführung.",
        " ",
        "I. Rechtlicher Rahmen",
        "Nach § 3 gilt das für die",
        "Gemeinde.",
        "Seite 1 von 3",
    ],
    [
        "Musterstadt · Protokoll AK Digitalisierung",
        "1. Zuständigkeit",
        "Zuständig ist der Kreis-",
        "und Stadtverband für die Feuerwehr-",
        "Schutzkleidung.",
        "1.1 Fristen",
        "Die Frist beträgt drei Monate.",
        "Seite 2 von 3",
    ],
    [
        "Musterstadt · Protokoll AK Digitalisierung",
        "TOP 3: Haushalt",
        "Der Haushalt wurde beschlossen.",
        "Seite 3 von 3",
    ],
]


def test_pdf_round_trip_pages_headings_and_wrapped_lines(tmp_path: Path) -> None:
    doc = parse_file(write_pdf(tmp_path / "protokoll.pdf", MINUTES_PAGES))

    assert_consistent(doc)
    a, roman, one, one_one = "A. Ausgangslage", "I. Rechtlicher Rahmen", "1. Zuständigkeit", "1.1 Fristen"
    assert outline(doc) == [
        ("heading", a, 1, (a,)),
        ("paragraph", "Die Verwaltung der Stadt prüft die Einführung.", 0, (a,)),
        ("heading", roman, 2, (a, roman)),
        ("paragraph", "Nach § 3 gilt das für die Gemeinde.", 0, (a, roman)),
        ("heading", one, 3, (a, roman, one)),
        (
            "paragraph",
            "Zuständig ist der Kreis- und Stadtverband für die Feuerwehr-Schutzkleidung.",
            0,
            (a, roman, one),
        ),
        ("heading", one_one, 4, (a, roman, one, one_one)),
        ("paragraph", "Die Frist beträgt drei Monate.", 0, (a, roman, one, one_one)),
        ("heading", "TOP 3: Haushalt", 1, ("TOP 3: Haushalt",)),
        ("paragraph", "Der Haushalt wurde beschlossen.", 0, ("TOP 3: Haushalt",)),
    ]
    assert [doc.page_at(b.char_start) for b in doc.blocks] == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    assert doc.page_count == 3
    assert "Musterstadt" not in doc.text and "Seite" not in doc.text
    assert doc.format == "pdf" and doc.source_path == str(tmp_path / "protokoll.pdf")
    assert doc.metadata["title"] == "Protokoll AK Digitalisierung"
    assert doc.metadata["author"] == "Geschäftsstelle"
    assert len(doc.metadata["created"]) == 10 and doc.metadata["created"][4] == "-"


def test_pdf_blank_lines_separate_paragraphs_and_display_path_is_used(tmp_path: Path) -> None:
    doc = parse_file(simple_pdf(tmp_path / "a.pdf"), display_path="uploads/a.pdf")

    assert_consistent(doc)
    assert [b.text for b in doc.blocks] == ["Die Verwaltung prüft die Einführung.", "Zweiter Absatz."]
    assert doc.source_path == "uploads/a.pdf"
    assert [(p.number, p.char_start, p.char_end) for p in doc.pages] == [(1, 0, len(doc.text))]


def test_parse_bytes_uses_the_filename(tmp_path: Path) -> None:
    data = simple_pdf(tmp_path / "a.pdf").read_bytes()
    doc = parse_bytes(data, "Bericht.PDF")
    assert doc.source_path == "Bericht.PDF" and doc.page_count == 1
    with pytest.raises(FileTooLarge) as info:
        parse_bytes(data, "Bericht.pdf", max_bytes=100)
    assert info.value.code == "file_too_large" and info.value.path == "Bericht.pdf"


def test_pdf_with_user_password_is_refused(tmp_path: Path) -> None:
    path = simple_pdf(tmp_path / "geheim.pdf", encrypt="secret")
    error = expect_error(EncryptedDocument, "encrypted", path)
    assert "password" in error.message


def test_pdf_with_empty_user_password_and_owner_password_opens(tmp_path: Path) -> None:
    plain = simple_pdf(tmp_path / "plain.pdf")
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm="AES-256")
    path = tmp_path / "schreibgeschuetzt.pdf"
    with path.open("wb") as handle:
        writer.write(handle)
    assert PdfReader(path).is_encrypted

    doc = parse_file(path)
    assert_consistent(doc)
    assert doc.blocks[0].text == "Die Verwaltung prüft die Einführung."


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    data = write_pdf(tmp_path / "full.pdf", MINUTES_PAGES).read_bytes()
    path = tmp_path / "halb.pdf"
    path.write_bytes(data[: len(data) // 2])
    expect_error(CorruptDocument, "corrupt_file", path)


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.rect(100, 100, 300, 400, fill=1)
    pdf.showPage()
    pdf.save()
    expect_error(NoTextLayer, "no_text_layer", path)


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".txt", ".md"])
def test_zero_byte_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"leer{suffix}"
    path.write_bytes(b"")
    expect_error(EmptyFile, "empty_file", path)


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".txt", ".md"])
def test_binary_junk_is_corrupt(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(os.urandom(4096))
    expect_error(CorruptDocument, "corrupt_file", path)


@pytest.mark.parametrize("suffix", [".pdf", ".txt"])
def test_file_over_size_limit(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"gross{suffix}"
    path.write_bytes(b"x" * 2048)
    error = expect_error(FileTooLarge, "file_too_large", path, max_bytes=1024)
    assert "1024" in error.message


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "tabelle.xlsx"
    path.write_bytes(b"PK")
    error = expect_error(UnsupportedFormat, "unsupported_format", path)
    assert ".xlsx" in error.message and ".pdf" in error.message and ".docx" in error.message
    assert {".pdf", ".md", ".markdown", ".txt", ".docx"} == SUPPORTED_SUFFIXES


def test_missing_file_is_an_ingest_error(tmp_path: Path) -> None:
    expect_error(IngestError, "ingest_failed", tmp_path / "fehlt.txt")


# --- plain text ---------------------------------------------------------------------------------------------

MINUTES_TEXT = """Protokoll der Sitzung vom 3. März 2025

TOP 1: Begrüßung
Der Vorsitzende eröffnet die Sitzung.
Die Tagesordnung wird genehmigt.

TOP 2: Haushalt
1. Personalkosten
Die Personalkosten steigen um 3 %.

- Stellenplan
- Sachkosten
"""


def test_text_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "protokoll.txt"
    path.write_bytes(MINUTES_TEXT.replace("\n", "\r\n").encode("utf-8-sig"))
    doc = parse_file(path)

    assert_consistent(doc)
    top1, top2, costs = "TOP 1: Begrüßung", "TOP 2: Haushalt", "1. Personalkosten"
    assert outline(doc) == [
        ("paragraph", "Protokoll der Sitzung vom 3. März 2025", 0, ()),
        ("heading", top1, 1, (top1,)),
        ("paragraph", "Der Vorsitzende eröffnet die Sitzung.\nDie Tagesordnung wird genehmigt.", 0, (top1,)),
        ("heading", top2, 1, (top2,)),
        ("heading", costs, 3, (top2, costs)),
        ("paragraph", "Die Personalkosten steigen um 3 %.", 0, (top2, costs)),
        ("paragraph", "- Stellenplan\n- Sachkosten", 0, (top2, costs)),
    ]
    assert doc.format == "text" and doc.pages == ()
    assert doc.metadata["encoding"] == "utf-8-sig"


def test_cp1252_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "alt.txt"
    path.write_bytes("Größe, Übergang".encode("cp1252"))
    doc = parse_file(path)
    assert doc.text == "Größe, Übergang"
    assert doc.metadata["encoding"] == "cp1252"


def test_text_is_nfc_normalised(tmp_path: Path) -> None:
    path = tmp_path / "nfd.txt"
    path.write_bytes(unicodedata.normalize("NFD", "Größe und Übergang").encode("utf-8"))
    assert parse_file(path).text == "Größe und Übergang"


def test_no_break_spaces_and_symbol_bullets_are_text(tmp_path: Path) -> None:
    # Text extracted from PDFs often separates every word with U+00A0 and keeps Symbol-font bullets (U+F0B7).
    path = tmp_path / "nbsp.txt"
    path.write_bytes("Stadt\xa0Karlsruhe\xa0\n\uf0b7\xa0Digitalisierung".encode())
    doc = parse_file(path)
    assert doc.text == "Stadt\xa0Karlsruhe\n\uf0b7\xa0Digitalisierung"


def test_whitespace_only_text_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "leer.txt"
    path.write_bytes(b" \n\n \t\n")
    expect_error(EmptyFile, "empty_file", path)


# --- Markdown -----------------------------------------------------------------------------------------------

MARKDOWN = """---
title: Positionspapier Cloud
datum: 2024-03-01
arbeitskreis: [Digitalisierung]
---

# Positionspapier Cloud

Einleitung mit **Betonung**.

## Anforderungen

- Datenschutz
- Souveränität

| Kriterium | Gewicht |
|-----------|---------|
| Kosten    | 2       |

```
# kein Titel, nur Code

zweite Zeile
```

Fazit
-----

Der Arbeitskreis empfiehlt eine Prüfung.
"""


def test_markdown_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "papier.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = parse_file(path)

    assert_consistent(doc)
    title, needs, result = "Positionspapier Cloud", "Anforderungen", "Fazit"
    code = "```\n# kein Titel, nur Code\n\nzweite Zeile\n```"
    table = "| Kriterium | Gewicht |\n|-----------|---------|\n| Kosten    | 2       |"
    assert outline(doc) == [
        ("heading", title, 1, (title,)),
        ("paragraph", "Einleitung mit **Betonung**.", 0, (title,)),
        ("heading", needs, 2, (title, needs)),
        ("paragraph", "- Datenschutz\n- Souveränität", 0, (title, needs)),
        ("paragraph", table, 0, (title, needs)),
        ("paragraph", code, 0, (title, needs)),
        ("heading", result, 2, (title, result)),
        ("paragraph", "Der Arbeitskreis empfiehlt eine Prüfung.", 0, (title, result)),
    ]
    assert "title:" not in doc.text
    assert doc.metadata["front_matter"] == {
        "title": "Positionspapier Cloud",
        "datum": "2024-03-01",
        "arbeitskreis": ["Digitalisierung"],
    }
    assert doc.metadata["title"] == title
    assert doc.format == "markdown"


def test_markdown_with_invalid_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "kaputt.markdown"
    path.write_text("---\ntitle: [nicht geschlossen\n---\n# Text\n", encoding="utf-8")
    expect_error(InvalidMetadata, "invalid_metadata", path)


def test_markdown_without_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "notiz.md"
    path.write_text("Nur ein Absatz\nüber zwei Zeilen.\n", encoding="utf-8")
    doc = parse_file(path)
    assert_consistent(doc)
    assert "front_matter" not in doc.metadata and "title" not in doc.metadata
    assert outline(doc) == [("paragraph", "Nur ein Absatz\nüber zwei Zeilen.", 0, ())]


# --- DOCX ---------------------------------------------------------------------------------------------------


def write_docx(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = "Gutachten Schulnetz"
    document.core_properties.author = "Dr. Müller"
    document.add_heading("Gutachten Schulnetz", level=0)
    document.add_heading("Sachverhalt", level=1)
    document.add_paragraph("Die Stadt betreibt ein Schulnetz.")
    document.add_paragraph("")
    document.styles.add_style("Überschrift 2", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Kosten", style="Überschrift 2")
    table = document.add_table(rows=2, cols=2)
    for row, values in zip(table.rows, [("Posten", "Betrag"), ("Server", "12.000 €")], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
    document.add_paragraph("Die Kosten sind angemessen.")
    document.save(str(path))
    return path


def test_docx_round_trip(tmp_path: Path) -> None:
    doc = parse_file(write_docx(tmp_path / "gutachten.docx"))

    assert_consistent(doc)
    title, facts, costs = "Gutachten Schulnetz", "Sachverhalt", "Kosten"
    assert outline(doc) == [
        ("heading", title, 1, (title,)),
        ("heading", facts, 1, (facts,)),
        ("paragraph", "Die Stadt betreibt ein Schulnetz.", 0, (facts,)),
        ("heading", costs, 2, (facts, costs)),
        ("paragraph", "Posten | Betrag\nServer | 12.000 €", 0, (facts, costs)),
        ("paragraph", "Die Kosten sind angemessen.", 0, (facts, costs)),
    ]
    assert doc.metadata["title"] == title and doc.metadata["author"] == "Dr. Müller"
    assert doc.format == "docx"


def test_docx_zip_bomb_is_refused_before_opening(tmp_path: Path) -> None:
    path = tmp_path / "bombe.docx"
    zeros = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            for _ in range(300):
                member.write(zeros)
    assert path.stat().st_size < 2 * 1024 * 1024
    error = expect_error(SuspiciousArchive, "zip_bomb", path)
    assert "decompress" in error.message


def test_docx_member_with_extreme_compression_ratio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "verdaechtig.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", bytes(20 * 1024 * 1024))
    error = expect_error(SuspiciousArchive, "zip_bomb", path)
    assert "compressed" in error.message


def test_zip_without_word_document_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "kein-word.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("content.xml", "<office:document/>")
    error = expect_error(CorruptDocument, "corrupt_file", path)
    assert "word/document.xml" in error.message


def test_docx_with_broken_xml_is_corrupt(tmp_path: Path) -> None:
    source = write_docx(tmp_path / "gut.docx")
    path = tmp_path / "kaputt.docx"
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(buffer, "w") as damaged:
        for item in original.infolist():
            data = original.read(item.filename)
            damaged.writestr(item, data[:50] if item.filename == "word/document.xml" else data)
    path.write_bytes(buffer.getvalue())
    expect_error(CorruptDocument, "corrupt_file", path)


# --- heuristics ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("§ 3a Zuständigkeit", 1),
        ("Art. 12 Inkrafttreten", 1),
        ("TOP 4: Verschiedenes", 1),
        ("B. Rechtliche Würdigung", 1),
        ("BESCHLÜSSE DES ARBEITSKREISES", 1),
        ("II. Zulässigkeit", 2),
        ("3 Ziele", 3),
        ("2.1 Anlass", 4),
        ("2.1.3 Fristen", 5),
        ("Die Verwaltung prüft die Einführung.", None),
        ("1 Nummer 6 und 7,", None),
        ("4 m 20 kHz 9,8 MHz", None),
        ("1 Geltende Bestimmungen ..........................4", None),
        ("2. Vermögen verschwendet hat oder", None),
        ("DIN EN 60068-2-6", None),
        ("29. Juni 2026", None),
        ("Art 2026 2027 2028", None),
        ("V. Der Gemeinderat stimmt dem Beitritt zur", None),
        ("a) Anforderungen an den Vertrag", 5),
        ("aa) Schriftform", 6),
        ("a) die Behörde", None),
        ("2 Jahre", None),  # a table cell: a number and its unit
        ("15,2 Mio. EUR", None),
        ("3 Millionen Euro", None),
        ("15. Mai 2026", None),
        ("15. MAI 2026", None),
        ("15 Mai 2026", None),
        ("3. Okt. 2025 Sitzung", None),
        ("12. Sept. 2024", None),
        ("15.000 Euro Gebührenfinanziert", None),
        ("3 Monate Probezeit", None),
        ("17. Lebensjahr", None),
        ("3 Enthaltungen", None),
        ("15 T 2 Sendeschrittakt beschaltet", 3),
        ("3. Tag der Verwaltung", 3),
    ],
)
def test_heading_candidate(line: str, level: int | None) -> None:
    candidate = heading_candidate(line)
    assert (candidate.level if candidate else None) == level


def headings_of(lines: Sequence[str]) -> list[tuple[str, int]]:
    """The headings `segment_lines` finds in lines of one page."""
    segments = segment_lines([Line(text, 1) for text in lines])
    return [(" ".join(s.lines), s.level) for s in segments if s.kind is BlockKind.HEADING]


BODY = [
    "Die Mitglieder des Verbandes sind kommunale IT-Dienstleister, die für ihre Kommunen",
    "Fachverfahren, Rechenzentrumsleistungen und zunehmend auch Dienste der künstlichen",
    "Intelligenz bereitstellen. Die Kommunen setzen generative KI insbesondere für die",
    "Recherche und für Textentwürfe ein.",
]


def test_a_heading_after_a_long_cover_line_without_full_stop() -> None:
    cover = [
        "Albers Voss Rechtsanwälte PartG mbB · Münster",
        "Rechtsgutachten zur Nutzung von Cloud- und",
        "KI-Diensten in der Kommunalverwaltung",
        "Verfasserin: Prof. Dr. Henrike Albers, Rechtsanwältin – Münster, 29. August 2025",
    ]
    assert headings_of([*cover, "A. Sachverhalt und Fragestellung", "I. Sachverhalt", *BODY]) == [
        ("A. Sachverhalt und Fragestellung", 1),
        ("I. Sachverhalt", 2),
    ]
    status = "Endfassung – Stand: 30. September 2025 – Projektleitung: Dr. Friederike Brandt, Kai Ostermann"
    assert headings_of([*cover[:3], status, "1. Auftrag und Vorgehen", *BODY]) == [
        ("1. Auftrag und Vorgehen", 3)
    ]


def test_a_numbered_line_inside_a_wrapped_paragraph_stays_text() -> None:
    before = "Recherche und Textentwürfe ein. Gefördert werden nach der Richtlinie des Landes"
    # Nearly a full line after a line without a full stop: the sentence goes on.
    inside = "3 Pilotkommunen im Regierungsbezirk Düsseldorf mit zusammen 140.000 Einwohnern"
    after = "Die Auswahl trifft der Vorstand. Die Pilotphase beginnt im März und endet im Dezember."
    assert headings_of([*BODY, *BODY, *BODY, *BODY, *BODY[:3], before, inside, after, *BODY]) == []
    # A short line that goes on ("in Verbindung mit") does not end its paragraph.
    assert (
        headings_of([*BODY, "VOB/A § 16 EU Nr. 3", "in Verbindung mit", "§ 13 EU Abs. 1 Nr. 3", *BODY]) == []
    )
    # A short one needs body text after it to open a section.
    assert (
        headings_of([*BODY, *BODY, *BODY, *BODY, *BODY[:3], before, "3 Pilotkommunen", "Hamm", *BODY]) == []
    )


def test_lettered_sub_headings_below_numbered_ones() -> None:
    lines = [
        "1. Rechtsgrundlage der Verarbeitung",
        *BODY,
        "a) Erforderlichkeit",
        *BODY,
        "b) Einwilligung als Rechtsgrundlage ungeeignet",
        *BODY,
        "2. Auftragsverarbeitung",
        *BODY,
    ]
    assert headings_of(lines) == [
        ("1. Rechtsgrundlage der Verarbeitung", 3),
        ("a) Erforderlichkeit", 5),
        ("b) Einwilligung als Rechtsgrundlage ungeeignet", 5),
        ("2. Auftragsverarbeitung", 3),
    ]
    # Short lettered lines one after the other are a list.
    assert headings_of([*BODY, "a) Personal", "b) Sachmittel", "c) Investitionen", *BODY]) == []


COST_TABLE = [
    "4.1 Kostenvergleich",
    "Option",
    "Standorte",
    "Investition",
    "Betriebskosten p. a.",
    "Einsparung p. a.",
    "Umsetzung",
    *[
        cell
        for row in (("A", "41", "38,0", "86,4", "0,0", "2"), ("B", "6", "61,0", "71,2", "15,2", "3"))
        for cell in (*row[:2], *(f"{value} Mio. EUR" for value in row[2:5]), f"{row[5]} Bauabschnitte")
    ],
    *BODY,
    "4.2 Nutzwertanalyse",
    *BODY,
]


def test_table_cells_are_not_headings() -> None:
    # "2 Bauabschnitte" and "3 Bauabschnitte" are one column of the table, six lines apart.
    assert headings_of(COST_TABLE) == [("4.1 Kostenvergleich", 4), ("4.2 Nutzwertanalyse", 4)]
    # Agenda items with their label lines between them stay headings.
    items = ["8.4 Maßnahmen zu Virenerkrankungen", "Antrag: SPD", "Vorlage: 2020/0339"]
    items += ["8.5 Maßnahmen zu Virenerkrankungen", "Antrag: FDP", "Vorlage: 2020/0343"]
    assert headings_of([*BODY, *items, *BODY]) == [
        ("8.4 Maßnahmen zu Virenerkrankungen", 4),
        ("8.5 Maßnahmen zu Virenerkrankungen", 4),
    ]


def test_a_date_line_is_no_heading_in_text(tmp_path: Path) -> None:
    path = tmp_path / "niederschrift.txt"
    path.write_text(
        "Niederschrift 26. Plenarsitzung des Gemeinderates\n15. Mai 2026\nöffentlich\n\n"
        "15. Mai 2026\nDer Gemeinderat tagt im Bürgersaal.\n\n1. Juni\nDie nächste Sitzung.\n",
        encoding="utf-8",
    )
    doc = parse_file(path)
    assert_consistent(doc)
    assert [b.text for b in doc.blocks if b.kind is BlockKind.HEADING] == []


def test_application_name_is_stripped_from_the_pdf_title(tmp_path: Path) -> None:
    def title_of(title: str) -> str | None:
        path = simple_pdf(tmp_path / "titel.pdf")
        writer = PdfWriter(clone_from=path)
        writer.add_metadata({"/Title": title})
        writer.write(path)
        return parse_file(path).metadata.get("title")

    assert (
        title_of("Microsoft Word - Niederschrift AK Digitalisierung.docx")
        == "Niederschrift AK Digitalisierung"
    )
    assert title_of("Microsoft PowerPoint - Sachstand OZG 2.0.pptx") == "Sachstand OZG 2.0"
    assert title_of("Positionspapier KI.pdf") == "Positionspapier KI"
    assert title_of("Microsoft Word - protokoll_final.doc") is None  # only a file name
    assert title_of("RAHMENRILI.PDF") is None
    assert title_of("Rechtsgutachten Cloud") == "Rechtsgutachten Cloud"


# --- the project corpus -------------------------------------------------------------------------------------


def corpus_pdf(name: str) -> ParsedDocument:
    path = CORPUS / name
    doc = parse_file(path)
    assert_consistent(doc)
    return doc


def heading_pages(doc: ParsedDocument) -> dict[str, tuple[int | None, tuple[str, ...]]]:
    return {
        b.text: (doc.page_at(b.char_start), b.section_path) for b in doc.blocks if b.kind is BlockKind.HEADING
    }


def test_project_corpus_legal_opinion_outline() -> None:
    doc = corpus_pdf("rechtsgutachten-cloud-nutzung.pdf")
    found = heading_pages(doc)
    a, b = "A. Sachverhalt und Fragestellung", "B. Rechtliche Würdigung"
    i, two = "I. Datenschutzrechtliche Zulässigkeit", "2. Auftragsverarbeitung nach Art. 28 DSGVO"
    assert found[a] == (1, (a,))
    assert found["I. Sachverhalt"] == (1, (a, "I. Sachverhalt"))
    assert found["II. Fragestellung"] == (1, (a, "II. Fragestellung"))
    assert found["a) Erforderlichkeit"] == (
        2,
        (b, i, "1. Rechtsgrundlage der Verarbeitung", "a) Erforderlichkeit"),
    )
    assert found["c) Zweckbindung"][0] == 2
    assert found["a) Anforderungen an den Vertrag"] == (3, (b, i, two, "a) Anforderungen an den Vertrag"))
    assert found["b) Übermittlung in Drittländer"] == (3, (b, i, two, "b) Übermittlung in Drittländer"))
    assert found["b) Öffentlich-rechtliche Strukturen"][0] == 4
    assert found["C. Ergebnis"] == (6, ("C. Ergebnis",))
    # The cover stays one paragraph; the heading is no longer glued to it.
    assert doc.blocks[0].kind is BlockKind.PARAGRAPH and doc.blocks[0].text.endswith("29. August 2025")
    contract = next(b for b in doc.blocks if b.text.startswith("Der Vertrag nach Art. 28 Abs. 3 DSGVO"))
    assert contract.section_path[-1] == "a) Anforderungen an den Vertrag"
    assert sum(b.kind is BlockKind.HEADING for b in doc.blocks) == 27 == len(found)


def test_project_corpus_org_report_outline() -> None:
    doc = corpus_pdf("organisationsgutachten-rechenzentren.pdf")
    found = heading_pages(doc)
    assert found["1. Auftrag und Vorgehen"] == (1, ("1. Auftrag und Vorgehen",))
    assert found["2.1 Rechenzentrumsstandorte"] == (1, ("2. Ausgangslage", "2.1 Rechenzentrumsstandorte"))
    assert found["2.2 Personal"] == (2, ("2. Ausgangslage", "2.2 Personal"))
    assert found["4.2 Nutzwertanalyse"] == (4, ("4. Bewertung und Empfehlung", "4.2 Nutzwertanalyse"))
    assert not any(text.endswith("Jahre") for text in found)
    assert found["6. Nächste Schritte"] == (5, ("6. Nächste Schritte",))
    assert sum(b.kind is BlockKind.HEADING for b in doc.blocks) == 21 == len(found)


def test_project_corpus_position_paper_outline() -> None:
    doc = corpus_pdf("positionspapier-ki-infrastruktur.pdf")
    found = heading_pages(doc)
    requirements = "2. Anforderungen an die gemeinsame KI-Infrastruktur"
    assert found["1. Ausgangslage"] == (1, ("1. Ausgangslage",))
    assert found["2.2 Mindestanforderungen an KI-Dienste"] == (
        2,
        (requirements, "2.2 Mindestanforderungen an KI-Dienste"),
    )
    assert found["4.4 Steuerung"] == (4, ("4. Zeitplan", "4.4 Steuerung"))
    assert found["6. Beschluss und Kontakt"][0] == 5
    assert doc.blocks[0].kind is BlockKind.PARAGRAPH


def test_join_wrapped_lines() -> None:
    assert join_wrapped_lines(["Verwal-", "tung und", "Bürger"]) == "Verwaltung und Bürger"
    assert join_wrapped_lines(["Kreis-", "und Stadtverbände"]) == "Kreis- und Stadtverbände"
    assert join_wrapped_lines(["Baden-", "Württemberg"]) == "Baden-Württemberg"


# --- real files from the shared datasets --------------------------------------------------------------------

# `datasets` (tests/conftest.py) is <repo>/../shared/datasets and skips the test when that folder is absent.
AMTSSCHIMMEL = Path("corpus-real") / "amtsschimmel-ragsource"


def test_real_pdf_aes_encrypted_with_empty_password(datasets: Path) -> None:
    path = (
        datasets
        / AMTSSCHIMMEL
        / "Regelungsmodul-LAND-BW/Verwaltungsvorschriften-BW/VwV_Feuerwehrbekleidung_Dienstgrade.pdf"
    )
    doc = parse_file(path)

    assert_consistent(doc)
    assert doc.page_count == 6
    headings = {b.text: b for b in doc.blocks if b.kind is BlockKind.HEADING}
    uniform = headings["1.2 Feuerwehr-Uniform"]
    assert doc.page_at(uniform.char_start) == 2
    assert uniform.section_path == ("1 Einheitliche Feuerwehrbekleidung", "1.2 Feuerwehr-Uniform")
    assert (
        "Verwaltungsvorschrift regelt die dabei landeseinheitlich geltenden Vorgaben zur Bekleidung"
        in doc.text
    )
    assert doc.metadata["created"] == "2022-10-28"


def test_real_pdf_rc4_encrypted_drops_running_header(datasets: Path) -> None:
    path = (
        datasets
        / AMTSSCHIMMEL
        / "Regelungsmodul-BUND/Sonstige-Vorschriften-Bund/TRBOS_Relaisfunkst_10_94.pdf"
    )
    doc = parse_file(path)

    assert_consistent(doc)
    assert doc.page_count == 38
    assert "Seite 2 von 38" not in doc.text
    heading = next(b for b in doc.blocks if b.text == "2.2.1.1 HF-Ausgangsleistung")
    assert heading.level == 6 and doc.page_at(heading.char_start) == 13


def test_real_markdown_with_front_matter(datasets: Path) -> None:
    doc = parse_file(datasets / "corpus-real" / "bundestag-gesetze" / "egovg.md")

    assert_consistent(doc)
    assert doc.metadata["front_matter"]["jurabk"] == "EGovG"
    title = "Gesetz zur Förderung der elektronischen Verwaltung (EGovG)"
    assert doc.metadata["title"] == title
    section = next(b for b in doc.blocks if b.text == "§ 1 Geltungsbereich")
    assert section.level == 2 and section.section_path == (title, "§ 1 Geltungsbereich")
    assert not doc.text.startswith("---")
