"""German compound splitting for the BM25 side of hybrid search.

"Vereinsveranstaltungen" and "Veranstaltungen für Vereine" share no BM25 term: the stemmer sees one long
token. With `KB_STORE__BM25_COMPOUNDS=both` the parts of each long word are appended to the text that BM25
indexes (documents) and searches (queries) — "verein veranstaltungen" — so either wording finds the other
(`documents` or `queries` expands one side only). The
dense side and the stored text are unchanged; citations still point at the exact passage.

The split is a frequency rule over the German word list of `wordfreq` (deterministic, no corpus statistics): a
word of at least `MIN_WORD` letters is cut where both sides are common German words (Zipf frequency ≥
`MIN_ZIPF`), the left side with or without a linking element (Fugen-s, -n, -en, -es, -e, -er); of all such cuts
the one whose rarer side is most common wins. A head that is itself a compound of common words counts as common
("Sport|stättenbetrieb"), and a side that is not a common word itself is split again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

MIN_WORD = 9
MIN_PART = 3
MIN_ZIPF = 3.0
SPLIT_AGAIN_BELOW = 3.5  # a side is split again only when it is not a common word itself ("sicherheit")
LINKS = ("", "s", "es", "n", "en", "e", "er")
# Derivational endings are common "words" in the list but never the head of a compound.
SUFFIXES = frozenset(
    {"heit", "keit", "schaft", "schaften", "ung", "ungen", "lich", "isch", "chen", "tum", "nis"}
)
WORD = re.compile(rf"[A-Za-zÄÖÜäöüß]{{{MIN_WORD},}}")


@lru_cache(maxsize=1)
def _zipf() -> Callable[[str, str], float]:
    from wordfreq import zipf_frequency

    return zipf_frequency


def _frequency(word: str) -> float:
    return float(_zipf()(word, "de"))


@lru_cache(maxsize=200_000)
def split_compound(word: str, depth: int = 2) -> tuple[str, ...]:
    """The parts of a compound in lower case, or () when no cut leaves two common words."""
    w = word.lower()
    if len(w) < MIN_WORD or depth == 0:
        return ()
    best: tuple[float, str, str] | None = None
    for cut in range(MIN_PART, len(w) - MIN_PART + 1):
        head = w[cut:]
        if head in SUFFIXES:
            continue
        head_f = _frequency(head)
        if head_f < MIN_ZIPF:
            if not split_compound(head, depth - 1):
                continue
            head_f = MIN_ZIPF
        modifier = w[:cut]
        for link in LINKS:
            if link and not modifier.endswith(link):
                continue
            stem = modifier[: len(modifier) - len(link)]
            if len(stem) < MIN_PART:
                continue
            score = min(_frequency(stem), head_f)
            if score >= MIN_ZIPF and (best is None or score > best[0]):
                best = (score, stem, head)
    if best is None:
        return ()
    _, stem, head = best
    parts: list[str] = []
    for side in (stem, head):
        again = split_compound(side, depth - 1) if _frequency(side) < SPLIT_AGAIN_BELOW else ()
        parts.extend(again or (side,))
    return tuple(parts)


def with_compound_parts(text: str) -> str:
    """`text`, followed by the parts of its compounds (once per distinct compound)."""
    extra: list[str] = []
    seen: set[str] = set()
    for match in WORD.finditer(text):
        word = match.group().lower()
        if word in seen:
            continue
        seen.add(word)
        extra.extend(split_compound(word))
    return f"{text}\n{' '.join(extra)}" if extra else text
