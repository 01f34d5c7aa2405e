"""Titles are never outline lines; a law's divisions and articles reach the section path (no datasets needed)."""

from __future__ import annotations

import pytest

from ingest.domain import Block, BlockKind, ParsedDocument
from ingest.metadata import infer_title, is_outline_line
from ingest.parsers.outline import Line, segment_lines


def _doc(text: str, headings: list[str], metadata: dict[str, object] | None = None) -> ParsedDocument:
    blocks = []
    for heading in headings:
        start = text.index(heading)
        blocks.append(Block(BlockKind.HEADING, heading, start, start + len(heading), (heading,), 1))
    return ParsedDocument("gesetz.pdf", "pdf", text, tuple(blocks), metadata=metadata or {})


@pytest.mark.parametrize(
    "line",
    ["5. (weggefallen)", "I. Die Grundrechte", "Art 1", "§ 3 Zuständigkeit", "ERSTER TITEL", "Zweiter Abschnitt",
     "15. Mai 2026", "23.05.1949", "- 3 -", "Seite 2 von 51", "a) Schriftform", "A 2.3 DAG III"],
)  # fmt: skip
def test_outline_lines_dates_and_page_numbers_are_outline_lines(line: str) -> None:
    assert is_outline_line(line)


@pytest.mark.parametrize(
    "line", ["Grundgesetz für die Bundesrepublik Deutschland", "Protokoll der 14. Sitzung"]
)
def test_titles_are_no_outline_lines(line: str) -> None:
    assert not is_outline_line(line)


def test_title_skips_outline_headings_and_takes_the_pdfs_first_line() -> None:
    text = "Grundgesetz für die Bundesrepublik Deutschland GG Ausfertigungsdatum: 23.05.1949\n\nI. Die Grundrechte"
    text += "\n\nArt 1\n\n(1) Die Würde des Menschen ist unantastbar.\n\n5. (weggefallen)"
    first_line = {"first_line": "Grundgesetz für die Bundesrepublik Deutschland"}
    doc = _doc(text, ["I. Die Grundrechte", "Art 1", "5. (weggefallen)"], first_line)
    assert infer_title(doc) == "Grundgesetz für die Bundesrepublik Deutschland"


def test_title_prefers_several_words_to_a_single_abbreviation() -> None:
    text = "ZSKG\n\n§ 1 Aufgaben des Zivilschutzes\n\nText."
    doc = _doc(
        text, ["ZSKG", "§ 1 Aufgaben des Zivilschutzes"], {"first_line": "Gesetz über den Zivilschutz"}
    )
    assert infer_title(doc) == "Gesetz über den Zivilschutz"


def test_labelled_cover_fields_are_no_title() -> None:
    text = "Normgeber: Innenministerium Aktenzeichen: 6-1511.1/34 Erlassdatum: 05.02.2018\n\nText."
    doc = _doc(text, [], {"first_line": "Verwaltungsvorschrift des Innenministeriums"})
    assert infer_title(doc) == "Verwaltungsvorschrift des Innenministeriums"


def _gg_lines() -> list[Line]:
    texts = [
        "Grundgesetz für die Bundesrepublik Deutschland", "",
        "I.", "Die Grundrechte", "Art 1",
        "(1) Die Würde des Menschen ist unantastbar. Sie zu achten und zu schützen ist Verpflichtung aller",
        "staatlichen Gewalt.",
        "Art 2",
        "(1) Jeder hat das Recht auf die freie Entfaltung seiner Persönlichkeit, soweit er nicht die Rechte",
        "anderer verletzt.",
        "II.", "Der Bund und die Länder", "Art 20",
        "(1) Die Bundesrepublik Deutschland ist ein demokratischer und sozialer Bundesstaat und so weiter.",
    ]  # fmt: skip
    return [Line(text, 1) for text in texts]


def test_bare_roman_mark_joins_its_title_and_ranks_above_bare_articles() -> None:
    headings = [(s.lines, s.level) for s in segment_lines(_gg_lines()) if s.kind is BlockKind.HEADING]
    assert headings == [
        (("I. Die Grundrechte",), 1),
        (("Art 1",), 2),
        (("Art 2",), 2),
        (("II. Der Bund und die Länder",), 1),
        (("Art 20",), 2),
    ]


def test_art_without_a_number_alone_or_in_prose_is_no_heading() -> None:
    lines = [
        Line(t, 1) for t in ["Die Art und Weise der Prüfung bestimmt das Land.", "Art 5", "und so weiter."]
    ]
    assert all(s.kind is BlockKind.PARAGRAPH for s in segment_lines(lines))
