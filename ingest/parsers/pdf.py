"""PDF: text per page with pypdf, running headers/footers removed, wrapped lines joined, headings guessed."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from pypdf import PasswordType, PdfReader

from ingest.domain import BlockKind, PageSpan, ParsedDocument
from ingest.errors import CorruptDocument, EmptyFile, EncryptedDocument, IngestError, NoTextLayer
from ingest.metadata import clean_title, is_field_line
from ingest.ocr import OcrOptions, OcrUnavailable, ocr_pages
from ingest.parsers.outline import DocumentBuilder, Line, is_page_number, normalize, segment_lines

FORMAT = "pdf"
# Header/footer lines are looked for among this many lines at the top and at the bottom of each page.
_MARGIN_LINES = 3
_MIN_PAGES_FOR_REPEATS = 3
_LINE_END_HYPHEN = re.compile(r"[^\W\d_][-\u00ad]$")
# "Kreis-\nund Stadtverbände": the hyphen belongs to an elided compound, not to a split word.
_CONJUNCTIONS = frozenset({"und", "oder", "bzw.", "sowie", "bis", "als", "noch", "wie"})
_INFO_KEYS = (("/Title", "title"), ("/Author", "author"), ("/CreationDate", "created"))
_PDF_DATE = re.compile(r"(?:D:)?(\d{4})(\d{2})?(\d{2})?")


def parse_pdf(data: bytes, path: str, ocr: OcrOptions | None = None) -> ParsedDocument:
    """Pages without a text layer are OCR'd as `ocr` says (default: German, on); their numbers are in
    `ParsedDocument.ocr_pages`."""
    failure: IngestError | None = None
    with library_warnings() as warned:
        try:
            parsed = _parse(data, path, ocr if ocr is not None else OcrOptions())
        except IngestError as exc:
            failure = exc
    if failure is not None:
        if not warned:
            raise failure
        # The warnings explain the failure ("EOF marker not found" before "Stream has ended unexpectedly").
        message = f"{failure.message}; pypdf: {'; '.join(warned)}"
        raise type(failure)(message, path=failure.path) from failure
    return replace(parsed, warnings=tuple(warned)) if warned else parsed


@contextlib.contextmanager
def library_warnings() -> Iterator[list[str]]:
    """Collect what pypdf logs or warns while this thread reads a file, instead of printing it.

    pypdf reports the robustness fixes it applies ("EOF marker not found", "incorrect startxref pointer") as
    log records of the "pypdf" loggers and some as `warnings.warn`. They belong to the file's outcome, so for
    the duration of the parse they are kept from the console log and handed back (deduplicated, capped).
    """
    collected: list[str] = []
    handler = _Collector(collected, threading.get_ident())
    logger = logging.getLogger("pypdf")
    with _CAPTURE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        propagate = logger.propagate
        logger.addHandler(handler)
        logger.propagate = False
        try:
            yield collected
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate
            for warning in caught:
                _add(collected, str(warning.message))


# The "pypdf" logger's propagation is switched off while a parse runs; one parse at a time may do that.
_CAPTURE_LOCK = threading.Lock()
_MAX_WARNINGS = 20


class _Collector(logging.Handler):
    def __init__(self, into: list[str], thread: int) -> None:
        super().__init__(logging.WARNING)
        self._into = into
        self._thread = thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread:
            _add(self._into, record.getMessage())


def _add(collected: list[str], message: str) -> None:
    text = " ".join(message.split())
    if text and text not in collected and len(collected) < _MAX_WARNINGS:
        collected.append(text)


def _parse(data: bytes, path: str, ocr: OcrOptions) -> ParsedDocument:
    reader = _open(data, path)
    page_texts = _extract_pages(reader, path)
    if not page_texts:
        raise EmptyFile("the PDF has no pages", path=path)
    page_texts, ocr_done = _ocr_empty_pages(data, page_texts, ocr, path)
    pages = _drop_headers_and_footers([normalize(text).split("\n") for text in page_texts])
    builder = DocumentBuilder()
    page_starts = _build(builder, pages)
    text = builder.text()
    if not text:
        raise EmptyFile("the PDF contains only page headers, footers and page numbers", path=path)
    return ParsedDocument(
        source_path=path,
        format=FORMAT,
        text=text,
        blocks=builder.blocks(),
        pages=_page_spans(page_starts, len(text)),
        metadata={**_metadata(reader), **_first_line(pages)},
        ocr_pages=ocr_done,
    )


def _ocr_empty_pages(
    data: bytes, page_texts: list[str], ocr: OcrOptions, path: str
) -> tuple[list[str], tuple[int, ...]]:
    """OCR the pages without text; returns all page texts and the (1-based) numbers of the pages OCR gave text.

    A file whose pages yield no text, not even after OCR, fails with `NoTextLayer`. When OCR cannot run, a file
    with some text keeps its empty pages empty (as before OCR existed) and one without any fails."""
    empty = [index for index, text in enumerate(page_texts) if not text.strip()]
    if not empty:
        return page_texts, ()
    try:
        found = ocr_pages(data, empty, ocr)
    except OcrUnavailable as exc:
        if len(empty) == len(page_texts):
            raise NoTextLayer(f"no page has extractable text (a scan?) and {exc}", path=path) from exc
        return page_texts, ()
    except IngestError:
        raise
    except Exception as exc:  # pdfium refuses a page pypdf could read
        if len(empty) == len(page_texts):
            message = (
                f"no page has extractable text and the scan could not be rendered ({type(exc).__name__})"
            )
            raise NoTextLayer(message, path=path) from exc
        return page_texts, ()
    texts = [found.get(index, text) for index, text in enumerate(page_texts)]
    if not any(text.strip() for text in texts):
        raise NoTextLayer("no page has extractable text, not even after OCR", path=path)
    return texts, tuple(index + 1 for index in empty if found.get(index, "").strip())


def _first_line(pages: Sequence[Sequence[str]]) -> dict[str, str]:
    """The first line of text after running headers are gone: the title of most PDFs ("Grundgesetz für die
    Bundesrepublik Deutschland"), which the joined first paragraph would bury under the lines after it."""
    # A cover block of labelled fields ("Normgeber: …", "Aktenzeichen: …") comes before the title in juris PDFs.
    line = next((line for page in pages[:1] for line in page if line and not is_field_line(line)), "")
    return {"first_line": line} if line else {}


def _open(data: bytes, path: str) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:  # pypdf raises many types on damaged files
        raise CorruptDocument(f"not a readable PDF ({type(exc).__name__}: {exc})", path=path) from exc
    if encrypted:
        _decrypt_with_empty_password(reader, path)
    return reader


def _decrypt_with_empty_password(reader: PdfReader, path: str) -> None:
    try:
        result = reader.decrypt("")
    except Exception as exc:  # unsupported algorithm or missing `cryptography` for AES
        raise EncryptedDocument(f"cannot decrypt the PDF ({type(exc).__name__}: {exc})", path=path) from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise EncryptedDocument("the PDF is protected by a password", path=path)


def _extract_pages(reader: PdfReader, path: str) -> list[str]:
    texts: list[str] = []
    try:
        for page in reader.pages:
            texts.append(page.extract_text() or "")
    except IngestError:
        raise
    except Exception as exc:
        page_number = len(texts) + 1
        message = f"cannot read page {page_number} ({type(exc).__name__}: {exc})"
        raise CorruptDocument(message, path=path) from exc
    return texts


def _drop_headers_and_footers(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Strip lines; drop page numbers and lines repeated on most pages (digits ignored) at a page's edges."""
    stripped = [[line.strip() for line in page] for page in pages]
    margins = [_margin_indexes(page) for page in stripped]
    repeated = _repeated_margin_keys(stripped, margins)
    cleaned: list[list[str]] = []
    for page, margin in zip(stripped, margins, strict=True):
        cleaned.append(
            [
                line
                for index, line in enumerate(page)
                if index not in margin or not (is_page_number(line) or _margin_key(line) in repeated)
            ]
        )
    return cleaned


def _margin_indexes(page: Sequence[str]) -> set[int]:
    filled = [index for index, line in enumerate(page) if line]
    return set(filled[:_MARGIN_LINES] + filled[-_MARGIN_LINES:])


def _margin_key(line: str) -> str:
    # Digits vary ("Seite 2 von 38"), the rest of a running header does not.
    return " ".join(re.sub(r"\d+", "#", line).split())


def _repeated_margin_keys(pages: Sequence[Sequence[str]], margins: Sequence[set[int]]) -> set[str]:
    if len(pages) < _MIN_PAGES_FOR_REPEATS:
        return set()
    counts: Counter[str] = Counter()
    for page, margin in zip(pages, margins, strict=True):
        counts.update({_margin_key(page[index]) for index in margin})
    return {key for key, count in counts.items() if count > len(pages) / 2}


def _build(builder: DocumentBuilder, pages: Sequence[Sequence[str]]) -> list[int]:
    """Add every page's blocks; returns the offset at which each page's text starts."""
    lines = [Line(text, number) for number, page in enumerate(pages, start=1) for text in page]
    segments = segment_lines(lines)
    starts: list[int] = []
    position = 0
    for number in range(1, len(pages) + 1):
        starts.append(builder.next_offset)
        while position < len(segments) and segments[position].page == number:
            segment = segments[position]
            if segment.kind is BlockKind.HEADING:
                builder.add_heading(" ".join(segment.lines), segment.level)
            else:
                builder.add_paragraph(join_wrapped_lines(segment.lines))
            position += 1
    return starts


def join_wrapped_lines(lines: Sequence[str]) -> str:
    """Join the hard-wrapped lines of one paragraph, rejoining words hyphenated at a line break."""
    parts: list[str] = [lines[0]] if lines else []
    for line in lines[1:]:
        previous = parts[-1]
        if not _LINE_END_HYPHEN.search(previous):
            parts.append(" " + line)
        elif line[:1].islower() and line.split(maxsplit=1)[0] not in _CONJUNCTIONS:
            parts[-1] = previous[:-1]
            parts.append(line)
        elif line[:1].isupper():
            parts.append(line)  # "Feuerwehr-\nSchutzkleidung": a hyphenated compound
        else:
            parts.append(" " + line)
    return "".join(parts)


def _page_spans(starts: Sequence[int], text_length: int) -> tuple[PageSpan, ...]:
    # Pages tile the text: the separator after a page's last block belongs to that page; empty pages are empty
    bounded = [0, *(min(start, text_length) for start in starts[1:])]
    ends = [*bounded[1:], text_length]
    return tuple(
        PageSpan(number, start, end) for number, (start, end) in enumerate(zip(bounded, ends, strict=True), 1)
    )


def _metadata(reader: PdfReader) -> dict[str, Any]:
    try:
        info = reader.metadata
        values = {name: _info_text(info, key) for key, name in _INFO_KEYS} if info is not None else {}
    except Exception:  # a damaged info dictionary must not cost the text
        return {}
    metadata: dict[str, Any] = {name: value for name, value in values.items() if name != "created" and value}
    # "Microsoft Word - Protokoll.docx" → "Protokoll"; a mere file name is no title.
    title = clean_title(values.get("title", ""))
    if title:
        metadata["title"] = title
    else:
        metadata.pop("title", None)
    created = _iso_date(values.get("created", ""))
    if created:
        metadata["created"] = created
    return metadata


def _info_text(info: Any, key: str) -> str:
    value = info.get(key)
    if value is None:
        return ""
    value = value.get_object()
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return normalize(text).strip()


def _iso_date(value: str) -> str | None:
    """PDF date 'D:20221028091920+02'00'' → '2022-10-28'; None when it is not a date."""
    match = _PDF_DATE.match(value.strip())
    if match is None:
        return None
    year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None
