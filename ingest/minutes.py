"""Structured records from German minutes: attendees, decisions with their vote, action items.

Recognised (case-insensitive, with or without Markdown bold and list bullets):
- attendees: "Anwesend:", "Anwesende:", "Teilnehmende:", "Teilnehmer:", "Teilnehmer*innen:" followed by names
  on the same line (comma-separated; wrapped lines after a trailing comma), by the lines or list below, or the
  list under such a heading. "Entschuldigt:" and "Gast:" are not attendees.
- decisions: "Beschluss:", "Beschlossen:", "Beschluss des Plenums:", "Zwischenbeschluss:", "Ergebnis:",
  "Entscheidung:" with the text on the line and the lines below (up to the next label line); a decision that
  is only a vote ("Beschluss: ohne Gegenrede angenommen") takes its text from the motion ("Antrag: …") before
  it.
  A paragraph or list item that starts with "Der Arbeitskreis beschließt …", "Der AK billigt …", "Es wird
  beschlossen …" or "… wird einstimmig angenommen" is a decision too. A vote ("Abstimmungsergebnis:",
  "Abstimmung:", inline or on the next line) belongs to the decision before it; a vote with no decision before
  it in the same agenda item is recorded as a decision of its own.
- votes, normalised: "einstimmig", "mehrheitlich", "abgelehnt", "ohne Gegenrede", and counts as yes:no:abstain
  ("8 Ja, 1 Nein, 2 Enthaltungen" → "8:1:2", "4/3/2" → "4:3:2"), e.g. "einstimmig 44:0:0".
- action items: "Aufgabe:", "To-do:", "ToDo", "TODO:", "Maßnahme:", "Hausaufgabe für X:", "Arbeitsauftrag:",
  a list under "Aufgaben:"/"ToDo:" or under a heading "Aufgaben"/"To-dos"/"Maßnahmen", any line with
  "verantwortlich: X", and tables with a "Wer | Was | Bis wann" header (Markdown or DOCX "a | b | c" rows).
  `who` from "verantwortlich:"/"zuständig:"/"für X"/"X: …" in a list, `due` from "bis (zum) 31.03.2025" as
  ISO date when it is a date, else as written ("nächste Sitzung").

Each record's agenda item is the agenda item heading it sits under (`ingest.structure.structure_minutes`); in minutes
without numbered agenda items it is the topic heading below the document title. `char_start`/`char_end` index
`parsed.text` and cover the whole record (label, text and vote); `text` is the wording, whitespace-collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ingest.domain import BlockKind, ParsedDocument
from ingest.german_patterns import AGENDA_NUMBER_PREFIX, VOTE_LINE
from ingest.german_patterns import BULLET as _BULLET
from ingest.metadata import parse_date
from ingest.structure import MinutesStructure, structure_minutes

MAX_DECISION_CHARS = 2000
MAX_SENTENCE_CHARS = 600
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Decision:
    agenda_item: str | None
    text: str
    vote: str | None
    char_start: int
    char_end: int


@dataclass(frozen=True)
class ActionItem:
    agenda_item: str | None
    who: str | None
    what: str
    due: str | None
    char_start: int
    char_end: int


@dataclass(frozen=True)
class MinutesRecords:
    attendees: tuple[str, ...]
    decisions: tuple[Decision, ...]
    action_items: tuple[ActionItem, ...]


_LEAD = r"^\s*(?:[-*•+]\s+|\\\*\s+)?[*_]*\s*"
_COLON = r"\s*[*_]*\s*:\s*[*_]*\s*"
_DECISION_LABEL = re.compile(
    _LEAD + r"(?P<label>Beschluss|Beschlossen|Zwischenbeschluss|Plenumsbeschluss|Ergebnis|Entscheidung)"
    r"(?P<qualifier>\s+(?:des|der|vom|zu)\s[^:\n]{1,40}?)?" + _COLON + r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_VOTE_LABEL = re.compile(
    _LEAD
    + r"(?:Abstimmungsergebnis|Abstimmung|Ergebnis\s+der\s+Abstimmung|Stimmergebnis|Votum)"
    + _COLON
    + r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_INLINE_VOTE = re.compile(r"[*_]*(?:Abstimmungsergebnis|Abstimmung)[*_]*\s*:\s*[*_]*", re.IGNORECASE)
_MOTION_LABEL = re.compile(
    _LEAD
    + r"(?:Antrag|Beschlussvorschlag|Vorschlag|Kompromissvorschlag)(?:\s+an\s[^:\n]{1,40}?)?"
    + _COLON
    + r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_DECISION_SENTENCE = re.compile(
    r"(?:(?:Der|Die|Das)\s+(?:[\w-]+\s+){1,3}?(?:beschließt|beschliesst|beschließen|billigt|genehmigt|"
    r"verabschiedet)\b"
    r"|(?:Es\s+)?(?:wird|wurde|werden|wurden)\s[^.!?\n]{0,80}?\bbeschlossen\b"
    r"|[^.!?\n]{0,120}?\b(?:einstimmig|mehrheitlich|ohne\s+Gegenrede|ohne\s+Gegenstimmen?)\s+"
    r"(?:angenommen|beschlossen|abgelehnt|genehmigt|gebilligt)\b)",
)
_NEGATION = re.compile(r"\b(?:nicht|kein|keine|keinen)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-ZÄÖÜ„\"]|\s*$)")
_ACTION_LABEL = re.compile(
    _LEAD
    + r"(?:(?:Aufgaben?|To-?dos?|Maßnahmen?|Massnahmen?|Hausaufgaben?|Arbeitsauftr[aä]ge?|Action\s+Items?|"
    r"Wiedervorlage)(?:\s+(?:für|an)\s+(?P<for>[^:\n]{1,40}?))?" + _COLON + r"|(?-i:ToDo|TODO)\s+(?=\S))"
    r"(?P<rest>.*)$",
    re.IGNORECASE,
)
_ACTION_HEADING = re.compile(
    r"^(?:offene\s+)?(?:Aufgaben|To-?dos?|Maßnahmen|Massnahmen|Arbeitsaufträge|Action\s+Items)\b",
    re.IGNORECASE,
)
_ATTENDEE_LABEL = re.compile(
    _LEAD + r"(?:Anwesend|Anwesende|Teilnehmende|Teilnehmer(?:innen)?|Teilnehmer\*innen|Teilnehmer/innen|"
    r"TeilnehmerInnen|Sitzungsteilnehmer(?:innen)?)" + _COLON + r"(?P<rest>.*)$",
)
_ATTENDEE_HEADING = re.compile(
    r"^(?:Anwesend|Anwesende|Teilnehmende|Teilnehmer(?:innen)?|Teilnehmer\*innen|TeilnehmerInnen|"
    r"Anwesenheit(?:sliste)?)\b",
    re.IGNORECASE,
)
_ANY_LABEL = re.compile(_LEAD + r"[A-ZÄÖÜ][\wäöüß\-]*(?:\s+[\wäöüß\-]+)?" + _COLON + r"(?:.*)$")
_RESPONSIBLE = re.compile(
    r"(?<![\w-])(?:verantwortlich|zuständig|Verantwortung)(?![\w-])\s*:?\s*(?P<who>.+?)"
    r"(?=\s+[–—-]\s+|\s*;\s*|,\s*(?:bis|Frist|Termin)\b|\s+bis\s*:|\s*$)",
    re.IGNORECASE,
)
_DUE = re.compile(
    r"(?:^|[–—;,(]|\s-)\s*(?:bis|Frist|Termin|fällig)\s*(?:zum|zur|spätestens)?\s*:?\s*"
    r"(?P<due>[^–—;,()]+?)(?=\s+[–—-]\s+|\s*[;,)]|\s*$)",
    re.IGNORECASE,
)
_ANNOTATION_START = re.compile(
    r"\s*(?:[–—;,(]|\s-)\s*(?:verantwortlich|zuständig|bis|Frist|Termin|fällig)\b"
    r"|\s*(?:verantwortlich|zuständig)\s*:",
    re.IGNORECASE,
)
_NAMED_ENTRY = re.compile(r"(?P<who>[A-ZÄÖÜ][\w.\-]*(?:\s+[A-ZÄÖÜ][\w.\-]*){0,2})\s*:\s+(?P<what>\S.*)")
_TABLE_SEPARATOR = re.compile(r"^[\s|:\-–+]+$")
_WHO_HEADERS = frozenset({"wer", "verantwortlich", "zuständig", "verantwortliche", "verantwortlich/in"})
_WHAT_HEADERS = frozenset(
    {"was", "aufgabe", "maßnahme", "massnahme", "beschreibung", "to-do", "todo", "thema"}
)
_DUE_HEADERS = frozenset(
    {"bis", "bis wann", "termin", "frist", "fällig", "deadline", "erledigen bis", "wann"}
)

_YES = re.compile(r"(\d+)\s*(?:Ja(?:-Stimmen)?|JA(?:-Stimmen)?|ja|Stimmen\s+dafür|dafür|Zustimmungen|pro)\b")
_NO = re.compile(r"(\d+)\s*(?:Nein(?:-Stimmen)?|NEIN|nein|dagegen|Gegenstimmen?)\b")
_ABSTAIN = re.compile(r"(\d+)\s*(?:Enthaltung(?:en)?|Stimmenthaltung(?:en)?|enthalten|Enth\.)", re.IGNORECASE)
_TRIPLE = re.compile(r"(?<![\d.:/-])(\d{1,3})\s*([:/-])\s*(\d{1,3})\s*\2\s*(\d{1,3})(?![\d.:/-])")
_VOTE_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("einstimmig", re.compile(r"einstimmig", re.IGNORECASE)),
    ("mehrheitlich", re.compile(r"mehrheitlich|mit\s+(?:großer\s+)?Mehrheit|Stimmenmehrheit", re.IGNORECASE)),
    (
        "ohne Gegenrede",
        re.compile(r"(?:ohne|keine)\s+(?:Gegenrede|Gegenstimmen?|Widerspruch)", re.IGNORECASE),
    ),
    ("abgelehnt", re.compile(r"abgelehnt|Ablehnung", re.IGNORECASE)),
    ("angenommen", re.compile(r"\bangenommen\b", re.IGNORECASE)),
)
_MAIN_MOTION = re.compile(r"^(?:unveränderte\s+)?(?:Beschlussvorlage|Vorlage|Hauptantrag)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Line:
    block: int
    start: int
    end: int
    text: str
    first_in_block: bool

    @property
    def bare(self) -> str:
        return _BULLET.sub("", self.text).strip()

    @property
    def is_bullet(self) -> bool:
        return _BULLET.match(self.text) is not None


def parse_vote(text: str) -> str | None:
    """A vote result in canonical form ("einstimmig 44:0:0", "8:1:2", "mehrheitlich abgelehnt"), else None."""
    flat = _flatten(text)
    words = [name for name, pattern in _VOTE_WORDS if pattern.search(flat)]
    if "einstimmig" in words and "ohne Gegenrede" in words:
        words.remove("ohne Gegenrede")
    yes, no, abstain = (_count(pattern, flat) for pattern in (_YES, _NO, _ABSTAIN))
    counts = None
    if yes is not None or no is not None or abstain is not None:
        counts = f"{yes or 0}:{no or 0}:{abstain or 0}"
    elif triple := _TRIPLE.search(flat):
        counts = ":".join(triple.group(1, 3, 4))
    parts = [*words, counts] if counts else words
    return " ".join(parts) or None


def _count(pattern: re.Pattern[str], text: str) -> int | None:
    found = pattern.findall(text)
    return sum(int(n) for n in found) if found else None


def _flatten(text: str) -> str:
    """Whitespace collapsed, line-break hyphenation joined, Markdown emphasis removed."""
    joined = re.sub(r"(?<=\w)-\n\s*(?=[a-zäöüß])", "", text)
    return " ".join(re.sub(r"(?<!\w)[*_]{1,2}|[*_]{1,2}(?!\w)|\\(?=[*<>])", "", joined).split())


def extract_minutes_records(parsed: ParsedDocument) -> MinutesRecords:
    """Attendees, decisions and action items of minutes (see the module docstring for what is recognised)."""
    return records_of(structure_minutes(parsed))


def records_of(minutes: MinutesStructure) -> MinutesRecords:
    """The records of minutes whose agenda items were found once (`structure_minutes`)."""
    context = _Context(minutes)
    return MinutesRecords(
        attendees=tuple(dict.fromkeys(_attendees(context))),
        decisions=tuple(_decisions(context)),
        action_items=tuple(_action_items(context)),
    )


class _Context:
    """The lines of the paragraph blocks with their block's section path, and the agenda item lookup."""

    def __init__(self, minutes: MinutesStructure) -> None:
        parsed = minutes.parsed
        self.text = parsed.text
        self.lines: list[_Line] = []
        self.paths: dict[int, tuple[str, ...]] = {}
        for index, block in enumerate(parsed.blocks):
            self.paths[index] = block.section_path
            if block.kind is BlockKind.PARAGRAPH:
                self.lines.extend(_block_lines(parsed.text, index, block.char_start, block.char_end))
        self.agenda_labels = {item.label for item in minutes.agenda}
        first = parsed.blocks[0] if parsed.blocks else None
        self.title = (
            first.section_path[0] if first and first.kind is BlockKind.HEADING and first.level == 1 else None
        )

    def agenda_item(self, block: int) -> str | None:
        path = self.paths.get(block, ())
        items = [label for label in path if label in self.agenda_labels]
        if items:
            return items[-1]
        if self.agenda_labels:
            return None
        topics = [label for label in path if label != self.title]
        return topics[0] if topics else None

    def block_heading(self, block: int) -> str | None:
        headings = self.paths.get(block, ())
        return headings[-1] if headings else None

    def following_block_lines(self, line_index: int) -> list[int]:
        """Indexes of the lines of the paragraph block right after the block of line `line_index`."""
        block = self.lines[line_index].block
        following = [i for i in range(line_index + 1, len(self.lines)) if self.lines[i].block != block]
        if not following:
            return []
        next_block = self.lines[following[0]].block
        if next_block != block + 1:
            return []  # a heading lies between: another section
        return [i for i in following if self.lines[i].block == next_block]


def _block_lines(text: str, block: int, start: int, end: int) -> Iterator[_Line]:
    position = start
    first = True
    for raw in text[start:end].split("\n"):
        if raw.strip():
            yield _Line(block, position, position + len(raw), raw, first)
            first = False
        position += len(raw) + 1


def _span(lines: Sequence[_Line]) -> tuple[int, int]:
    start = lines[0].start + len(lines[0].text) - len(lines[0].text.lstrip())
    return start, lines[-1].end


# --- attendees ----------------------------------------------------------------------------------------------


def _attendees(context: _Context) -> Iterator[str]:
    lines = context.lines
    for index, line in enumerate(lines):
        match = _ATTENDEE_LABEL.match(line.text)
        if match is not None:
            rest = match.group("rest").strip()
            if rest:
                yield from _names(rest)
                following = index + 1
                while (
                    _clean(rest).endswith(",")
                    and following < len(lines)
                    and lines[following].block == line.block
                    and not _ANY_LABEL.match(lines[following].text)
                ):
                    rest = lines[following].text
                    yield from _names(rest)
                    following += 1
            else:
                for group in _listed_after(context, index):
                    yield from _names(_joined(context, group))
        elif line.first_in_block and _is_attendee_section(context, line.block):
            for entry in (other for other in lines if other.block == line.block):
                if entry.is_bullet or "," in entry.text:
                    yield from _names(entry.text)


def _is_attendee_section(context: _Context, block: int) -> bool:
    heading = context.block_heading(block)
    return heading is not None and _ATTENDEE_HEADING.match(heading) is not None


def _listed_after(context: _Context, index: int) -> list[list[int]]:
    """Line groups below a label line, one per entry: the rest of its block, else the next block's list."""
    lines = context.lines
    same = [i for i in range(index + 1, len(lines)) if lines[i].block == lines[index].block]
    chosen = same or context.following_block_lines(index)
    if not same and chosen and not all(lines[i].is_bullet or lines[i].text.startswith(" ") for i in chosen):
        return []
    groups: list[list[int]] = []
    for i in chosen:
        if _ANY_LABEL.match(lines[i].text) and not lines[i].is_bullet:
            break
        if lines[i].is_bullet or not groups or not lines[i].text.startswith(" "):
            groups.append([i])
        else:
            groups[-1].append(i)  # a wrapped list item
    return groups


def _joined(context: _Context, group: Sequence[int]) -> str:
    return " ".join(context.lines[i].text.strip() for i in group)


def _names(text: str) -> Iterator[str]:
    for part in _split_outside_parentheses(_clean(text)):
        name = part.strip(" .;:")
        if name and len(name) <= MAX_NAME_CHARS and any(c.isalpha() for c in name):
            yield name


def _split_outside_parentheses(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    index = 0
    while index < len(text):
        char = text[index]
        depth += (char in "([") - (char in ")]")
        if depth <= 0 and (char in ",;" or text.startswith(" und ", index)):
            parts.append(current)
            current = ""
            index += 5 if char == " " else 1
            continue
        current += char
        index += 1
    parts.append(current)
    return parts


def _clean(text: str) -> str:
    return _flatten(_BULLET.sub("", text.strip()))


# --- decisions ----------------------------------------------------------------------------------------------


def _decisions(context: _Context) -> Iterator[Decision]:
    lines = context.lines
    decisions: list[Decision] = []
    consumed_until = -1
    for index, line in enumerate(lines):
        if line.start < consumed_until:
            continue
        label = _DECISION_LABEL.match(line.text)
        if label is not None:
            decision = _labelled_decision(context, index, label)
            decisions.append(decision)
            consumed_until = decision.char_end
            continue
        vote = _VOTE_LABEL.match(line.text)
        if vote is not None:
            vote_text, last = _vote_text(context, index, vote.group("rest"))
            end = lines[last].end
            agenda = context.agenda_item(line.block)
            previous = decisions[-1] if decisions else None
            if previous is not None and previous.vote is None and previous.agenda_item == agenda:
                decisions[-1] = Decision(
                    agenda, previous.text, parse_vote(vote_text), previous.char_start, end
                )
            else:
                start, _ = _span([line])
                decisions.append(Decision(agenda, _clean(line.text), parse_vote(vote_text), start, end))
            consumed_until = end
            continue
        if line.first_in_block or line.is_bullet:
            sentence = _decision_sentence(context, index)
            if sentence is not None:
                decisions.append(sentence)
                consumed_until = sentence.char_end
    yield from decisions


def _labelled_decision(context: _Context, index: int, label: re.Match[str]) -> Decision:
    lines = context.lines
    line = lines[index]
    body = [line]
    following = index + 1
    while following < len(lines) and lines[following].block == line.block:
        if _is_record_label(lines[following].text):
            break
        body.append(lines[following])
        following += 1
    if not label.group("rest").strip() and len(body) == 1:
        body += [lines[i] for i in context.following_block_lines(index)]
    body = _within(body, MAX_DECISION_CHARS)
    start, end = _span(body)
    wording = _strip_label(context.text[line.start + label.start("rest") : end])
    vote_text = ""
    inline = _INLINE_VOTE.search(wording)
    if inline:
        wording, vote_text = wording[: inline.start()], wording[inline.end() :]
    last = body[-1]
    last_index = index + len(body) - 1  # the body is a run of consecutive lines
    if not inline and last_index + 1 < len(lines) and lines[last_index + 1].block == last.block:
        label_below = _VOTE_LABEL.match(lines[last_index + 1].text)
        if label_below is not None:
            vote_text, vote_last = _vote_text(context, last_index + 1, label_below.group("rest"))
            end = lines[vote_last].end
    text = _flatten(wording.strip())  # numbering ("1. Der Gemeinderat …") is part of the wording
    vote = parse_vote(vote_text) if vote_text else parse_vote(text)
    if len(text.split()) <= 6 and vote is not None:
        motion = _motion_before(context, index)
        if motion is not None:
            text, start = motion
    return Decision(context.agenda_item(line.block), text, vote, start, end)


def _strip_label(wording: str) -> str:
    return re.sub(r"^\s*[*_]*\s*:?\s*[*_]*\s*", "", wording)


def _is_record_label(text: str) -> bool:
    return any(
        pattern.match(text) for pattern in (_DECISION_LABEL, _VOTE_LABEL, _ACTION_LABEL, _ATTENDEE_LABEL)
    ) or bool(_ANY_LABEL.match(text) and not _BULLET.match(text))


def _within(lines: list[_Line], limit: int) -> list[_Line]:
    kept = [lines[0]]
    for line in lines[1:]:
        if line.end - kept[0].start > limit:
            break
        kept.append(line)
    return kept


def _vote_text(context: _Context, index: int, rest: str) -> tuple[str, int]:
    """The vote after a vote label: its rest, else the vote lines below; the main motion's result wins."""
    lines = context.lines
    statements: list[str] = [rest.strip()] if rest.strip() else []
    last = index
    following = index + 1
    while following < len(lines) and lines[following].block == lines[index].block:
        text = lines[following].text.strip()
        continues = bool(statements) and (
            statements[-1].endswith("-") or statements[-1].count("(") > statements[-1].count(")")
        )
        if continues:
            statements[-1] = statements[-1] + "\n" + text
        elif VOTE_LINE.search(text) and (not statements or not rest.strip()) and len(text) < 200:
            statements.append(text)
        else:
            break
        last = following
        following += 1
    if not statements:
        # The text parser may have cut the result line into a block of its own.
        below = context.following_block_lines(index)
        if below and VOTE_LINE.search(lines[below[0]].text) and lines[index].block == lines[last].block:
            statements, last = [lines[below[0]].text.strip()], below[0]
    main = next((s for s in statements if _MAIN_MOTION.match(s)), statements[0] if statements else "")
    return main, last


def _motion_before(context: _Context, index: int) -> tuple[str, int] | None:
    """A motion ("Antrag an das Plenum: …") in the paragraph before a decision that is only a vote."""
    lines = context.lines
    block = lines[index].block
    previous = [line for line in lines[:index] if line.block == block - 1]
    if not previous:
        return None
    start, end = _span(previous)
    match = _MOTION_LABEL.match(context.text[start:end])
    if match is None or not match.group("rest").strip():
        return None
    return _clean(match.group("rest")), start


def _decision_sentence(context: _Context, index: int) -> Decision | None:
    lines = context.lines
    line = lines[index]
    offset = line.start + (len(line.text) - len(_BULLET.sub("", line.text).lstrip()))
    block_end = max(other.end for other in lines if other.block == line.block)
    window = context.text[offset : min(block_end, offset + MAX_SENTENCE_CHARS)]
    match = _DECISION_SENTENCE.match(_unemphasised_start(window))
    if match is None or _NEGATION.search(match.group(0)):
        return None
    sentence_end = _SENTENCE_END.search(window)
    end = offset + (sentence_end.end() if sentence_end else len(window.rstrip()))
    raw = context.text[offset:end]
    text = _clean(raw)
    return Decision(context.agenda_item(line.block), text, parse_vote(text), offset, end)


def _unemphasised_start(text: str) -> str:
    # Keep offsets: replace emphasis markers by spaces instead of removing them.
    return re.sub(r"^[*_]+", lambda m: " " * len(m.group(0)), text).lstrip() if text[:1] in "*_" else text


# --- action items -------------------------------------------------------------------------------------------


def _action_items(context: _Context) -> Iterator[ActionItem]:
    lines = context.lines
    consumed_until = -1
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.start < consumed_until:
            index += 1
            continue
        items, last = _actions_at(context, index)
        yield from items
        if items or last > index:
            consumed_until = lines[last].end
            index = last + 1
        else:
            index += 1


def _actions_at(context: _Context, index: int) -> tuple[list[ActionItem], int]:
    lines = context.lines
    line = lines[index]
    agenda = context.agenda_item(line.block)
    label = _ACTION_LABEL.match(line.text)
    if label is not None:
        owner = label.group("for")
        rest = label.group("rest").strip()
        if rest:
            group = [line]
            following = index + 1
            while following < len(lines) and lines[following].block == line.block:
                if lines[following].is_bullet or _is_record_label(lines[following].text):
                    break
                group.append(lines[following])
                following += 1
            start, end = _span(group)
            raw = _clean(" ".join([rest, *(g.text.strip() for g in group[1:])]))
            return [_action(agenda, raw, owner, start, end)], following - 1
        items = []
        listed = _listed_after(context, index)
        for entry in listed:
            start, end = _span([lines[i] for i in entry])
            items.append(_listed_action(agenda, _clean(_joined(context, entry)), owner, start, end))
        return items, (listed[-1][-1] if listed else index)
    table = _table_header(line.text)
    if table is not None:
        return _table_rows(context, index, table, agenda)
    if line.is_bullet and _is_action_section(context, line.block):
        start, end = _span([line])
        return [_listed_action(agenda, _clean(line.text), None, start, end)], index
    if _RESPONSIBLE.search(line.text) and re.search(r"(?:verantwortlich|zuständig)\s*:", line.text, re.I):
        group = [line]
        if _ANNOTATION_START.match(" " + line.bare) and index > 0 and lines[index - 1].block == line.block:
            group.insert(0, lines[index - 1])
        start, end = _span(group)
        return [_action(agenda, _clean(" ".join(g.text for g in group)), None, start, end)], index
    return [], index


def _is_action_section(context: _Context, block: int) -> bool:
    heading = context.block_heading(block)
    return heading is not None and _ACTION_HEADING.match(_strip_agenda_number(heading)) is not None


def _strip_agenda_number(heading: str) -> str:
    return AGENDA_NUMBER_PREFIX.sub("", heading)


def _listed_action(agenda: str | None, text: str, owner: str | None, start: int, end: int) -> ActionItem:
    """An entry of an action list; "Daniel: Protokolle" names who does what."""
    named = _NAMED_ENTRY.match(text)
    if owner is None and named and not _RESPONSIBLE.search(text):
        item = _action(agenda, named.group("what"), named.group("who"), start, end)
        return item
    return _action(agenda, text, owner, start, end)


def _action(agenda: str | None, text: str, owner: str | None, start: int, end: int) -> ActionItem:
    annotation = _ANNOTATION_START.search(text)
    what = text[: annotation.start()] if annotation else text
    who_match = _RESPONSIBLE.search(text)
    who = who_match.group("who").strip(" .") if who_match else owner
    if who is not None and who.count(")") > who.count("("):
        who = who.rstrip(")").strip()
    due_match = _DUE.search(text[annotation.start() :] if annotation else "")
    due = None
    if due_match:
        raw_due = due_match.group("due").strip(" .:")
        due = parse_date(raw_due) or raw_due or None
    return ActionItem(agenda, who or None, what.strip(" –—-:;,"), due, start, end)


def _table_header(text: str) -> dict[str, int] | None:
    cells = _cells(text)
    if len(cells) < 2:
        return None
    columns: dict[str, int] = {}
    for position, cell in enumerate(cells):
        name = cell.casefold().strip(" *_:?")
        for role, headers in (("who", _WHO_HEADERS), ("what", _WHAT_HEADERS), ("due", _DUE_HEADERS)):
            if name in headers and role not in columns:
                columns[role] = position
    return columns if "what" in columns and ("who" in columns or "due" in columns) else None


def _cells(text: str) -> list[str]:
    stripped = text.strip()
    if "|" in stripped:
        return [cell.strip() for cell in stripped.strip("|").split("|")]
    if "\t" in stripped:
        return [cell.strip() for cell in stripped.split("\t")]
    return []


def _table_rows(
    context: _Context, index: int, columns: dict[str, int], agenda: str | None
) -> tuple[list[ActionItem], int]:
    lines = context.lines
    items: list[ActionItem] = []
    last = index
    following = index + 1
    while following < len(lines) and lines[following].block == lines[index].block:
        row = lines[following]
        cells = _cells(row.text)
        if not cells:
            break
        last = following
        following += 1
        if _TABLE_SEPARATOR.match(row.text):
            continue

        def cell(role: str, cells: list[str] = cells) -> str | None:
            position = columns.get(role)
            value = _clean(cells[position]) if position is not None and position < len(cells) else ""
            return value or None

        what = cell("what")
        if what is None:
            continue
        due = cell("due")
        start, end = _span([row])
        items.append(
            ActionItem(agenda, cell("who"), what, (parse_date(due) or due) if due else None, start, end)
        )
    return items, last
