"""Citation parsing and verification: pure functions.

The model cites sources by number. After generation every citation is checked against the passage it names:
a cited passage must contain a large enough share of the content words of the statement it is meant to support.
Numbers that point at no source are reported, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[A-Za-zÄÖÜäöüß]+(?:-[A-Za-zÄÖÜäöüß]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ0-9„\"(])")

# Function words that carry no content; statements are compared on the rest.
STOPWORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderen auch auf aus bei beim bin bis
    bist da damit dann das dass dem den denn der des dessen die dies diese diesem diesen dieser dieses
    doch dort du durch ein eine einem einen einer eines er es etwa euch für gegen hat hatte hätte haben
    hier hin hinter ich ihm ihn ihr ihre im in ist ja jede jedem jeden jeder jedes jetzt kann kein keine
    können könnte man mehr mein mit muss müssen nach nicht noch nun nur ob oder ohne schon sehr sein
    seine sich sie sind so soll sollen sollte sowie über um und uns unter vom von vor war waren was weil
    welche welcher welches wenn wer werden wie wieder will wir wird wo wurde wurden zu zum zur zwar
    zwischen the of and laut gemäß bzw sowie werden worden sei seien wäre
    """.split()  # noqa: SIM905
)


def parse_markers(text: str) -> list[int]:
    """All citation numbers in `text`, in order of appearance, de-duplicated: "[1] … [2, 3]" → [1, 2, 3]."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            n = int(number)
            if n not in seen:
                seen.append(n)
    return seen


def strip_markers(text: str) -> str:
    return re.sub(r"\s*" + _MARKER.pattern, "", text).strip()


def content_terms(text: str) -> set[str]:
    """Lower-cased content words, crudely stemmed to their first 6 letters; numbers kept whole."""
    terms: set[str] = set()
    for token in _WORD.findall(text.lower()):
        if token[0].isdigit():
            terms.add(token.replace(",", ".").rstrip("."))
        elif len(token) >= 3 and token not in STOPWORDS:
            terms.add(token[:6])
    return terms


def support(statement: str, passage: str) -> float:
    """Share of the statement's content terms found in the passage (1.0 for a statement with none)."""
    terms = content_terms(strip_markers(statement))
    if not terms:
        return 1.0
    return len(terms & content_terms(passage)) / len(terms)


def split_statements(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


@dataclass(frozen=True)
class StatementCheck:
    text: str
    sources: tuple[int, ...]
    supported: bool
    best_support: float


@dataclass(frozen=True)
class CitationCheck:
    """Outcome of verifying one answer. `valid` citations point at a source that supports a statement.

    `reattributed` lists sources that the model did not cite but that support a statement none of its own
    citations supported (the small model often cites the wrong one of several numbered passages).
    """

    cited: tuple[int, ...]
    valid: tuple[int, ...]
    invalid_markers: tuple[int, ...]
    unsupported: tuple[int, ...]
    statements: tuple[StatementCheck, ...] = field(default_factory=tuple)
    support_by_source: dict[int, float] = field(default_factory=dict)
    reattributed: tuple[int, ...] = ()

    @property
    def any_valid(self) -> bool:
        return bool(self.valid)


def verify(
    answer: str,
    cited: Sequence[int],
    passages: Sequence[str],
    min_support: float,
    *,
    reattribute: bool = True,
) -> CitationCheck:
    """Check every cited number against the passages (numbered from 1).

    A number outside 1..len(passages) is an invalid marker. A cited passage that supports none of the answer's
    statements (share of content words < `min_support`) is unsupported. Each statement is attributed to the
    valid cited passages that support it; with `reattribute`, a statement no cited passage supports is
    attributed to the offered passage that supports it best, if any does.
    """
    numbers = list(dict.fromkeys([*cited, *parse_markers(answer)]))
    invalid = tuple(n for n in numbers if not 1 <= n <= len(passages))
    in_range = [n for n in numbers if 1 <= n <= len(passages)]
    statements = split_statements(strip_markers(answer)) or [strip_markers(answer)]
    every = range(1, len(passages) + 1)
    scores = {n: [support(s, passages[n - 1]) for s in statements] for n in every}
    supported_cited = {n for n in in_range if max(scores[n], default=0.0) >= min_support}
    checks: list[StatementCheck] = []
    extra: list[int] = []
    for i, statement in enumerate(statements):
        backing = tuple(n for n in in_range if n in supported_cited and scores[n][i] >= min_support)
        if not backing and reattribute and in_range:
            best = max(every, key=lambda n: (scores[n][i], -n), default=None)
            if best is not None and scores[best][i] >= min_support:
                backing = (best,)
                extra.append(best)
        best_support = max((scores[n][i] for n in every), default=0.0)
        checks.append(StatementCheck(statement, backing, bool(backing), best_support))
    valid = tuple(dict.fromkeys([n for n in in_range if n in supported_cited] + extra))
    return CitationCheck(
        cited=tuple(numbers),
        valid=valid,
        invalid_markers=invalid,
        unsupported=tuple(n for n in in_range if n not in supported_cited),
        statements=tuple(checks),
        support_by_source={n: max(scores[n], default=0.0) for n in in_range},
        reattributed=tuple(dict.fromkeys(n for n in extra if n not in in_range)),
    )


def render_with_markers(check: CitationCheck) -> str:
    """The answer as shown: each statement followed by the markers of the passages that support it."""
    parts = []
    for statement in check.statements:
        markers = "".join(f"[{n}]" for n in statement.sources)
        parts.append(f"{statement.text} {markers}".strip() if markers else statement.text)
    return " ".join(parts)
