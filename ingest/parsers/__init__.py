"""Document parsers, one module per format, behind one entry point that dispatches on the file suffix.

Every failure is an `ingest.errors.IngestError` subclass with `path` set, so a batch can record the file and
its reason and go on. No exception of pypdf, zipfile, python-docx or the codecs escapes.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

from ingest.domain import ParsedDocument
from ingest.errors import EmptyFile, FileTooLarge, IngestError, UnsupportedFormat
from ingest.ocr import OcrOptions
from ingest.parsers.docx import parse_docx
from ingest.parsers.markdown import parse_markdown
from ingest.parsers.pdf import parse_pdf
from ingest.parsers.text import parse_text

__all__ = ["DEFAULT_MAX_BYTES", "SUPPORTED_SUFFIXES", "parse_bytes", "parse_file"]

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

Parser = Callable[[bytes, str], ParsedDocument]
_PARSERS: dict[str, Parser] = {
    ".pdf": parse_pdf,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_text,
    ".docx": parse_docx,
}
SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_PARSERS)


def parse_file(
    path: pathlib.Path, *, max_bytes: int = DEFAULT_MAX_BYTES, display_path: str | None = None
) -> ParsedDocument:
    """Parse the file at `path`; `display_path` (default `str(path)`) names it in the result and in errors."""
    shown = display_path if display_path is not None else str(path)
    parser = _parser_for(path.name, shown)
    return parser(_read(path, max_bytes, shown), shown)


def parse_bytes(
    data: bytes, filename: str, *, max_bytes: int = DEFAULT_MAX_BYTES, ocr: OcrOptions | None = None
) -> ParsedDocument:
    """Parse an uploaded file's bytes; `filename` chooses the parser and names the document. `ocr` says whether
    and in which language PDF pages without a text layer are OCR'd (default: German, on)."""
    parser = _parser_for(filename, filename)
    _check_size(len(data), max_bytes, filename)
    if parser is parse_pdf:
        return parse_pdf(data, filename, ocr)
    return parser(data, filename)


def _parser_for(filename: str, shown: str) -> Parser:
    suffix = pathlib.PurePath(filename).suffix.lower()
    parser = _PARSERS.get(suffix)
    if parser is None:
        found = f"'{suffix}'" if suffix else "no file extension"
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedFormat(f"unsupported file type {found}; supported: {supported}", path=shown)
    return parser


def _read(path: pathlib.Path, max_bytes: int, shown: str) -> bytes:
    try:
        _check_size(path.stat().st_size, max_bytes, shown)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise IngestError(f"cannot read the file: {exc.strerror or exc}", path=shown) from exc
    _check_size(len(data), max_bytes, shown)
    return data


def _check_size(size: int, max_bytes: int, shown: str) -> None:
    if size == 0:
        raise EmptyFile("the file is empty (0 bytes)", path=shown)
    if size > max_bytes:
        raise FileTooLarge(f"the file has {size} bytes, more than the limit of {max_bytes}", path=shown)
