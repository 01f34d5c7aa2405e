"""DOCX: paragraphs and tables in document order, heading styles as headings; zip bombs refused unopened."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.domain import ParsedDocument
from ingest.errors import CorruptDocument, EmptyFile, IngestError, SuspiciousArchive
from ingest.parsers.outline import DocumentBuilder, normalize

FORMAT = "docx"
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
# Small parts compress well legitimately (repetitive XML); only big, extremely compressed ones are suspicious.
RATIO_CHECK_MIN_BYTES = 10 * 1024 * 1024
_DOCUMENT_PART = "word/document.xml"
_HEADING_STYLE = re.compile(r"(?:heading|überschrift)\s*(\d)", re.IGNORECASE)
_TITLE_STYLES = frozenset({"title", "titel"})
_TITLE_LEVEL = 1


def parse_docx(data: bytes, path: str) -> ParsedDocument:
    check_archive(data, path)
    try:
        document = docx.Document(io.BytesIO(data))
        builder = DocumentBuilder()
        _add_body(builder, document)
        metadata = _core_properties(document)
    except IngestError:
        raise
    except Exception as exc:  # python-docx and lxml raise many types on damaged parts
        raise CorruptDocument(f"not a readable DOCX ({type(exc).__name__}: {exc})", path=path) from exc
    if not builder.text():
        raise EmptyFile("the document contains no text", path=path)
    return ParsedDocument(
        source_path=path, format=FORMAT, text=builder.text(), blocks=builder.blocks(), metadata=metadata
    )


def check_archive(data: bytes, path: str) -> None:
    """Refuse what is not a DOCX zip or would decompress far beyond any real document (a zip bomb).

    The sizes come from the zip directory; zipfile never inflates a member beyond its declared size, so a
    lying directory cannot make python-docx read more than was checked here.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise CorruptDocument(f"not a DOCX file: not a readable zip archive ({exc})", path=path) from exc
    if _DOCUMENT_PART not in {member.filename for member in members}:
        raise CorruptDocument(f"not a DOCX file: the archive has no {_DOCUMENT_PART}", path=path)
    total = sum(member.file_size for member in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        message = f"the archive would decompress to {total} bytes (limit {MAX_UNCOMPRESSED_BYTES})"
        raise SuspiciousArchive(message, path=path)
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            message = f"{member.filename} is compressed {ratio:.0f}:1 (limit {MAX_COMPRESSION_RATIO}:1)"
            raise SuspiciousArchive(message, path=path)


def _add_body(builder: DocumentBuilder, document: Any) -> None:
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            builder.add_paragraph(table_text(item))
        elif isinstance(item, Paragraph):
            level = heading_level(_style_name(item))
            if level:
                builder.add_heading(item.text, level)
            else:
                builder.add_paragraph(item.text)


def heading_level(style_name: str) -> int:
    """'Heading 2' / 'Überschrift 2' → 2, 'Title' → 1, any other style → 0 (a paragraph)."""
    name = style_name.strip()
    if name.lower() in _TITLE_STYLES:
        return _TITLE_LEVEL
    match = _HEADING_STYLE.fullmatch(name)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else 0


def _style_name(paragraph: Paragraph) -> str:
    style = paragraph.style
    return str(style.name) if style is not None and style.name else ""


def table_text(table: Table) -> str:
    """Cells joined with ' | ', rows with newlines; a merged cell appears once per row."""
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        previous: object = None
        for cell in row.cells:
            if cell._tc is previous:  # python-docx repeats a horizontally merged cell for each grid column
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _core_properties(document: Any) -> dict[str, Any]:
    properties = document.core_properties
    metadata: dict[str, Any] = {}
    for name, value in (("title", properties.title), ("author", properties.author)):
        if value and normalize(value).strip():
            metadata[name] = normalize(value).strip()
    if properties.created is not None:
        metadata["created"] = properties.created.date().isoformat()
    return metadata
