"""Structural enrichment between parsing and chunking: agenda items of minutes, outline of reports and laws.

Both functions return a new `ParsedDocument` with the same `text` and `pages` (offsets stay valid) and blocks
re-split and re-labelled; `text[b.char_start:b.char_end] == b.text` holds for every block. A heading line
found at the start of (or, for agenda items, inside) a paragraph block is cut out as its own heading block.

Levels are depths: `level == len(section_path)` for every heading, and a paragraph carries the path of the
headings above it. A chunker that never crosses a heading therefore never spans two agenda items or two §§.

Minutes: agenda lines are "TOP 3", "TOP 3:", "Top 3 …", "Zu TOP 3", "Tagesordnungspunkt 3", "Punkt 3 der
Tagesordnung:", "Ö 3", and "3. Haushalt" only when the same number and title appear in a numbered agenda list
after a "Tagesordnung" line. They become level 1 headings, level 2 under a document title; "TOP 3.1" nests
under "TOP 3". Two or more adjacent agenda lines whose numbers come up again later are the agenda overview and
stay text. A line like "TOP 10.1: Einstimmige Zustimmung" (a vote result) is no agenda item. Minutes without
any agenda line are returned unchanged.

Outline: "Teil 2", "Abschnitt 3", "§ 3 Titel", "Art. 5 Titel", "A.", "I.", "1.", "1.1", "a)", "aa)" rank in
that order (a § under an "Abschnitt" nests below it), so a full A./I./1./a) outline gets levels 1–4. When the
parser's headings already use two or more levels, those levels are kept and the headings found here nest below
the nearest parser heading. Adjacent blocks numbered the same way are a list, not headings, and a paragraph
starting with a date ("15. Mai 2026") starts with no heading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ingest.domain import Block, BlockKind, ParsedDocument
from ingest.german_patterns import (
    AGENDA_ANCHOR,
    AGENDA_LINE,
    BULLET_ANY_LINE,
    DIVISION_RANKS,
    OUTLINE_RANKS,
    VOTE_RESULT,
    starts_with_date,
)

MAX_LABEL_CHARS = 160
MAX_AGENDA_LINE_CHARS = 200
MAX_OUTLINE_LINE_CHARS = 120
# A heading line this long in a hard-wrapped text (PDF, TXT) probably goes on in the next line.
_WRAPPED_LINE_CHARS = 70
_MAX_CONTINUATION_LINES = 5

_DECORATION = re.compile(r"^[\s#*_>]+|[\s#*_]+$")
_NUMBERED_LINE = re.compile(r"(?P<number>\d{1,2})\.\s+(?P<title>\S.*)")
_LABEL_LINE = re.compile(r"^[A-ZÄÖÜ][\wÄÖÜäöüß\- ]{1,30}:(?:\s|$)")
_CONTINUES_AFTER = re.compile(
    r"(?:[-,–(/]|\b(?:und|oder|sowie|des|der|die|das|den|dem|von|vom|für|mit|zu|zur|zum|im|in|nach|bei|auf|an|"
    r"über|eines|einer|hier:))$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AgendaItem:
    """An agenda item heading of minutes: `number` like "3" or "14.1", `label` as used in section paths."""

    number: str
    label: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class _Heading:
    label: str
    orig_level: int | None  # the parser's level; None for a line promoted to a heading here
    agenda: str | None = None
    rank: float | None = None
    kind: str = ""


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    heading: _Heading | None = None


@dataclass(frozen=True)
class _Line:
    start: int
    end: int
    text: str

    @property
    def bare(self) -> str:
        return _DECORATION.sub("", self.text)


# --- shared helpers -----------------------------------------------------------------------------------------


def _lines(text: str, start: int, end: int) -> list[_Line]:
    lines: list[_Line] = []
    position = start
    for raw in text[start:end].split("\n"):
        lines.append(_Line(position, position + len(raw), raw))
        position += len(raw) + 1
    return lines


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def clean_label(raw: str) -> str:
    """One-line heading label: Markdown decoration removed, hyphenated line breaks joined, ≤ 160 chars."""
    lines = [_DECORATION.sub("", line) for line in raw.split("\n")]
    joined = ""
    for line in (part.strip() for part in lines):
        if not line:
            continue
        if joined.endswith("-") and line[:1].islower():
            joined = joined[:-1] + line
        elif joined.endswith("-") and not joined.endswith(" -"):
            joined += line  # "Mannheim-" + "Karlsruhe": a hyphenated compound broken at its hyphen
        else:
            joined = f"{joined} {line}" if joined else line
    label = " ".join(joined.split())
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1].rstrip() + "…"


def _pieces_of(
    parsed: ParsedDocument,
    cuts: dict[int, list[tuple[int, int, _Heading]]],
    demoted: frozenset[int] = frozenset(),
) -> list[_Piece]:
    """Blocks as pieces; a paragraph block with cuts is split into heading and paragraph pieces.

    `demoted` are parser headings that are really text (they become paragraphs).
    """
    pieces: list[_Piece] = []
    for index, block in enumerate(parsed.blocks):
        if index in demoted:
            pieces.append(_Piece(block.char_start, block.char_end))
            continue
        if block.kind is BlockKind.HEADING:
            heading = _Heading(clean_label(block.text) or block.text, block.level)
            pieces.append(_Piece(block.char_start, block.char_end, heading))
            continue
        position = block.char_start
        for start, end, heading in sorted(cuts.get(index, []), key=lambda cut: cut[0]):
            pieces.extend(_paragraph_piece(parsed.text, position, start))
            pieces.append(_Piece(start, end, heading))
            position = end
        pieces.extend(_paragraph_piece(parsed.text, position, block.char_end))
    return pieces


def _paragraph_piece(text: str, start: int, end: int) -> list[_Piece]:
    start, end = _trimmed(text, start, end)
    return [_Piece(start, end)] if end > start else []


def _assemble(
    parsed: ParsedDocument, pieces: Sequence[_Piece], place: Callable[[_Heading, list[_Heading]], None]
) -> ParsedDocument:
    """Blocks with section paths from a heading stack; `place` pops the stack before a heading is pushed."""
    stack: list[_Heading] = []
    blocks: list[Block] = []
    for piece in pieces:
        text = parsed.text[piece.start : piece.end]
        if piece.heading is None:
            path = tuple(h.label for h in stack)
            blocks.append(Block(BlockKind.PARAGRAPH, text, piece.start, piece.end, path, 0))
            continue
        place(piece.heading, stack)
        stack.append(piece.heading)
        path = tuple(h.label for h in stack)
        blocks.append(Block(BlockKind.HEADING, text, piece.start, piece.end, path, len(stack)))
    return replace(parsed, blocks=tuple(blocks))


def _title_index(parsed: ParsedDocument, is_special: Callable[[Block], bool]) -> int | None:
    """The first block, if it is a heading on a level no other parser heading uses, above all others."""
    headings = [b for b in parsed.blocks if b.kind is BlockKind.HEADING]
    if not parsed.blocks or parsed.blocks[0].kind is not BlockKind.HEADING or is_special(parsed.blocks[0]):
        return None
    first = parsed.blocks[0]
    if any(b.level <= first.level for b in headings[1:]):
        return None
    return 0


# --- minutes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AgendaCandidate:
    block: int
    start: int
    end: int
    number: str
    label: str
    is_heading_block: bool


def _agenda_number(line: str) -> str | None:
    """The agenda number if `line` (without decoration) starts an agenda item, else None."""
    match = AGENDA_LINE.match(line)
    if match is None or len(line) > MAX_AGENDA_LINE_CHARS:
        return None
    keyword = line[: match.start("number")] if match.group("number") else ""
    # "top 3" in lower case is prose; the keyword is "TOP"/"Top", "Tagesordnungspunkt" or "Ö".
    if keyword and not (keyword.strip().split()[-1][0].isupper()):
        return None
    rest = line[match.end() :]
    separated = re.match(r"[a-z]?\s*[:.)–—-]", rest)
    body = rest[separated.end() :].strip() if separated else rest.strip()
    if not separated and body and not (body[0].isupper() or body[0] in "„\"'([*"):
        return None  # "Tagesordnungspunkt 3 und bitte …" is a wrapped sentence
    if VOTE_RESULT.match(body):
        return None  # "TOP 10.1: Einstimmige Zustimmung (45 Ja)" under "Abstimmungsergebnis:"
    return match.group("number") or match.group("punkt")


def _is_vote_result(line: str) -> bool:
    match = AGENDA_LINE.match(line)
    return match is not None and bool(VOTE_RESULT.match(line[match.end() :].lstrip(" :.)–—-")))


def _numbered_agenda(parsed: ParsedDocument) -> tuple[int, dict[str, str]]:
    """Numbered agenda list after a "Tagesordnung" line: (offset after the list, number → title)."""
    lines = _lines(parsed.text, 0, len(parsed.text))
    for index, line in enumerate(lines):
        if not AGENDA_ANCHOR.fullmatch(line.bare.rstrip(":").strip()):
            continue
        entries: dict[str, str] = {}
        end = line.end
        for following in lines[index + 1 :]:
            bare = re.sub(r"^[-*•+]\s+", "", following.bare)
            if not bare:
                continue
            match = _NUMBERED_LINE.fullmatch(bare)
            if match is None or match.group("number") in entries:
                break
            entries[match.group("number")] = match.group("title")
            end = following.end
        if len(entries) >= 2:
            return end, entries
    return len(parsed.text), {}


def _same_title(found: str, listed: str) -> bool:
    size = min(12, len(listed), len(found))
    return size >= 3 and found.casefold()[:size] == listed.casefold()[:size]


def _heading_end(lines: Sequence[_Line], index: int) -> int:
    """Index of the last line of a heading starting at `index`: wrapped headings go on (PDF/TXT minutes)."""
    last = index
    while last + 1 < len(lines) and last - index < _MAX_CONTINUATION_LINES:
        current, following = lines[last].bare, lines[last + 1].bare
        if not following or _LABEL_LINE.match(following) or _agenda_number(following):
            break
        hyphenated = current.endswith("-") and following[:1].islower()
        wrapped = len(current) >= _WRAPPED_LINE_CHARS and (
            following[:1].islower() or following[:1] == "(" or bool(_CONTINUES_AFTER.search(current))
        )
        if not (hyphenated or wrapped):
            break
        last += 1
    return last


def _agenda_candidates(parsed: ParsedDocument) -> list[_AgendaCandidate]:
    overview_end, numbered = _numbered_agenda(parsed)
    found: list[_AgendaCandidate] = []
    for block_index, block in enumerate(parsed.blocks):
        if block.kind is BlockKind.HEADING:
            label = clean_label(block.text)
            number = _agenda_number(label) or _numbered_number(
                label, numbered, block.char_start, overview_end
            )
            if number:
                found.append(
                    _AgendaCandidate(block_index, block.char_start, block.char_end, number, label, True)
                )
            continue
        lines = _lines(parsed.text, block.char_start, block.char_end)
        index = 0
        while index < len(lines):
            bare = lines[index].bare
            number = _agenda_number(bare) or _numbered_number(
                bare, numbered, lines[index].start, overview_end
            )
            if number is None:
                index += 1
                continue
            last = _heading_end(lines, index)
            start, end = _trimmed(parsed.text, lines[index].start, lines[last].end)
            raw = "\n".join(line.text for line in lines[index : last + 1])
            found.append(_AgendaCandidate(block_index, start, end, number, clean_label(raw), False))
            index = last + 1
    return _without_overview(parsed.text, found)


def _numbered_number(line: str, numbered: dict[str, str], offset: int, overview_end: int) -> str | None:
    if not numbered or offset <= overview_end:
        return None
    match = _NUMBERED_LINE.fullmatch(line)
    if match is None or match.group("number") not in numbered:
        return None
    return (
        match.group("number") if _same_title(match.group("title"), numbered[match.group("number")]) else None
    )


def _without_overview(text: str, found: list[_AgendaCandidate]) -> list[_AgendaCandidate]:
    """Drop runs of adjacent agenda lines (the agenda overview) whose numbers come up again later."""
    kept: list[_AgendaCandidate] = []
    index = 0
    while index < len(found):
        run_end = index
        numbers = {found[index].number}
        # A run ends where a number comes again: the overview is followed by the first item itself.
        while (
            run_end + 1 < len(found)
            and found[run_end + 1].number not in numbers
            and _adjacent(text, found[run_end], found[run_end + 1])
        ):
            run_end += 1
            numbers.add(found[run_end].number)
        run = found[index : run_end + 1]
        later = {c.number for c in found[run_end + 1 :]}
        repeated = sum(1 for c in run if c.number in later)
        if not (len(run) >= 2 and repeated * 2 >= len(run)):
            kept.extend(run)
        index = run_end + 1
    return kept


def _adjacent(text: str, first: _AgendaCandidate, second: _AgendaCandidate) -> bool:
    between = BULLET_ANY_LINE.sub("", text[first.end : second.start])
    return not _DECORATION.sub("", between).strip()


@dataclass(frozen=True)
class MinutesStructure:
    """The minutes stage's result, computed once per document: the blocks re-cut at the agenda items, and
    the agenda items themselves. Chunking, the minutes records and the chunks' agenda item all read it."""

    parsed: ParsedDocument
    agenda: tuple[AgendaItem, ...]


def structure_minutes(parsed: ParsedDocument) -> MinutesStructure:
    """Find the agenda items of minutes once and cut them out as headings (see `apply_minutes_structure`)."""
    candidates = _agenda_candidates(parsed)
    agenda = tuple(AgendaItem(c.number, c.label, c.start, c.end) for c in candidates)
    return MinutesStructure(_with_agenda_headings(parsed, candidates), agenda)


def find_agenda_items(parsed: ParsedDocument) -> tuple[AgendaItem, ...]:
    """The agenda item headings of minutes in document order (what `apply_minutes_structure` cuts out)."""
    return structure_minutes(parsed).agenda


def apply_minutes_structure(parsed: ParsedDocument) -> ParsedDocument:
    """Every agenda item starts a heading block (level 1, or 2 under a document title)."""
    return structure_minutes(parsed).parsed


def _with_agenda_headings(parsed: ParsedDocument, candidates: Sequence[_AgendaCandidate]) -> ParsedDocument:
    if not candidates:
        return parsed
    by_start = {c.start: c for c in candidates}
    cuts: dict[int, list[tuple[int, int, _Heading]]] = {}
    for c in candidates:
        if not c.is_heading_block:
            cuts.setdefault(c.block, []).append((c.start, c.end, _Heading(c.label, None, agenda=c.number)))
    title = _title_index(parsed, lambda b: b.char_start in by_start)
    # The text parser takes "TOP 10.1: Einstimmige Zustimmung (45 Ja)" for a heading; it is a vote result.
    demoted = frozenset(
        i
        for i, b in enumerate(parsed.blocks)
        if b.kind is BlockKind.HEADING and _is_vote_result(clean_label(b.text))
    )
    pieces: list[_Piece] = []
    for piece in _pieces_of(parsed, cuts, demoted):
        heading = piece.heading
        if heading is not None and heading.orig_level is not None:
            agenda = by_start.get(piece.start)
            kind = "title" if title is not None and piece.start == parsed.blocks[title].char_start else ""
            heading = replace(heading, agenda=agenda.number if agenda else None, kind=kind)
            if agenda:
                heading = replace(heading, label=agenda.label)
        pieces.append(replace(piece, heading=heading))
    return _assemble(parsed, pieces, _place_minutes_heading)


def _place_minutes_heading(heading: _Heading, stack: list[_Heading]) -> None:
    if heading.kind == "title":
        stack.clear()
        return
    if heading.agenda is not None:
        depth = heading.agenda.count(".")
        while stack and stack[-1].kind != "title" and not _is_parent_item(stack[-1], depth):
            stack.pop()
        return
    item = next((h for h in reversed(stack) if h.agenda is not None), None)
    level = heading.orig_level or 0
    if item is not None and (item.orig_level is None or level > item.orig_level):
        # A sub-heading inside an agenda item ("Diskussion", "Beschluss") nests below it.
        while stack and stack[-1] is not item and (stack[-1].orig_level or 0) >= level:
            stack.pop()
        return
    # A heading outside the agenda items ("Anwesend", "Anlagen") closes the current item.
    while (
        stack
        and stack[-1].kind != "title"
        and not (stack[-1].agenda is None and (stack[-1].orig_level or 0) < level)
    ):
        stack.pop()


def _is_parent_item(entry: _Heading, depth: int) -> bool:
    return entry.agenda is not None and entry.agenda.count(".") < depth


# --- outline ------------------------------------------------------------------------------------------------

_ORDINALS = r"(?:erster|zweiter|dritter|vierter|fünfter|sechster|siebter|achter|neunter|zehnter|\d{1,2}\.)"
_DIVISION = re.compile(
    rf"(?P<name>buch|teil|kapitel|abschnitt|unterabschnitt)\s+(?:\d{{1,3}}[a-z]?|[IVXLC]+)\b(?P<rest>.*)"
    rf"|{_ORDINALS}\s+(?P<name2>buch|teil|kapitel|abschnitt|unterabschnitt)\b(?P<rest2>.*)",
    re.IGNORECASE,
)
_SECTION = re.compile(r"(?:§§?|Art\.?|Artikel)\s*\d{1,4}[a-z]?\b(?P<rest>.*)")
_BARE_SECTION = re.compile(r"(?:§§?|Art\.?|Artikel)\s*\d{1,4}[a-z]?")
_ENUMERATION: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("double_lower", re.compile(r"(?P<mark>([a-z])\2)\)(?P<rest>.*)")),
    ("lower", re.compile(r"(?P<mark>[a-z])\)(?P<rest>.*)")),
    ("roman", re.compile(r"(?P<mark>[IVXLC]+)\.(?P<rest>.*)")),
    ("letter", re.compile(r"(?P<mark>[A-Z])\.(?P<rest>.*)")),
    ("number", re.compile(r"(?P<mark>\d{1,2}(?:\.\d{1,2})*)\.?(?=\s)(?P<rest>.*)")),
)
_REFERENCE_WORDS = re.compile(
    r"(?:Abs\.?|Absatz|Absätze|S\.|Satz|Nr\.?|Nummer|lit\.|Buchst\.?|Buchstabe|UAbs\.?|Unterabsatz|i\.\s?V\.|"
    r"ff?\.|bis|und|oder|des|der)\b",
)
_KNOWN_LAW = re.compile(r"[A-ZÄÖÜ][A-Za-zÄÖÜäöü]*[A-Z][A-Za-zÄÖÜäöü]*\b(?:\s|$|[,.;)])")
# A heading never ends with a conjunction or preposition; a wrapped list item or sentence does.
_ENDS_LIKE_A_FRAGMENT = re.compile(
    r"\b(?:und|oder|sowie|bzw\.|bei|von|vom|für|der|die|das|des|den|dem|mit|zu|zur|zum|in|im|auf|an|über|nach|"
    r"aus|eines|einer|einem|eine|ein)$"
)
_MIN_LIST_ITEMS = 3
_PREVIOUS_LETTER = {"I": "H", "V": "U", "X": "W", "L": "K", "C": "B"}


@dataclass(frozen=True)
class _OutlineMatch:
    kind: str
    rank: float
    mark: str = ""


def _outline_match(label: str, previous_letter: str | None, *, strict: bool) -> _OutlineMatch | None:
    """Outline kind and rank of a label; `strict` for a paragraph's first line (it must look like a title)."""
    division = _DIVISION.match(label)
    if division:
        name = (division.group("name") or division.group("name2")).casefold()
        rest = division.group("rest") if division.group("name") else division.group("rest2")
        if not strict or _title_like(rest, allow_empty=True):
            return _OutlineMatch("division", DIVISION_RANKS[name])
    section = _SECTION.match(label)
    if section:
        rest = section.group("rest")
        if not strict or (_title_like(rest, allow_empty=True) and not _names_a_reference(rest)):
            return _OutlineMatch("section", OUTLINE_RANKS["section"])
        return None
    for kind, pattern in _ENUMERATION:
        match = pattern.match(label)
        if match is None:
            continue
        mark, rest = match.group("mark"), match.group("rest")
        if kind == "roman" and len(mark) == 1 and previous_letter == _PREVIOUS_LETTER.get(mark):
            kind = "letter"  # "I." after "H." is the ninth letter, not a Roman one
        if strict and (not _title_like(rest, allow_empty=False) or starts_with_date(label)):
            return None
        if not strict and rest[:1] not in ("", " ", "\t", "-", "–"):
            return None
        rank = OUTLINE_RANKS[kind] + (0.1 * mark.count(".") if kind == "number" else 0.0)
        return _OutlineMatch(kind, rank, mark)
    return None


def _title_like(rest: str, *, allow_empty: bool) -> bool:
    title = rest.strip(" \t-–—:")
    if not title:
        return allow_empty
    if not (title[0].isupper() or title[0] in "„\"'("):
        return False
    # A list item or a numbered sentence: "1. Die Stadt trägt die Kosten.", "3. Vereinigungen, soweit …, und".
    return not (title.endswith((",", ";", ":", ".")) or _ENDS_LIKE_A_FRAGMENT.search(title))


def _names_a_reference(rest: str) -> bool:
    """'§ 3 Abs. 2 OZG gilt …' or '§ 16 GemO …' quotes a norm; '§ 3 Ziel des Portalverbundes' titles one."""
    title = rest.strip()
    return bool(_REFERENCE_WORDS.match(title)) or bool(_KNOWN_LAW.match(title))


def apply_outline_structure(parsed: ParsedDocument) -> ParsedDocument:
    """Outline lines that start a block become headings ranked by numbering; see the module docstring."""
    matches: dict[int, _OutlineMatch] = {}
    cuts: dict[int, list[tuple[int, int, _Heading]]] = {}
    previous_letter: str | None = None
    list_kinds = [_list_kind(parsed.text, b) for b in parsed.blocks]
    for index, block in enumerate(parsed.blocks):
        found: _OutlineMatch | None
        if block.kind is BlockKind.HEADING:
            found = _outline_match(clean_label(block.text), previous_letter, strict=False)
            if found is not None:
                matches[index] = found
        elif _in_list(list_kinds, index):
            found = None
        else:
            cut = _first_line_heading(parsed.text, block, previous_letter)
            found = cut[2] if cut else None
            if cut is not None:
                start, end, match = cut
                label = clean_label(parsed.text[start:end])
                cuts[index] = [(start, end, _Heading(label, None, rank=match.rank, kind=match.kind))]
        if found is not None and found.kind == "letter":
            previous_letter = found.mark
    numbered_starts = {parsed.blocks[i].char_start for i in matches}
    title = _title_index(parsed, lambda b: b.char_start in numbered_starts)
    originals = [b for i, b in enumerate(parsed.blocks) if b.kind is BlockKind.HEADING and i != title]
    trust_levels = len({b.level for b in originals}) >= 2
    pattern_levels: dict[int, float] = {}
    for index, match in matches.items():
        level = parsed.blocks[index].level
        pattern_levels[level] = min(pattern_levels.get(level, match.rank), match.rank)
    by_start = {
        parsed.blocks[i].char_start: i for i, b in enumerate(parsed.blocks) if b.kind is BlockKind.HEADING
    }
    pieces: list[_Piece] = []
    for piece in _pieces_of(parsed, cuts):
        heading = piece.heading
        if heading is not None and heading.orig_level is not None:
            index = by_start[piece.start]
            if index == title:
                heading = replace(heading, kind="title", rank=0.0)
            else:
                rank = _parser_rank(heading, matches.get(index), trust_levels, pattern_levels)
                heading = replace(heading, kind="parser", rank=rank)
        pieces.append(replace(piece, heading=heading))
    return _assemble(parsed, pieces, _place_outline_heading(trust_levels))


def _parser_rank(
    heading: _Heading, match: _OutlineMatch | None, trust_levels: bool, pattern_levels: dict[int, float]
) -> float:
    level = heading.orig_level or 1
    if trust_levels:
        return float(level)
    if match is not None:
        return match.rank
    # A flat heading without numbering ("Eingangsformel") is a sibling of the numbered ones on its level.
    return pattern_levels.get(level, min(pattern_levels.values(), default=0.5))


def _place_outline_heading(trust_levels: bool) -> Callable[[_Heading, list[_Heading]], None]:
    # With trusted parser levels (1–6), headings found here rank below every parser heading.
    offset = 10.0 if trust_levels else 0.0

    def place(heading: _Heading, stack: list[_Heading]) -> None:
        if heading.kind == "title":
            stack.clear()
            return
        rank = _effective_rank(heading, offset)
        while stack and stack[-1].kind != "title" and _effective_rank(stack[-1], offset) >= rank:
            stack.pop()

    return place


def _effective_rank(heading: _Heading, offset: float) -> float:
    rank = heading.rank if heading.rank is not None else 0.5
    return rank + offset if heading.orig_level is None else rank


def _list_kind(text: str, block: Block) -> str | None:
    """The numbering a paragraph block starts with: "number.0" for "1. …", "number.1" for "1.1 …"."""
    if block.kind is BlockKind.HEADING:
        return None
    first = _DECORATION.sub("", text[block.char_start : block.char_end].split("\n", 1)[0])
    for kind, pattern in _ENUMERATION:
        match = pattern.match(first)
        if match is not None:
            return f"{kind}.{match.group('mark').count('.')}"
    return None


def _in_list(kinds: Sequence[str | None], index: int) -> bool:
    """Three or more adjacent blocks numbered the same way ("1. …", "2. …", "3. …") are a list."""
    kind = kinds[index]
    if kind is None:
        return False
    first = last = index
    while first > 0 and kinds[first - 1] == kind:
        first -= 1
    while last + 1 < len(kinds) and kinds[last + 1] == kind:
        last += 1
    return last - first + 1 >= _MIN_LIST_ITEMS


def _first_line_heading(
    text: str, block: Block, previous_letter: str | None
) -> tuple[int, int, _OutlineMatch] | None:
    lines = _lines(text, block.char_start, block.char_end)
    bare = lines[0].bare.strip()
    if not bare or len(bare) > MAX_OUTLINE_LINE_CHARS:
        return None
    found = _outline_match(bare, previous_letter, strict=True)
    if found is None:
        return None
    following = lines[1].bare.strip() if len(lines) > 1 else ""
    if following[:1].islower():
        return None  # a wrapped sentence, not a heading
    last = lines[0]
    # "§ 3" alone on its line with the title on the next one (PDF layout).
    bare_number = found.kind == "section" and _BARE_SECTION.fullmatch(bare) is not None
    if bare_number and _title_like(following, allow_empty=False) and len(following) <= MAX_OUTLINE_LINE_CHARS:
        last = lines[1]
    start, end = _trimmed(text, lines[0].start, last.end)
    return start, end, found
