"""Document outline: the heading heuristic for line-based formats; blocks assembled with their section paths.

Heading levels of the heuristic (PDF and plain text), fixed by the numbering pattern of the line:

| pattern                                   | example                      | level |
|-------------------------------------------|------------------------------|-------|
| `§ 1`, `Art. 1`, `Artikel 1`, `TOP 1`     | `§ 3a Zuständigkeit`         | 1     |
| capital letter A–H with a period          | `A. Sachverhalt`             | 1     |
| a line in capitals (≥ 4 letters)          | `BESCHLÜSSE`                 | 1     |
| Roman numeral with a period               | `II. Rechtliche Würdigung`   | 2     |
| one number                                | `1. Ausgangslage`, `3 Ziele` | 3     |
| dotted number with n parts                | `1.1 Anlass` (4), `2.3.1` (5)| 2 + n (at most 6) |
| small letter with a parenthesis           | `a) Erforderlichkeit`        | 5     |
| doubled small letter with a parenthesis   | `aa) Schriftform`            | 6     |

`a)` ranks below every number (`1.`, `1.1`), as in the German outline A. / I. / 1. / a) / aa).

A line counts as a heading only if
- it is short (< 90 characters) and no table-of-contents line (dot leaders);
- it does not end like a sentence, clause or hyphenated word (`.`, `,`, `;`, `:`, `-`) nor with a word such as
  "und", "oder", "der" that goes on in the next line;
- after a number, letter or Roman numeral its title starts with a capital letter, as German headings do;
- it starts a paragraph: first line, or the line before ends a sentence, is short (and does not end with a
  comma, hyphen or a word like "des" that goes on), or is a heading itself;
  after a long line without a full stop (a cover line "Verfasserin: …, 29. August 2025") a numbered line still
  opens a section if it is short (< 60 % of a full line) and body text or a deeper heading follows;
- text follows, and the line was not wrapped: the next line does not go on in lower case, and the line is not
  nearly as long as a full line of the document (85 % of the 90th percentile) with text right after it;
- "a)" and "aa)" lines, which mostly start list items of laws, must be short (< 50 characters) and followed
  by body text (capitalised, and a long line or a finished sentence) or a deeper heading;
- it is no date ("3. März 2025", "15 Mai 2026", "3. Okt. 2025");
- after a number, its title is not just a unit ("2 Jahre", "3 Millionen Euro", "17. Lebensjahr": a table
  cell), nor starts with one after a number without a period ("3 Monate Probezeit", "15.000 Euro gesamt");
- it is not one of several lines numbered the same way that are adjacent (a list, table rows like
  "4 m 20 kHz"), or that are separated only by two or more short table cells and share their first word
  (one column of a table read row by row: "2 Bauabschnitte" … "3 Bauabschnitte").
Adjacent lines in capitals form one heading.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from ingest.domain import Block, BlockKind
from ingest.german_patterns import AGENDA_HEADING_START, PARSER_LEVELS, parser_number_level, starts_with_date

MAX_HEADING_CHARS = 90
# A wrapped line is shorter than the text width; a line this short usually ends its paragraph.
_SHORT_LINE_CHARS = 50

_TITLE = r"\s+(?P<title>\S)"
# "§ 3" or "Art 39" alone on its line, the title (if any) on the next: the layout of gesetze-im-internet.de.
_TITLE_OR_END = r"(?:\s+(?P<title>\S)|$)"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("section", re.compile(r"§{1,2}\s*\d+[a-z]?" + _TITLE_OR_END)),
    # "Art" without a period only alone on its line: "Art und Weise" is prose, "Art 39" a heading.
    ("article", re.compile(r"(?:Art\.|Artikel)\s*\d{1,3}[a-z]?" + _TITLE_OR_END + r"|Art\s+\d{1,3}[a-z]?$")),
    ("agenda", re.compile(AGENDA_HEADING_START + _TITLE)),
    ("letter", re.compile(r"[A-H]\." + _TITLE)),
    ("roman", re.compile(r"[IVX]+\." + _TITLE)),
    ("number", re.compile(r"(?P<number>\d{1,3}(?:\.\d{1,3})*)\.?" + _TITLE)),
    ("double_lower", re.compile(r"([a-z])\1\)" + _TITLE)),
    ("lower", re.compile(r"[a-z]\)" + _TITLE)),
)
_LETTERED_KINDS = frozenset({"lower", "double_lower"})
_LIST_KINDS = frozenset({"letter", "roman", "number", *_LETTERED_KINDS})
_DOT_LEADER = re.compile(r"\.{4,}|…{2,}|(?:\. ){3,}")
_PAGE_NUMBER = re.compile(
    r"[-–—\s]*(?:(?:Seite|Page|S\.)\s*)?\d{1,4}(?:\s*(?:von|of|/)\s*\d{1,4})?[-–—\s]*", re.IGNORECASE
)
_PARAGRAPH_END = (".", "!", "?", ":", ";")
_CLAUSE_END = (".", ",", ";", ":", "-", "\u00ad")
_TITLE_OPENERS = frozenset("„\"'(")
# A line ending in one of these goes on in the next line ("2. Vermögen verschwendet hat oder").
_CONTINUING_WORDS_TEXT = """
    und oder sowie bzw der die das des dem den ein eine einer eines hat ist sind wird werden dass sich
    nicht als wie zu zum zur von vom mit für auf in im an am bei beim über unter nach aus
"""
_CONTINUING_WORDS = frozenset(_CONTINUING_WORDS_TEXT.split())
# A number followed only by units is a table cell or a quantity, never a heading: "2 Jahre", "3 Mio. EUR".
_UNITS_TEXT = """
    jahr jahre jahren monat monate monaten woche wochen tag tage tagen stunde stunden std minute minuten min
    sekunde sekunden uhr prozent euro eur mio mrd tsd millionen milliarden tausend stück stk personen vzä
    punkte seiten kb mb gb tb kw mw kwh mwh km m cm mm kg t
    ja nein enthaltung enthaltungen stimmen gegenstimmen lebensjahr lebensjahres
"""
_UNITS = frozenset(_UNITS_TEXT.split())
_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")
# Lines at least this share of the usual line length are probably wrapped, unless followed by a blank line.
_WRAPPED_SHARE = 0.85
# A numbered line after a long line without a full stop opens a section only if it is this short.
_OPENER_SHARE = 0.6
# Table cells read row by row are short lines without a sentence end; a column's cells are this far apart.
_CELL_CHARS = 25
_MAX_ROW_CELLS = 12
_MIN_ROW_CELLS = 2
_WRAP_PERCENTILE = 0.9
_MIN_LINES_FOR_WIDTH = 20
_STATUTE_SUBSECTION = re.compile(r"\(\d{1,2}[a-z]?\)\s")
_REPEALED = re.compile(r"\((?:weggefallen|aufgehoben|entfällt)\)", re.IGNORECASE)
# "I." or "A." alone on its line, the title on the next ("I." / "Die Grundrechte" in the Grundgesetz).
_BARE_MARK = re.compile(r"(?:[IVX]+|[A-H])\.")
_LAW_SECTION_KINDS = frozenset({"section", "article"})
_LEADING_NUMBER = re.compile(r"(\d{1,3}(?:\.\d{1,3})*)\.?\s")
# A title followed by a page number: "Übertragungsverfahren 17", "3.2 Zuständigkeiten 12".
_CONTENTS_LINE = re.compile(r".*[^\d\s.,:/]\s+\d{1,3}")


@dataclass(frozen=True)
class HeadingCandidate:
    kind: str
    level: int
    # The first word after the numbering ("Jahre" in "2 Jahre"); "" for a line in capitals.
    first_word: str = field(default="", compare=False)
    # "§ 3" / "Art 39" with no title on the line: a heading only before body text.
    bare: bool = field(default=False, compare=False)


def heading_candidate(line: str) -> HeadingCandidate | None:
    """Whether `line` on its own looks like a heading (no context); see the module docstring for levels."""
    line = line.strip()
    if not line or len(line) >= MAX_HEADING_CHARS or line.endswith(_CLAUSE_END) or _DOT_LEADER.search(line):
        return None
    if line.rsplit(maxsplit=1)[-1] in _CONTINUING_WORDS or starts_with_date(line):
        return None
    for kind, pattern in _PATTERNS:
        match = pattern.match(line)
        if match is None:
            continue
        if match.group("title") is None:
            return HeadingCandidate(kind, PARSER_LEVELS[kind], "", bare=True)
        if kind in _LIST_KINDS and not _starts_like_title(match.group("title")):
            return None
        title = line[match.start("title") :]
        if kind == "number" and _is_quantity(match.group("number"), line[match.end("number") :], title):
            return None
        if kind in _LIST_KINDS and _REPEALED.fullmatch(title):
            return None  # "5. (weggefallen)": a repealed item of a list in a law, no section
        first_word = title.split(maxsplit=1)[0]
        if kind == "number":
            level = parser_number_level(len(match.group("number").split(".")))
            return HeadingCandidate(kind, level, first_word)
        return HeadingCandidate(kind, PARSER_LEVELS[kind], first_word)
    if _is_caps_line(line):
        return HeadingCandidate("caps", PARSER_LEVELS["caps"])
    return None


def _starts_like_title(first: str) -> bool:
    # "4 m 20 kHz" is a table row, "1 Nummer 6" a wrapped reference; German headings start with a capital.
    return first.isupper() or first in _TITLE_OPENERS


def _is_quantity(number: str, after_number: str, title: str) -> bool:
    """'2 Jahre', '3 Millionen Euro', '15.000 Euro Gebühren', '17. Lebensjahr': an amount, not a heading."""
    words = [word.strip(".,;()").casefold() for word in title.split()]
    if all(word in _UNITS or word.replace(",", "").replace(".", "").isdigit() for word in words):
        return True
    # Without a period after the number ("3 Monate Probezeit") or with thousands ("15.000"), a unit first.
    plain_number = not after_number.startswith(".") or _THOUSANDS.fullmatch(number) is not None
    # One letter is no unit here: "15 T 2 Sendeschrittakt" is a numbered row, "t" the tonne only alone.
    return plain_number and len(words[0]) > 1 and words[0] in _UNITS


def _is_caps_line(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    visible = sum(1 for c in line if not c.isspace())
    return len(letters) >= 4 and not any(c.islower() for c in letters) and len(letters) >= 0.6 * visible


def is_page_number(line: str) -> bool:
    """'3', '- 3 -', 'Seite 3 von 9', 'Page 3 of 9'."""
    return bool(line.strip()) and _PAGE_NUMBER.fullmatch(line.strip()) is not None


@dataclass(frozen=True)
class Line:
    """One line of a line-based document; `text` is stripped, "" for a blank line. `page` is 1-based or 0."""

    text: str
    page: int = 0


@dataclass(frozen=True)
class Segment:
    """Consecutive lines forming one heading or one paragraph, all on the same page."""

    kind: BlockKind
    lines: tuple[str, ...]
    page: int = 0
    level: int = 0


def segment_lines(lines: Sequence[Line]) -> list[Segment]:
    """Split lines into headings and paragraphs: paragraphs end at blank lines, page breaks and headings."""
    lines = _join_bare_marks(lines)
    headings = _law_levels(_accepted_headings(lines))
    segments: list[Segment] = []
    buffer: list[str] = []
    buffer_page = 0

    def flush() -> None:
        if buffer:
            segments.append(Segment(BlockKind.PARAGRAPH, tuple(buffer), buffer_page))
            buffer.clear()

    for index, line in enumerate(lines):
        if not line.text or line.page != buffer_page:
            flush()
        heading = headings[index]
        if heading is not None:
            flush()
            if _continues_caps_heading(headings, lines, index):
                last = segments[-1]
                segments[-1] = Segment(BlockKind.HEADING, (*last.lines, line.text), last.page, last.level)
            else:
                segments.append(Segment(BlockKind.HEADING, (line.text,), line.page, heading.level))
        elif line.text:
            if buffer and _starts_subsection(buffer[-1], line.text):
                flush()
            buffer.append(line.text)
            buffer_page = line.page
    flush()
    return segments


def _join_bare_marks(lines: Sequence[Line]) -> list[Line]:
    """ "I." followed by its title line on the same page becomes one line "I. Die Grundrechte"."""
    joined: list[Line] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else None
        if (
            following is not None
            and following.page == line.page
            and _BARE_MARK.fullmatch(line.text)
            and heading_candidate(f"{line.text} {following.text}") is not None
        ):
            joined.append(Line(f"{line.text} {following.text}", line.page))
            index += 2
            continue
        joined.append(line)
        index += 1
    return joined


def _law_levels(accepted: Sequence[HeadingCandidate | None]) -> list[HeadingCandidate | None]:
    """In a law, "I. Die Grundrechte" / "A. Allgemeines" divide the §§ and articles: they rank above them.

    Without such headings before a § or an article the fixed levels stand (§ and "A." on level 1).
    """
    first_section = next(
        (i for i, c in enumerate(accepted) if c is not None and c.kind in _LAW_SECTION_KINDS), None
    )
    if first_section is None:
        return list(accepted)
    dividers = {c.kind for c in accepted[:first_section] if c is not None and c.kind in ("letter", "roman")}
    if not dividers:
        return list(accepted)
    levels = {"letter": 1, "roman": 2 if "letter" in dividers else 1}
    section_level = max(levels[kind] for kind in dividers) + 1
    result: list[HeadingCandidate | None] = []
    for candidate in accepted:
        if candidate is not None and candidate.kind in levels:
            candidate = replace(candidate, level=levels[candidate.kind])
        elif candidate is not None and candidate.kind in _LAW_SECTION_KINDS:
            candidate = replace(candidate, level=section_level)
        result.append(candidate)
    return result


def _continues_caps_heading(
    headings: Sequence[HeadingCandidate | None], lines: Sequence[Line], index: int
) -> bool:
    previous = headings[index - 1] if index > 0 else None
    return (
        previous is not None
        and previous.kind == "caps"
        and headings[index] == previous
        and lines[index - 1].page == lines[index].page
    )


def _starts_subsection(previous: str, line: str) -> bool:
    # "(2) ..." after a finished sentence opens the next numbered subsection (Absatz) of a statute.
    return previous.endswith(_PARAGRAPH_END) and _STATUTE_SUBSECTION.match(line) is not None


def _accepted_headings(lines: Sequence[Line]) -> list[HeadingCandidate | None]:
    candidates = [heading_candidate(line.text) for line in lines]
    last_text = max((i for i, line in enumerate(lines) if line.text), default=-1)
    wrap_width = _wrap_width(lines)
    accepted: list[HeadingCandidate | None] = [None] * len(lines)
    last_number: tuple[int, ...] = ()
    for index, candidate in enumerate(candidates):
        if candidate is None or index >= last_text or _in_list(candidates, lines, index, candidate):
            continue
        if _is_contents_line(lines, index):
            continue
        if candidate.kind in _LETTERED_KINDS and not _is_lettered_heading(candidates, lines, index):
            continue
        if candidate.bare and not _followed_by_body(candidates, lines, index):
            continue
        previous = lines[index - 1].text if index > 0 else ""
        following = lines[index + 1].text
        starts_paragraph = (
            not previous
            or accepted[index - 1] is not None
            or _ends_paragraph(previous)
            or _opens_section(candidates, lines, index, wrap_width)
        )
        wrapped = following[:1].islower() or (
            bool(following)
            and candidates[index + 1] is None
            and len(lines[index].text) >= _WRAPPED_SHARE * wrap_width
        )
        number = _section_number(lines[index].text) if candidate.kind == "number" else ()
        if not (starts_paragraph and not wrapped) and _next_in_numbering(last_number, number):
            # "5.1 Förderung der Investitionskosten" between "fordert das Land auf," and "60 Prozent … zu
            # fördern;": a short dotted number that continues the document's numbering is a heading even
            # where the sentence around it runs on.
            starts_paragraph, wrapped = True, len(lines[index].text) >= _OPENER_SHARE * wrap_width
        if starts_paragraph and not wrapped:
            accepted[index] = candidate
            last_number = number or last_number
    return accepted


def _section_number(line: str) -> tuple[int, ...]:
    match = _LEADING_NUMBER.match(line)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _next_in_numbering(previous: tuple[int, ...], number: tuple[int, ...]) -> bool:
    """'5.' → '5.1' (first child), '5.1' → '5.2' (next sibling), '5.1.3' → '5.2': only dotted numbers."""
    if len(number) < 2 or not previous:
        return False
    if number == (*previous, 1):
        return True
    depth = len(number)
    return depth <= len(previous) and number == (*previous[: depth - 1], previous[depth - 1] + 1)


def _is_contents_line(lines: Sequence[Line], index: int) -> bool:
    """'3 Geräteausstattung 7' next to '3.1 Allgemeines 7': a table of contents without dot leaders.

    A line ending in a page number (up to three digits: "Pilotphase 2026" ends in a year) whose neighbouring
    text line ends in one too.
    """
    if not _CONTENTS_LINE.fullmatch(lines[index].text):
        return False
    neighbours = (_adjacent_text_line(lines, index, step) for step in (-1, 1))
    return any(n is not None and _CONTENTS_LINE.fullmatch(lines[n].text) for n in neighbours)


def _is_lettered_heading(
    candidates: Sequence[HeadingCandidate | None], lines: Sequence[Line], index: int
) -> bool:
    # "a) …" starts a list item of a law far more often than a section: only a short line before body text.
    return len(lines[index].text) < _SHORT_LINE_CHARS and _followed_by_body(candidates, lines, index)


def _opens_section(
    candidates: Sequence[HeadingCandidate | None], lines: Sequence[Line], index: int, wrap_width: float
) -> bool:
    """After a line without a full stop, a short numbered line followed by body text still opens a section.

    The line before must not go on in this one (a comma, hyphen or "und" at its end), and neither line may be
    part of a table of contents (dot leaders, or page numbers at the end of this and the next line).
    """
    candidate = candidates[index]
    line = lines[index].text
    previous = lines[index - 1].text if index > 0 else ""
    following = _adjacent_text_line(lines, index, 1)
    if candidate is None or candidate.kind not in _LIST_KINDS or following is None:
        return False
    if len(line) >= _OPENER_SHARE * wrap_width or _goes_on(previous) or _DOT_LEADER.search(previous):
        return False
    if line[-1:].isdigit() and (previous[-1:].isdigit() or lines[following].text[-1:].isdigit()):
        return False
    return _followed_by_body(candidates, lines, index)


def _goes_on(line: str) -> bool:
    words = line.split()
    return line.endswith((",", "-", "\u00ad")) or (bool(words) and words[-1] in _CONTINUING_WORDS)


def _followed_by_body(
    candidates: Sequence[HeadingCandidate | None], lines: Sequence[Line], index: int
) -> bool:
    """The next text line is a deeper heading, or body text: capitalised, and long or a finished sentence."""
    candidate = candidates[index]
    following = _adjacent_text_line(lines, index, 1)
    if candidate is None or following is None:
        return False
    below = candidates[following]
    if below is not None:
        return below.level > candidate.level
    text = lines[following].text
    starts_upper = text[:1].isupper() or text[:1] in _TITLE_OPENERS
    long_or_finished = len(text) >= _SHORT_LINE_CHARS or text.endswith(_PARAGRAPH_END)
    return starts_upper and long_or_finished and not _DOT_LEADER.search(text)


def _wrap_width(lines: Sequence[Line]) -> float:
    """The usual length of a full line; infinite when there are too few lines to tell."""
    lengths = sorted(len(line.text) for line in lines if line.text)
    if len(lengths) < _MIN_LINES_FOR_WIDTH:
        return float("inf")
    return lengths[int(_WRAP_PERCENTILE * (len(lengths) - 1))]


def _ends_paragraph(line: str) -> bool:
    if line.endswith(_PARAGRAPH_END):
        return True
    return len(line) < _SHORT_LINE_CHARS and not _goes_on(line)


def _in_list(
    candidates: Sequence[HeadingCandidate | None],
    lines: Sequence[Line],
    index: int,
    candidate: HeadingCandidate,
) -> bool:
    if candidate.kind not in _LIST_KINDS:
        return False
    return any(_numbered_alike(candidates, lines, index, step) for step in (-1, 1))


def _numbered_alike(
    candidates: Sequence[HeadingCandidate | None], lines: Sequence[Line], index: int, step: int
) -> bool:
    """The next line in direction `step` is numbered like this one, directly or after a row of table cells.

    A table read row by row puts one cell per line, so the cells of one column ("2 Bauabschnitte",
    "3 Bauabschnitte") are several lines apart, the other short cells of their row between them.
    """
    candidate = candidates[index]
    cells = 0
    neighbour = _adjacent_text_line(lines, index, step)
    while candidate is not None and neighbour is not None and cells <= _MAX_ROW_CELLS:
        other = candidates[neighbour]
        if other == candidate:
            return cells == 0 or (cells >= _MIN_ROW_CELLS and other.first_word == candidate.first_word)
        if other is not None or not _is_table_cell(lines[neighbour].text):
            return False
        cells += 1
        neighbour = _adjacent_text_line(lines, neighbour, step)
    return False


def _is_table_cell(line: str) -> bool:
    # "Vorlage: 2020/0339" under an agenda item is a label line, not a cell.
    return len(line) <= _CELL_CHARS and not line.endswith(_PARAGRAPH_END) and ": " not in line


def _adjacent_text_line(lines: Sequence[Line], index: int, step: int) -> int | None:
    neighbour = index + step
    while 0 <= neighbour < len(lines) and not lines[neighbour].text:
        neighbour += step
    return neighbour if 0 <= neighbour < len(lines) else None


class DocumentBuilder:
    """Collects headings and paragraphs into one text, a blank line between blocks, with section paths."""

    SEPARATOR = "\n\n"

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._blocks: list[Block] = []
        self._length = 0
        self._headings: list[tuple[int, str]] = []

    @property
    def next_offset(self) -> int:
        """Where the next block would start in the text."""
        return self._length + len(self.SEPARATOR) if self._parts else 0

    @property
    def length(self) -> int:
        return self._length

    def add_heading(self, text: str, level: int) -> None:
        text = " ".join(normalize(text).split())
        if not text:
            return
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, text))
        self._append(BlockKind.HEADING, text, level)

    def add_paragraph(self, text: str) -> None:
        text = normalize(text).strip()
        if text:
            self._append(BlockKind.PARAGRAPH, text, 0)

    def _append(self, kind: BlockKind, text: str, level: int) -> None:
        start = self.next_offset
        if self._parts:
            self._parts.append(self.SEPARATOR)
        self._parts.append(text)
        self._length = start + len(text)
        path = tuple(heading for _, heading in self._headings)
        self._blocks.append(Block(kind, text, start, self._length, path, level))

    def text(self) -> str:
        return "".join(self._parts)

    def blocks(self) -> tuple[Block, ...]:
        return tuple(self._blocks)

    def first_heading(self, level: int = 1) -> str | None:
        return next((b.text for b in self._blocks if b.kind is BlockKind.HEADING and b.level == level), None)


def normalize(text: str) -> str:
    """NFC with Unix newlines: the form every parser's text is stored in."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
