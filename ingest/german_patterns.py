"""The German wording that structure detection relies on, in one place: list bullets, vote results, agenda
lines ("TOP 3"), dates in headings, and the rank order of a German outline (Teil / Abschnitt / § / A. / I. /
1. / a) / aa)).

The parser heuristic (`ingest.parsers.outline`), the structure stage (`ingest.structure`) and the minutes
records (`ingest.minutes`) import what they need from here, so a new vote word or bullet sign is added once.
"""

from __future__ import annotations

import re

# --- list bullets -----------------------------------------------------------------------------------------

# "- ", "* ", "• ", "+ ", an escaped Markdown star "\* ", "1. ", "2) " at the start of a text ...
_BULLET = r"^\s*(?:[-*•+]|\\\*|\d{1,2}[.)])\s+"
BULLET = re.compile(_BULLET)
# ... or at the start of any of its lines.
BULLET_ANY_LINE = re.compile(_BULLET, re.MULTILINE)

# --- votes --------------------------------------------------------------------------------------------------

# Words that state the result of a vote; shared by the agenda-line test and the minutes' vote lines.
_VOTE_RESULT_WORDS = r"einstimmig|mehrheitlich|zustimmung|ablehnung|angenommen|abgelehnt"
# A line that states a vote: a result word or a count of yes/no votes ("8 Ja", "3 dagegen").
VOTE_LINE = re.compile(_VOTE_RESULT_WORDS + r"|\d+\s*(?:Ja|JA|Nein|dafür|dagegen)", re.IGNORECASE)
# What follows "TOP 10.1:" when the line is the result of a vote, not an agenda item.
VOTE_RESULT = re.compile(
    r"(?:" + _VOTE_RESULT_WORDS + r"|kenntnisnahme|keine\s+abstimmung)",
    re.IGNORECASE,
)

# --- agenda items -------------------------------------------------------------------------------------------

# An agenda line of minutes: "TOP 3", "Zu TOP 3", "Tagesordnungspunkt 3", "Ö 3", "Punkt 3 der Tagesordnung".
AGENDA_LINE = re.compile(
    r"(?:zu\s+)?(?:TOP|Top|Tagesordnungspunkt|TO-Punkt|Ö)\s*(?P<number>\d{1,3}(?:\.\d{1,3})*)(?![\d])"
    r"|Punkt\s+(?P<punkt>\d{1,3}(?:\.\d{1,3})*)\s+der\s+Tagesordnung\b",
    re.IGNORECASE,
)
# "TOP 3 Haushalt" as a heading line of a PDF or text file (the parser's context-free heading test).
AGENDA_HEADING_START = r"TOP\s*\d+[a-z]?(?:\.\d+)*:?"
# The agenda number at the start of a heading label, to read the title behind it ("TOP 3: Aufgaben").
AGENDA_NUMBER_PREFIX = re.compile(r"^(?:TOP\s*\d+(?:\.\d+)*|\d+(?:\.\d+)*\.?)\s*[:.\-–]?\s*")
# "Tagesordnung:" / "Beschlossene Tagesordnung" before the numbered agenda list.
AGENDA_ANCHOR = re.compile(
    r"(?:beschlossene\s+|vorläufige\s+)?(?:tagesordnung|agenda)\b.{0,30}", re.IGNORECASE
)

# --- dates --------------------------------------------------------------------------------------------------

MONTHS = (
    "Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
    "|Jan|Feb|Mär|Mrz|Apr|Jun|Jul|Aug|Sept|Sep|Okt|Nov|Dez"
)
# "15. Mai 2026", "15 Mai 2026", "15. MAI 2026", "3. Okt. 2025"; "4. Dezernat" is no date.
DATE_START = re.compile(rf"\d{{1,2}}\.?\s*(?:{MONTHS})\b", re.IGNORECASE)


def starts_with_date(line: str) -> bool:
    """'15. Mai 2026', '15 Mai 2026', '3. Okt. 2025 Sitzung': a date, never a heading."""
    return DATE_START.match(line.strip()) is not None


# --- outline ranks ------------------------------------------------------------------------------------------

# The order of a German outline, top first. Both tables below follow it; a test checks that they agree.
OUTLINE_ORDER: tuple[str, ...] = (
    "buch", "teil", "kapitel", "abschnitt", "unterabschnitt",
    "section", "letter", "roman", "number", "lower", "double_lower",
)  # fmt: skip
# Ranks of the structure stage (smaller is higher); a dotted number "1.1" adds 0.1 per dot.
DIVISION_RANKS: dict[str, float] = {
    "buch": 1.0,
    "teil": 2.0,
    "kapitel": 3.0,
    "abschnitt": 4.0,
    "unterabschnitt": 5.0,
}
OUTLINE_RANKS: dict[str, float] = {
    "section": 6.0, "letter": 7.0, "roman": 8.0, "number": 9.0, "lower": 10.0, "double_lower": 11.0
}  # fmt: skip
# Heading levels (1–6) the parser heuristic gives a line on its own, without context: the same order squeezed
# into six levels (§/Art./TOP and "A." share level 1; numbers take 2 + their number of parts, at most 6).
PARSER_LEVELS: dict[str, int] = {
    "section": 1, "article": 1, "agenda": 1, "letter": 1, "roman": 2, "caps": 1, "lower": 5, "double_lower": 6
}  # fmt: skip
MAX_PARSER_LEVEL = 6


def parser_number_level(parts: int) -> int:
    """The parser level of a number with `parts` parts: "1." → 3, "1.1" → 4, "2.3.1" → 5."""
    return min(2 + parts, MAX_PARSER_LEVEL)
