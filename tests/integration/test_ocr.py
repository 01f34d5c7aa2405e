"""OCR of scanned PDF pages: generated image-only scans of German text are read by the real tesseract (deu)
inside the real parse worker, pages keep their numbers, and OCR'd chunks are marked in the Qdrant Edge payload."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from ingest.config import IngestSettings
from ingest.domain import AccessScope
from ingest.errors import NoTextLayer
from ingest.ocr import OcrOptions, installed_languages
from ingest.parse_worker import IsolatedParser, parse_document
from ingest.parsers import parse_bytes
from ingest.pipeline import IngestPipeline, Status
from ingest.store import EdgeStore, Provenance, SearchFilters
from service.schemas import Hit
from tests.fakes import HashEmbedder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tesseract") is None or "deu" not in installed_languages(),
        reason="tesseract with German language data (tesseract-ocr-deu) is not installed",
    ),
]

SCAN_LINES = (
    "Prüfung der Übergabe",
    "Die Straße wurde am 12.03.2024 gesperrt.",
    "Es wurden 4711 Meter Kabel verlegt.",
)
EXPECTED_WORDS = (
    "Prüfung",
    "Übergabe",
    "Straße",
    "12.03.2024",
    "gesperrt",
    "4711",
    "Meter",
    "Kabel",
    "verlegt",
)
TEXT_PAGE_SENTENCE = "Der Arbeitskreis beschließt den Haushaltsplan."


def _scan_page(lines: tuple[str, ...]) -> object:
    """An A4 page at 300 dpi as a greyscale image with the lines in a large clear font (a PIL Image)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("DejaVuSans.ttf", 48)
    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((200, 300 + number * 90), line, font=font, fill=0)
    return image


def _image_pdf(*pages: object) -> bytes:
    """An image-only PDF (no text layer) of the given PIL images."""
    first, *rest = pages
    buffer = io.BytesIO()
    first.save(buffer, "PDF", resolution=300, save_all=True, append_images=rest)  # type: ignore[attr-defined]
    return buffer.getvalue()


def _mixed_pdf() -> bytes:
    """Page 1 with a text layer (reportlab), page 2 a scan (an image only)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for line in range(12):
        pdf.drawString(72, 750 - 14 * line, TEXT_PAGE_SENTENCE)
    pdf.showPage()
    width, height = pdf._pagesize
    pdf.drawImage(ImageReader(_scan_page(SCAN_LINES)), 0, 0, width, height)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _found(text: str) -> list[str]:
    return [word for word in EXPECTED_WORDS if word in text]


def test_scanned_german_page_is_read_by_ocr_in_the_parse_worker_with_umlauts() -> None:
    data = _image_pdf(_scan_page(SCAN_LINES))
    with pytest.raises(NoTextLayer):  # the premise: no text layer at all
        parse_bytes(data, "scan.pdf", ocr=OcrOptions(enabled=False))
    parser = IsolatedParser()
    try:
        parsed = parse_document(data, "scan.pdf", IngestSettings(), parser)
    finally:
        parser.close()
    # OCR may misread a character: most words, and the umlaut and ß words, must come through.
    assert len(_found(parsed.text)) >= len(EXPECTED_WORDS) - 1, parsed.text
    assert {"Prüfung", "Übergabe", "Straße"} <= set(_found(parsed.text)), parsed.text
    assert parsed.ocr_pages == (1,)
    assert [page.number for page in parsed.pages] == [1]


def test_mixed_pdf_marks_only_the_scanned_page_and_keeps_page_numbers() -> None:
    parsed = parse_bytes(_mixed_pdf(), "gemischt.pdf")
    assert parsed.ocr_pages == (2,)
    assert [page.number for page in parsed.pages] == [1, 2]
    assert parsed.page_at(parsed.text.index("Arbeitskreis")) == 1
    assert parsed.page_at(parsed.text.index("Übergabe")) == 2


def test_ocr_flag_reaches_the_qdrant_edge_payload_only_for_chunks_of_scanned_pages(tmp_path: Path) -> None:
    data = _mixed_pdf()
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / "gemischt.pdf"
    path.write_bytes(data)
    settings = IngestSettings()
    # Small chunks, so the text page and the scanned page end up in chunks of their own.
    settings.chunking.target_tokens = 32
    settings.chunking.max_tokens = 48
    settings.chunking.overlap_tokens = 0
    embedder = HashEmbedder()
    store = EdgeStore(str(tmp_path / "store"), embedder.dim)
    try:
        report = IngestPipeline(store, embedder, settings).ingest_paths([path])
        points = store.scroll(AccessScope.everything(), SearchFilters())
    finally:
        store.close()
    [outcome] = report.outcomes
    assert outcome.status is Status.INGESTED, outcome
    marks = [
        (p.page_start, p.page_end, p.ocr) for p in (Provenance.from_payload(pt.payload) for pt in points)
    ]
    # A chunk is marked exactly when one of its pages is the scanned page 2.
    assert all(ocr is (page_end == 2) for _, page_end, ocr in marks), marks
    assert any(not ocr for *_, ocr in marks) and any(ocr for *_, ocr in marks), marks
    assert all(
        bool(pt.payload.get("ocr")) is (Provenance.from_payload(pt.payload).page_end == 2) for pt in points
    )
    scanned = next(p for p in points if Provenance.from_payload(p.payload).page_end == 2)
    hit = Hit.from_provenance(
        Provenance.from_payload(scanned.payload),
        label="x",
        text=scanned.payload["text"],
        rank=1,
        score=0.0,
        point_id=scanned.point_id,
    )
    assert hit.ocr is True


def test_scanned_pdf_with_ocr_turned_off_fails_with_no_text_layer() -> None:
    settings = IngestSettings(ocr=False)
    parser = IsolatedParser()
    try:
        with pytest.raises(NoTextLayer, match="OCR is turned off"):
            parse_document(_image_pdf(_scan_page(SCAN_LINES)), "scan.pdf", settings, parser)
    finally:
        parser.close()


def test_blank_scanned_page_fails_with_no_text_layer_even_after_ocr() -> None:
    from PIL import Image

    with pytest.raises(NoTextLayer, match="not even after OCR"):
        parse_bytes(_image_pdf(Image.new("L", (2480, 3508), 255)), "leer.pdf")


def test_missing_tesseract_leaves_the_scan_failing_with_ocr_unavailable() -> None:
    options = OcrOptions(executable="tesseract-not-installed")
    with pytest.raises(NoTextLayer, match="OCR is unavailable"):
        parse_bytes(_image_pdf(_scan_page(SCAN_LINES)), "scan.pdf", ocr=options)


def test_doctor_reports_whether_the_ocr_language_is_installed() -> None:
    from service.config import Settings
    from service.doctor import check_tesseract

    settings = Settings()
    available = check_tesseract(settings)
    assert available.status == "OK" and "deu" in available.found, available
    settings.ingest.ocr_language = "xyz"
    missing = check_tesseract(settings)
    assert missing.status == "PROBLEM" and "tesseract-ocr-xyz" in (missing.fix or ""), missing


def test_cli_search_and_ask_output_mark_ocr_pages() -> None:
    from rich.console import Console

    from kb_cli.output import print_answer, print_hits

    hit = {
        "rank": 1,
        "doc_id": "scan",
        "page_start": 2,
        "page_end": 2,
        "score": 0.5,
        "title": "T",
        "text": "x",
    }
    console = Console(record=True, width=120)
    print_hits(console, {"query": "x", "hits": [{**hit, "ocr": True}, {**hit, "rank": 2, "page_start": 1}]})
    lines = console.export_text().splitlines()
    assert "scan, S. 2 (OCR)" in lines[0] and "(OCR)" not in next(
        line for line in lines if line.startswith("2.")
    )
    citation = {"number": 1, "doc_id": "scan", "page_start": 2, "page_end": 2, "title": "T", "ocr": True}
    answer = {
        "answer": "A [1]",
        "declined": False,
        "citations": [citation],
        "invalid_markers": [],
        "unsupported_citations": [],
    }
    console = Console(record=True, width=120)
    print_answer(console, answer)
    assert "[1] scan, S. 2 (OCR)" in console.export_text()
