"""Evaluation metrics: pure functions over ranks, spans and answer strings.

Hit rule: a retrieved passage hits a gold passage when both come from the same document and
- their character spans overlap by at least half of the shorter of the two, or
- the retrieved text contains one of the gold answers (as whole words, case- and whitespace-insensitive).

Ranks are 1-based; `None` means "not among the retrieved passages".
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Span = tuple[int, int]

GERMAN_ARTICLES = frozenset(
    {"der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines", "einem", "einen"}
)
_PUNCTUATION = frozenset(string.punctuation) | frozenset("„“”‚‘’«»–—…·•")


@dataclass(frozen=True)
class Retrieved:
    """One retrieved passage: the document it comes from, its span in the parsed text, and its text."""

    doc_id: str
    char_start: int
    char_end: int
    text: str


@dataclass(frozen=True)
class Gold:
    """One relevant item: its document and the span(s) where the gold passage occurs in the parsed text."""

    doc_id: str
    spans: tuple[Span, ...]


# -- the hit rule -------------------------------------------------------------------------------------------
def overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def overlaps_enough(a: Span, b: Span) -> bool:
    """True when the spans overlap by at least half of the shorter one (and by at least one character)."""
    shorter = min(a[1] - a[0], b[1] - b[0])
    shared = overlap(a, b)
    return shared > 0 and 2 * shared >= shorter


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether `text` contains one of `answers` as whole words, ignoring case and runs of whitespace."""
    haystack = _collapse(text).casefold()
    for answer in answers:
        needle = _collapse(answer).casefold()
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack):
            return True
    return False


def hits(passage: Retrieved, gold: Gold, answers: Sequence[str] = ()) -> bool:
    if passage.doc_id != gold.doc_id:
        return False
    span = (passage.char_start, passage.char_end)
    return any(overlaps_enough(span, g) for g in gold.spans) or contains_answer(passage.text, answers)


def hit_sets(
    retrieved: Sequence[Retrieved], relevant: Sequence[Gold], answers: Sequence[str] = ()
) -> list[set[int]]:
    """For each retrieved passage (in rank order), the indices of the relevant items it hits."""
    return [{i for i, gold in enumerate(relevant) if hits(p, gold, answers)} for p in retrieved]


def first_hit_rank(per_rank: Sequence[set[int]]) -> int | None:
    return next((rank for rank, found in enumerate(per_rank, start=1) if found), None)


# -- ranking metrics ----------------------------------------------------------------------------------------
def recall_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first hit is at rank ≤ k."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Mean reciprocal rank of the first hit, 0 when it is below k."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks)


def dcg_at_k(per_rank: Sequence[set[int]], k: int) -> float:
    """Binary gains: each relevant item is credited once, at the first passage that hits it."""
    credited: set[int] = set()
    total = 0.0
    for rank, found in enumerate(per_rank[:k], start=1):
        new = found - credited
        credited |= new
        total += len(new) / math.log2(rank + 1)
    return total


def ndcg_at_k(per_rank: Sequence[set[int]], n_relevant: int, k: int) -> float:
    """nDCG@k of one question; the ideal ranking puts min(n_relevant, k) hits on top. Capped at 1."""
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_relevant, k) + 1))
    return min(1.0, dcg_at_k(per_rank, k) / ideal) if ideal else 0.0


def mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * p / 100.0
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# -- answer metrics (SQuAD-style, German articles) ----------------------------------------------------------
def normalise_answer(text: str) -> str:
    """Lowercase, drop punctuation and German articles, collapse whitespace."""
    text = unicodedata.normalize("NFC", text).lower()
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    return " ".join(word for word in text.split() if word not in GERMAN_ARTICLES)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer, else 0.0."""
    predicted = normalise_answer(prediction)
    return float(any(predicted == normalise_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """The best token-overlap F1 of the prediction against any gold answer."""
    return max(
        (_f1(normalise_answer(prediction).split(), normalise_answer(a).split()) for a in answers), default=0.0
    )


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
