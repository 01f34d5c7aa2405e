"""Passage focusing: the model sees only the sentences of a passage that matter for the question.

The prefill of the prompt is what a chat user waits for before the first word (2 cores: ~55-75 prompt tokens/s),
and most of the prompt is passage text the question does not touch. So each passage is cut into units —
sentences, and numbered or bulleted list items kept whole (an item's sentences belong together: "Zu 2. …",
"(3) …") — each unit is scored by how many of the question's content terms it contains (the same German
tokenisation as the citation checker, `citations.content_terms`), and the passage is reduced to

- the best-scoring unit (the earliest on a tie) and its neighbours for context (both if the limit allows,
  otherwise the better-scoring one, the previous on a tie: it usually names the subject a pronoun refers to),
- then other units that share terms with the question, best first,
- or, when no unit shares a term with the question, the leading units (a passage's opening usually says what
  it is about),

at most `max_sentences` units and `max_tokens` tokens, in their original order. Pieces of adjacent kept units are
joined by the text between them; where units were left out the pieces are joined with " … ".

Every piece keeps its exact (start, end) character span inside the chunk text, so whatever the model cites is a
real part of the passage (and of its page); callers show the user the whole passage and verify citations against
the focused text — the text the model actually saw and could cite.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.citations import content_terms, sentence_spans

GAP = " … "

# A list item starts a line ("1. ", "2) ", "(3) ", "a) ", "- ", "• ") or follows a sentence end inline
# ("… an Dritte. (2) Einsatz …", the form of enumerations in running text and of paragraphs of a law).
_LINE_ITEM = re.compile(r"^[ \t]*(?:\d{1,3}[.)]|\(\d{1,3}[a-z]?\)|[a-z]\)|[-•–*])[ \t]+", re.M)
_INLINE_ITEM = re.compile(r"(?<=[.;:])[ \t]+(\(\d{1,3}[a-z]?\))[ \t]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_ITEM_MARK = re.compile(r"\(\d{1,3}[a-z]?\)[ \t]")
_HEADING_WORDS = 12


def _is_heading(text: str, start: int, end: int) -> bool:
    """A unit alone on its line(s), short, and without a sentence end: "2.2 Mindestanforderungen an KI-Dienste"."""
    piece = text[start:end]
    own_line = (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")
    return (
        own_line and "\n" not in piece and len(piece.split()) <= _HEADING_WORDS and piece[-1] not in ".!?:;"
    )


@dataclass(frozen=True)
class Focus:
    """How far passages are focused: at most `max_sentences` units (0: off, whole passages) and about
    `max_tokens` tokens per passage."""

    max_sentences: int
    max_tokens: int

    @property
    def off(self) -> bool:
        return self.max_sentences <= 0


FOCUS_OFF = Focus(0, 0)


@dataclass(frozen=True)
class FocusedPassage:
    """What the model sees of one passage: `text`, made of the chunk's `pieces` (exact spans into the chunk
    text, in order) joined with " … " where something was left out."""

    text: str
    pieces: tuple[tuple[int, int], ...]
    focused: bool  # False: the whole passage, unchanged

    @classmethod
    def whole(cls, chunk_text: str) -> FocusedPassage:
        return cls(chunk_text, ((0, len(chunk_text)),), False)


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    terms: frozenset[str]
    tokens: int
    item: bool  # a list item
    heading: bool  # a short line of its own without a sentence end
    introduces: bool  # ends with ":" (a list or a quotation follows)


def units(text: str) -> list[tuple[int, int]]:
    """(start, end) of the focusing units of `text`: list items whole, everything else by sentence. An item
    runs to the end of its line, and on over following lines while its line has no sentence end (a wrapped
    item); the text after it up to the next item is prose again."""
    blocks: list[tuple[int, int]] = []
    at = 0
    for blank in _BLANK_LINE.finditer(text):
        blocks.append((at, blank.start()))
        at = blank.end()
    blocks.append((at, len(text)))
    out: list[tuple[int, int]] = []
    for start, end in blocks:
        starts = sorted(
            {m.start() for m in _LINE_ITEM.finditer(text, start, end)}
            | {m.start(1) for m in _INLINE_ITEM.finditer(text, start, end)}
        )
        prose_from = start
        for i, item_start in enumerate(starts):
            out.extend(sentence_spans(text, prose_from, item_start))
            limit = starts[i + 1] if i + 1 < len(starts) else end
            item_end = _item_end(text, item_start, limit)
            out.extend(_stripped(text, item_start, item_end))
            prose_from = item_end
        out.extend(sentence_spans(text, prose_from, end))
    return out


def _item_end(text: str, start: int, limit: int) -> int:
    at = start
    while (newline := text.find("\n", at, limit)) != -1:
        if text[at:newline].rstrip().endswith((".", "!", "?", ":", ";")):
            return newline
        at = newline + 1
    return limit


def _stripped(text: str, start: int, end: int) -> list[tuple[int, int]]:
    piece = text[start:end]
    if not piece.strip():
        return []
    lead = len(piece) - len(piece.lstrip())
    return [(start + lead, start + lead + len(piece.strip()))]


def focus_passage(
    chunk_text: str,
    question_terms: frozenset[str] | set[str],
    *,
    max_sentences: int,
    max_tokens: int,
    count_tokens: Callable[[str], int],
) -> FocusedPassage:
    """The units of `chunk_text` that matter for a question with `question_terms` (see the module text);
    `max_sentences` 0 turns focusing off (the whole passage)."""
    if max_sentences <= 0:
        return FocusedPassage.whole(chunk_text)
    spans = units(chunk_text)
    if not spans:
        return FocusedPassage.whole(chunk_text)
    scored = [
        _Unit(
            a,
            b,
            frozenset(content_terms(chunk_text[a:b]) & question_terms),
            count_tokens(chunk_text[a:b]),
            item=bool(_LINE_ITEM.match(chunk_text, a) or _ITEM_MARK.match(chunk_text, a)),
            heading=_is_heading(chunk_text, a, b),
            introduces=chunk_text[a:b].endswith(":"),
        )
        for a, b in spans
    ]
    order = _priority(scored, max_sentences)
    kept: list[int] = []
    used = 0
    for i in order:
        if len(kept) == max_sentences:
            break
        cost = scored[i].tokens + (2 if kept else 0)
        if kept and used + cost > max_tokens:
            continue
        kept.append(i)
        used += cost
    if len(kept) == len(scored) and used <= max_tokens:
        return FocusedPassage.whole(chunk_text)
    pieces = _pieces(scored, sorted(kept))
    if len(pieces) == 1 and used > max_tokens:
        pieces = [_cut(chunk_text, *pieces[0], share=max_tokens / used)]
    text = GAP.join(chunk_text[a:b] for a, b in pieces)
    return FocusedPassage(text, tuple(pieces), True)


def focus_passages(
    texts: Sequence[str],
    question: str,
    *,
    max_sentences: int,
    max_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[FocusedPassage]:
    """`focus_passage` for each passage text, for one question."""
    terms = frozenset(content_terms(question))
    return [
        focus_passage(
            text, terms, max_sentences=max_sentences, max_tokens=max_tokens, count_tokens=count_tokens
        )
        for text in texts
    ]


def _priority(scored: Sequence[_Unit], max_sentences: int) -> list[int]:
    """Unit indices in the order they are kept: best, its neighbour(s), other matching units; or the lead.
    Headings are left out (the source label in the prompt carries the section heading already)."""
    candidates = [i for i, u in enumerate(scored) if not u.heading] or list(range(len(scored)))
    scores = {i: len(scored[i].terms) for i in candidates}
    if not any(scores.values()):
        return candidates
    best = max(candidates, key=lambda i: (scores[i], -i))
    if scored[best].introduces:
        # "… erfüllen:" — the answer is the list that follows; keep the items before anything else.
        following = list(itertools.takewhile(lambda i: scored[i].item, range(best + 1, len(scored))))
        neighbours = following or [best + 1] if best + 1 < len(scored) else []
    else:
        neighbours = [i for i in (best - 1, best + 1) if i in scores]
        if max_sentences < 3:
            # Room for one neighbour: the better-scoring one; on a tie the previous (it names the subject).
            neighbours.sort(key=lambda i: (-scores[i], i))
    rest = sorted(
        (i for i in candidates if i != best and i not in neighbours and scores[i] > 0),
        key=lambda i: (-scores[i], i),
    )
    return [best, *neighbours, *rest]


def _pieces(scored: Sequence[_Unit], kept: Sequence[int]) -> list[tuple[int, int]]:
    """Runs of adjacent kept units as one span each (the text between adjacent units is whitespace)."""
    pieces: list[tuple[int, int]] = []
    previous: int | None = None
    for i in kept:
        unit = scored[i]
        if previous is not None and i == previous + 1:
            pieces[-1] = (pieces[-1][0], unit.end)
        else:
            pieces.append((unit.start, unit.end))
        previous = i
    return pieces


def _cut(text: str, start: int, end: int, *, share: float) -> tuple[int, int]:
    """A single over-long unit (a long list item, a table without sentence ends) cut at a word boundary to
    about `share` of its length: the span stays exact, the prompt stays within the cap."""
    limit = start + max(1, int((end - start) * share))
    space = text.rfind(" ", start, limit)
    cut = space if space > start else limit
    return (start, len(text[:cut].rstrip()))
