"""How an original file is named and typed for the browser (service/downloads.py)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from service.downloads import PDF, content_disposition, display_name, download, media_type_of


@pytest.mark.parametrize(
    ("source_path", "doc_id", "expected"),
    [
        (
            "gutachten/Rechtsgutachten Cloud.pdf",
            "corpus/gutachten/Rechtsgutachten Cloud.pdf",
            "Rechtsgutachten Cloud.pdf",
        ),
        ("notiz.md", "eigene-id", "notiz.md"),
        (None, "ordner/Protokoll Ä.docx", "Protokoll Ä.docx"),
        ("C:\\Users\\kim\\geheim.pdf", "x", "geheim.pdf"),
        ("..", "../..", "dokument"),
        ("a\nb\x00.pdf", "x", "ab.pdf"),
    ],
)
def test_the_display_name_is_the_last_part_of_the_ingested_name(
    source_path: str | None, doc_id: str, expected: str
) -> None:
    assert display_name(source_path, doc_id) == expected


def test_content_disposition_is_inline_with_the_exact_utf8_name_and_an_ascii_stand_in() -> None:
    header = content_disposition('Übersicht "neu".pdf')
    assert header.startswith('inline; filename="_bersicht _neu_.pdf"; ')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == 'Übersicht "neu".pdf' and " " not in encoded and '"' not in encoded


def test_media_types_follow_the_suffix_that_chose_the_parser() -> None:
    assert media_type_of("a.PDF") == PDF
    assert media_type_of("a.md") == "text/markdown; charset=utf-8"
    assert media_type_of("a.txt") == "text/plain; charset=utf-8"
    assert media_type_of("a.docx").endswith("wordprocessingml.document")
    assert media_type_of("ohne-endung") == "application/octet-stream"


def test_text_is_sandboxed_and_nothing_is_sniffed_while_a_pdf_stays_viewable() -> None:
    text = download("notiz.md", "notiz.md")
    assert text.headers["Content-Security-Policy"].startswith("sandbox")
    assert text.headers["X-Content-Type-Options"] == "nosniff"
    pdf = download("p.pdf", "p.pdf")
    assert "Content-Security-Policy" not in pdf.headers
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
