"""pypdf's warnings about a damaged file end up in the parsed document and the file's outcome, not the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from ingest.errors import CorruptDocument
from ingest.parsers import parse_bytes
from ingest.pipeline import FileOutcome, Status


def _pdf_bytes(path: Path) -> bytes:
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 750, "Protokoll der Sitzung")
    pdf.drawString(72, 730, "Der Arbeitskreis beschließt den Bericht.")
    pdf.showPage()
    pdf.save()
    return path.read_bytes()


def _damaged_eof(data: bytes) -> bytes:
    # The trailing "%%EOF" marker torn ("%%E"): pypdf reads the file anyway and warns about it.
    return data[: data.rindex(b"%%EOF")] + b"%%E"


def _missing_eof(data: bytes) -> bytes:
    # No marker at all: pypdf 7 warns "EOF marker not found" and then fails to read the trailer.
    return data[: data.rindex(b"%%EOF")] + b"\n\n"


def _wrong_startxref(data: bytes) -> bytes:
    return data.replace(b"startxref\n", b"startxref\n1", 1)


def test_damaged_eof_marker_is_a_warning_of_the_parsed_document(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    doc = parse_bytes(_damaged_eof(_pdf_bytes(tmp_path / "a.pdf")), "kaputt.pdf")
    assert "beschließt den Bericht" in doc.text
    assert any("EOF marker" in w for w in doc.warnings), doc.warnings
    assert not [r for r in caplog.records if r.name.startswith("pypdf")], "pypdf logged to the console log"
    captured = capsys.readouterr()
    assert "EOF marker" not in captured.err + captured.out


def test_wrong_startxref_pointer_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    doc = parse_bytes(_wrong_startxref(_pdf_bytes(tmp_path / "a.pdf")), "verschoben.pdf")
    assert any("incorrect startxref pointer" in w for w in doc.warnings), doc.warnings
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def test_missing_eof_marker_fails_with_the_warning_in_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CorruptDocument) as raised:
        parse_bytes(_missing_eof(_pdf_bytes(tmp_path / "a.pdf")), "ohne-ende.pdf")
    assert "EOF marker not found" in raised.value.message
    assert raised.value.path == "ohne-ende.pdf"
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def test_intact_pdf_has_no_warnings(tmp_path: Path) -> None:
    assert parse_bytes(_pdf_bytes(tmp_path / "a.pdf"), "heil.pdf").warnings == ()


def test_pypdf_logging_is_restored_after_the_parse(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    parse_bytes(_damaged_eof(_pdf_bytes(tmp_path / "a.pdf")), "kaputt.pdf")
    logger = logging.getLogger("pypdf")
    assert logger.propagate and not logger.handlers
    with caplog.at_level(logging.WARNING):
        logging.getLogger("pypdf._reader").warning("outside a parse")
    assert [r.getMessage() for r in caplog.records] == ["outside a parse"]


def test_file_outcome_reports_the_warnings_as_data() -> None:
    outcome = FileOutcome("a.pdf", "a.pdf", Status.INGESTED, warnings=("EOF marker not found",))
    assert outcome.as_dict()["warnings"] == ("EOF marker not found",)
