"""Plain text: decode (UTF-8 first, else detected), paragraphs on blank lines, outline lines as headings."""

from __future__ import annotations

import codecs
import unicodedata

from charset_normalizer import from_bytes

from ingest.domain import BlockKind, ParsedDocument
from ingest.errors import CorruptDocument, EmptyFile
from ingest.parsers.outline import DocumentBuilder, Line, normalize, segment_lines

FORMAT = "text"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Without NUL bytes the text cannot be UTF-16/32, yet the detector guesses them for short German texts.
_WIDE_ENCODINGS = ["utf_16", "utf_16_le", "utf_16_be", "utf_32", "utf_32_le", "utf_32_be"]
# Detection on short texts ties between many code pages; for German text the Western ones are right.
_WESTERN = frozenset({"cp1252", "cp1250", "latin_1", "iso8859_15", "iso8859_1", "iso8859_2"})
_TIE_CHAOS = 0.01
_MAX_UNPRINTABLE_SHARE = 0.05
_ALLOWED_CONTROLS = frozenset("\n\r\t\f")
_BINARY_CATEGORIES = frozenset({"Cc", "Cn", "Cs"})


def parse_text(data: bytes, path: str) -> ParsedDocument:
    text, encoding = decode_text(data, path)
    lines = [Line(line.strip()) for line in text.split("\n")]
    builder = DocumentBuilder()
    for segment in segment_lines(lines):
        if segment.kind is BlockKind.HEADING:
            builder.add_heading(" ".join(segment.lines), segment.level)
        else:
            builder.add_paragraph("\n".join(segment.lines))
    if not builder.text():
        raise EmptyFile("the file contains only whitespace", path=path)
    return ParsedDocument(
        source_path=path,
        format=FORMAT,
        text=builder.text(),
        blocks=builder.blocks(),
        metadata={"encoding": encoding},
    )


def decode_text(data: bytes, path: str) -> tuple[str, str]:
    """Decode to NFC text with Unix newlines; returns (text, encoding). Binary data → CorruptDocument."""
    text, encoding = _decode(data, path)
    if _unprintable_share(text) > _MAX_UNPRINTABLE_SHARE:
        raise CorruptDocument("the file is binary, not text (too many control characters)", path=path)
    return normalize(text), encoding


def _decode(data: bytes, path: str) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise CorruptDocument(
                    f"invalid {encoding} text after its byte order mark", path=path
                ) from exc
    if b"\x00" in data:
        raise CorruptDocument("the file is binary, not text (it contains NUL bytes)", path=path)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _detect(data, path)


def _detect(data: bytes, path: str) -> tuple[str, str]:
    matches = list(from_bytes(data, cp_exclusion=_WIDE_ENCODINGS))
    if not matches:
        raise CorruptDocument("the text encoding cannot be determined (binary data?)", path=path)
    best = matches[0]
    ties = [m for m in matches if m.chaos <= best.chaos + _TIE_CHAOS]
    chosen = next((m for m in ties if m.encoding in _WESTERN), best)
    text = str(chosen)
    # cp1250 and cp1252 agree on German letters; name the code page German Windows actually writes.
    if chosen.encoding in _WESTERN and _decodes_to(data, "cp1252", text):
        return text, "cp1252"
    return text, chosen.encoding


def _decodes_to(data: bytes, encoding: str, text: str) -> bool:
    try:
        return data.decode(encoding) == text
    except UnicodeDecodeError:
        return False


def _unprintable_share(text: str) -> float:
    if not text:
        return 0.0
    # Control characters mark binary data; no-break spaces and private-use bullets (Symbol font) are text.
    unprintable = sum(
        1 for c in text if c not in _ALLOWED_CONTROLS and unicodedata.category(c) in _BINARY_CATEGORIES
    )
    return unprintable / len(text)
