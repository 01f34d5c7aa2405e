"""Scores of written drafts against draft topics: pure functions over statements, their citations and gold spans.

Every judgement of "does this text say that" goes through the one checker of `service.citations`:
- a key fact's `values` are in a statement when the checker finds the value's figures (numbers, dates,
  amounts, legal references; normalised: "4,8 Mio. EUR" = "4.800.000 Euro") in the statement's text, or, for a
  value without one (a name), the value's words;
- a citation is accepted when the checker accepts the statement against the cited passage;
- a figure (number, date, amount) of a statement is unsourced when the checker finds it in none of the
  passages the statement cites.

A cited passage meets a gold span under the hit rule of the retrieval evaluation (`eval.metrics.hits`: same
document, overlap of at least half of the shorter span).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eval import metrics as m
from service import citations

DUPLICATE_JACCARD = 0.8
_FIGURES = frozenset({citations.FactKind.NUMBER, citations.FactKind.DATE, citations.FactKind.AMOUNT})
_VALUE_FACTS = _FIGURES | {citations.FactKind.LEGAL_REF}


@dataclass(frozen=True)
class Passage:
    """A source of a draft: its draft-wide number, where it lies in its document, and its text."""

    number: int
    doc_id: str
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    text: str

    def retrieved(self) -> m.Retrieved:
        return m.Retrieved(self.doc_id, self.char_start, self.char_end, self.text)


@dataclass(frozen=True)
class Statement:
    """A statement of a draft. `sources`: the citations shown (after verification); `cited`: what the model
    (or the decision builder) cited. `kept`: in the draft; otherwise removed as unsupported."""

    text: str
    section: str
    kept: bool
    sources: tuple[int, ...]
    cited: tuple[int, ...]
    origin: str = "model"  # "model", "decision" (built from the minutes' records, no model) or "editor"


@dataclass(frozen=True)
class FactGold:
    """A key fact as scored: its id, the values a statement must contain, its gold passage."""

    id: str
    values: tuple[str, ...]
    gold: m.Gold


@dataclass(frozen=True)
class CitationScore:
    statement: int  # index in the draft's statements
    number: int
    accepted: bool  # the checker accepts the statement against this passage
    gold_overlap: bool  # the passage meets a gold span of the topic
    origin: str = "model"


@dataclass(frozen=True)
class DraftScore:
    facts: tuple[tuple[str, int | None], ...]  # key fact id → index of the statement that covers it
    kept: int
    removed: int
    citations: tuple[CitationScore, ...]  # kept statement → shown citation pairs
    model_pairs: int  # model statement → cited pairs as generated (kept and removed), before verification
    model_pairs_accepted: int
    unsourced: tuple[tuple[int, str, str], ...]  # (statement index, figure as written, statement origin)
    repeats: tuple[tuple[int, int], ...]  # (statement index, index of the earlier kept statement it repeats)
    # Per key fact: did retrieval for the draft's sub-questions find a passage meeting its gold span? The
    # ceiling of recall: a fact never retrieved cannot be cited.
    retrieved: tuple[bool, ...] = ()

    @property
    def covered(self) -> int:
        return sum(1 for _, statement in self.facts if statement is not None)

    @property
    def key_fact_recall(self) -> float | None:
        return self.covered / len(self.facts) if self.facts else None

    @property
    def citation_precision(self) -> float | None:
        return _share(sum(c.accepted for c in self.citations), len(self.citations))

    @property
    def gold_citation_share(self) -> float | None:
        return _share(sum(c.gold_overlap for c in self.citations), len(self.citations))

    @property
    def removed_share(self) -> float | None:
        return _share(self.removed, self.removed + self.kept)

    @property
    def repeated_rate(self) -> float | None:
        return _share(len(self.repeats), self.kept)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# -- single judgements -----------------------------------------------------------------------------------------
def contains_value(statement: str, value: str) -> bool:
    """Does the statement say `value`? The checker, with the value as the claim and the statement as the
    passage. A value with a figure or a legal reference ("4,8 Mio. EUR", "60 Prozent", "§ 203 StGB") is in the
    statement when that is, in its normalised form ("4.800.000 Euro", "60 %"): the words around it are its unit
    or currency, matched with it. Any other value (a name, a word) must occur whole."""
    verdict = citations.check_statement(value, statement, min_support=1.0)
    if any(f.kind in _VALUE_FACTS for f in citations.Claim.of(value).facts):
        return not any(f.kind in _VALUE_FACTS for f in verdict.missing)
    return verdict.supported


def citation_accepted(statement: str, passage: str, *, min_support: float) -> bool:
    return citations.check_statement(statement, passage, min_support=min_support).supported


def unsourced_figures(statement: str, passages: Sequence[str], *, min_support: float) -> list[str]:
    """Numbers, dates and amounts of `statement` that none of `passages` contains (all of them if none given)."""
    claim = citations.Claim.of(statement)
    figures = [f for f in claim.facts if f.kind in _FIGURES]
    absent = {(f.kind, f.key) for f in figures}
    for passage in passages:
        verdict = citations.check_statement(claim, passage, min_support=min_support)
        absent &= {(f.kind, f.key) for f in verdict.missing}
    return [f.text for f in figures if (f.kind, f.key) in absent]


def normalised_tokens(text: str) -> frozenset[str]:
    """The checker's content terms: words by stem, numbers by value, function and light words dropped."""
    return frozenset(citations.statement_terms(citations.strip_markers(text)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def repeated_statements(texts: Sequence[str], threshold: float = DUPLICATE_JACCARD) -> list[tuple[int, int]]:
    """(i, j) for each statement i that repeats an earlier statement j (token Jaccard ≥ threshold)."""
    tokens = [normalised_tokens(t) for t in texts]
    found: list[tuple[int, int]] = []
    for i in range(len(texts)):
        earlier = next((j for j in range(i) if jaccard(tokens[i], tokens[j]) >= threshold), None)
        if earlier is not None:
            found.append((i, earlier))
    return found


def covering_statement(
    fact: FactGold, statements: Sequence[Statement], passages: Mapping[int, Passage]
) -> int | None:
    """The first kept statement that cites a passage meeting the fact's gold span and contains its values."""
    for index, statement in enumerate(statements):
        if not statement.kept or not all(contains_value(statement.text, v) for v in fact.values):
            continue
        if any(n in passages and m.hits(passages[n].retrieved(), fact.gold) for n in statement.sources):
            return index
    return None


# -- a whole draft ---------------------------------------------------------------------------------------------
def score_draft(
    statements: Sequence[Statement],
    passages: Mapping[int, Passage],
    facts: Sequence[FactGold],
    *,
    min_support: float,
    retrieved: Sequence[Passage] = (),
) -> DraftScore:
    """Score one draft; `retrieved` are the passages its sub-questions found (for the recall ceiling)."""
    golds = [f.gold for f in facts]
    pairs: list[CitationScore] = []
    unsourced: list[tuple[int, str, str]] = []
    model_pairs = model_accepted = 0
    for index, statement in enumerate(statements):
        for number in statement.cited if statement.origin == "model" else ():
            if number in passages:
                model_pairs += 1
                model_accepted += citation_accepted(
                    statement.text, passages[number].text, min_support=min_support
                )
        if not statement.kept:
            continue
        shown = [passages[n] for n in statement.sources if n in passages]
        for passage in shown:
            pairs.append(
                CitationScore(
                    index,
                    passage.number,
                    citation_accepted(statement.text, passage.text, min_support=min_support),
                    any(m.hits(passage.retrieved(), gold) for gold in golds),
                    statement.origin,
                )
            )
        for figure in unsourced_figures(statement.text, [p.text for p in shown], min_support=min_support):
            unsourced.append((index, figure, statement.origin))
    kept_indices = [i for i, s in enumerate(statements) if s.kept]
    repeats = [
        (kept_indices[i], kept_indices[j])
        for i, j in repeated_statements([statements[k].text for k in kept_indices])
    ]
    return DraftScore(
        facts=tuple((f.id, covering_statement(f, statements, passages)) for f in facts),
        kept=len(kept_indices),
        removed=len(statements) - len(kept_indices),
        citations=tuple(pairs),
        model_pairs=model_pairs,
        model_pairs_accepted=model_accepted,
        unsourced=tuple(unsourced),
        repeats=tuple(repeats),
        retrieved=tuple(any(m.hits(p.retrieved(), f.gold) for p in retrieved) for f in facts),
    )


def overall(scores: Iterable[DraftScore]) -> dict[str, Any]:
    """Totals over all drafts: shares of all facts, pairs and statements (micro), and the mean key-fact recall
    per topic (macro)."""
    items = list(scores)
    facts = sum(len(s.facts) for s in items)
    pairs = sum(len(s.citations) for s in items)
    kept = sum(s.kept for s in items)
    removed = sum(s.removed for s in items)
    model_pairs = sum(s.model_pairs for s in items)
    recalls = [s.key_fact_recall for s in items if s.key_fact_recall is not None]
    pairs_by_origin: dict[str, list[CitationScore]] = {}
    for c in (c for s in items for c in s.citations):
        pairs_by_origin.setdefault(c.origin, []).append(c)
    unsourced_by_origin: dict[str, int] = {}
    for _, _, origin in (u for s in items for u in s.unsourced):
        unsourced_by_origin[origin] = unsourced_by_origin.get(origin, 0) + 1
    return {
        "key_facts": facts,
        "key_facts_covered": sum(s.covered for s in items),
        "key_fact_recall": _share(sum(s.covered for s in items), facts),
        "key_fact_recall_macro": sum(recalls) / len(recalls) if recalls else None,
        "key_fact_retrieved": _share(sum(sum(s.retrieved) for s in items), facts),
        "statements_kept": kept,
        "statements_removed": removed,
        "citation_pairs": pairs,
        "citation_precision": _share(sum(c.accepted for s in items for c in s.citations), pairs),
        "gold_citation_share": _share(sum(c.gold_overlap for s in items for c in s.citations), pairs),
        "model_citation_precision": _share(sum(s.model_pairs_accepted for s in items), model_pairs),
        "unsupported_removed_share": _share(removed, removed + kept),
        "unsourced_figures": sum(len(s.unsourced) for s in items),
        "repeated_statement_rate": _share(sum(len(s.repeats) for s in items), kept),
        # Model-written statements and the decision statements built from the minutes, apart: the latter are
        # the recorded decision and vote (their meeting's date and body are shown as provenance, not scored).
        "by_origin": {
            origin: {
                "citation_pairs": len(group),
                "citation_precision": _share(sum(c.accepted for c in group), len(group)),
                "gold_citation_share": _share(sum(c.gold_overlap for c in group), len(group)),
                "unsourced_figures": unsourced_by_origin.get(origin, 0),
            }
            for origin, group in sorted(pairs_by_origin.items())
        },
    }
