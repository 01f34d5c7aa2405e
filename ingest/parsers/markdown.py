"""Markdown: YAML front matter into metadata, ATX and setext headings, paragraphs on blank lines.

Lists, tables and fenced code stay inside their paragraph as written; a thematic break (`---`) only separates.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import yaml

from ingest.domain import ParsedDocument
from ingest.errors import EmptyFile, InvalidMetadata
from ingest.parsers.outline import DocumentBuilder
from ingest.parsers.text import decode_text

FORMAT = "markdown"
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")


def parse_markdown(data: bytes, path: str) -> ParsedDocument:
    text, encoding = decode_text(data, path)
    front_matter, body = split_front_matter(text, path)
    builder = DocumentBuilder()
    _MarkdownReader(builder).read(body.split("\n"))
    if not builder.text():
        raise EmptyFile("the Markdown file has no text besides its front matter", path=path)
    metadata: dict[str, Any] = {"encoding": encoding}
    if front_matter is not None:
        metadata["front_matter"] = front_matter
    title = builder.first_heading(level=1)
    if title:
        metadata["title"] = title
    return ParsedDocument(
        source_path=path, format=FORMAT, text=builder.text(), blocks=builder.blocks(), metadata=metadata
    )


def split_front_matter(text: str, path: str) -> tuple[dict[str, Any] | None, str]:
    """(front matter, rest of the text); front matter is None when the text does not start with one."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None, text
    try:
        loaded = yaml.safe_load(match.group(1) or "")
    except yaml.YAMLError as exc:
        raise InvalidMetadata(f"the YAML front matter is invalid: {exc}", path=path) from exc
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise InvalidMetadata("the YAML front matter is not a mapping of keys to values", path=path)
    return _dates_as_iso(loaded), text[match.end() :]


def _dates_as_iso(value: Any) -> Any:
    # YAML turns `date: 2024-03-01` into a date object; metadata has to stay JSON-serialisable.
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _dates_as_iso(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates_as_iso(item) for item in value]
    return value


class _MarkdownReader:
    def __init__(self, builder: DocumentBuilder) -> None:
        self._builder = builder
        self._paragraph: list[str] = []
        self._fence: str | None = None

    def read(self, lines: list[str]) -> None:
        for line in lines:
            self._read_line(line.rstrip())
        self._flush()

    def _read_line(self, line: str) -> None:
        if self._fence is not None:
            self._paragraph.append(line)
            if line.strip().startswith(self._fence):
                self._fence = None
            return
        fence = _FENCE.match(line)
        if fence:
            self._fence = fence.group(1)[0] * 3
            self._paragraph.append(line)
        elif not line.strip():
            self._flush()
        elif atx := _ATX.fullmatch(line):
            self._flush()
            self._builder.add_heading(atx.group(2) or "", len(atx.group(1)))
        elif self._is_setext_underline(line):
            level = 1 if line.strip().startswith("=") else 2
            heading = self._paragraph.pop()
            self._builder.add_heading(heading, level)
        elif _THEMATIC_BREAK.fullmatch(line):
            self._flush()
        else:
            self._paragraph.append(line)

    def _is_setext_underline(self, line: str) -> bool:
        # Only a single-line paragraph is taken as a setext heading: `---` under a list or table is not one.
        return (
            len(self._paragraph) == 1
            and _SETEXT.fullmatch(line) is not None
            and _LIST_ITEM.match(self._paragraph[0]) is None
        )

    def _flush(self) -> None:
        if self._paragraph:
            self._builder.add_paragraph("\n".join(self._paragraph))
            self._paragraph = []
