"""Evaluation metrics on hand-made cases: ranking, the hit rule, answer scores, span location, compare."""

from __future__ import annotations

import math

import pytest

from eval.compare import compare_metrics
from eval.gold import locate
from eval.metrics import (
    Gold,
    Retrieved,
    contains_answer,
    exact_match,
    first_hit_rank,
    hit_sets,
    hits,
    mrr_at_k,
    ndcg_at_k,
    normalise_answer,
    overlaps_enough,
    percentile,
    recall_at_k,
    token_f1,
)


# -- ranking metrics ----------------------------------------------------------------------------------------
def test_recall_at_k_counts_first_hits_within_k() -> None:
    ranks = [1, 3, None, 7]
    assert recall_at_k(ranks, 1) == 0.25
    assert recall_at_k(ranks, 5) == 0.5
    assert recall_at_k(ranks, 10) == 0.75
    assert recall_at_k([], 5) == 0.0


def test_mrr_ignores_ranks_below_the_cutoff() -> None:
    assert mrr_at_k([1, 2, None, 4], 10) == pytest.approx((1 + 0.5 + 0 + 0.25) / 4)
    assert mrr_at_k([1, 2, None, 4], 3) == pytest.approx((1 + 0.5) / 4)


def test_ndcg_single_relevant_item() -> None:
    assert ndcg_at_k([{0}, set()], 1, 10) == 1.0
    assert ndcg_at_k([set(), set(), {0}], 1, 10) == pytest.approx(1 / math.log2(4))
    assert ndcg_at_k([set()] * 10 + [{0}], 1, 10) == 0.0


def test_ndcg_credits_each_relevant_item_once() -> None:
    # Item 0 hit at ranks 1 and 2: the second hit earns nothing; item 1 at rank 3.
    per_rank = [{0}, {0}, {1}]
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(per_rank, 2, 10) == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_ndcg_ideal_is_capped_at_k() -> None:
    per_rank = [{i} for i in range(3)]
    assert ndcg_at_k(per_rank, 12, 3) == pytest.approx(1.0)


def test_first_hit_rank() -> None:
    assert first_hit_rank([set(), {1}, {0}]) == 2
    assert first_hit_rank([set(), set()]) is None


# -- the hit rule -------------------------------------------------------------------------------------------
def test_overlap_of_half_the_shorter_span_is_a_hit() -> None:
    gold = (100, 200)  # 100 characters; a chunk of 1000 characters overlapping 50 of them is a hit
    assert overlaps_enough((150, 1150), gold)
    assert not overlaps_enough((151, 1151), gold)  # 49 characters
    assert overlaps_enough((0, 60), (30, 1000))  # chunk of 60 overlaps 30: exactly half of the shorter
    assert not overlaps_enough((0, 60), (31, 1000))
    assert not overlaps_enough((0, 10), (10, 20))  # touching spans do not overlap


def test_a_contained_gold_passage_is_a_hit() -> None:
    assert overlaps_enough((0, 1000), (400, 500))
    assert overlaps_enough((400, 500), (0, 1000))


def test_hit_needs_the_same_document() -> None:
    gold = Gold("corpus/a.md", ((0, 100),))
    assert hits(Retrieved("corpus/a.md", 0, 100, "x"), gold)
    assert not hits(Retrieved("corpus/b.md", 0, 100, "x"), gold)
    assert not hits(Retrieved("corpus/b.md", 500, 600, "Die Antwort ist 308."), gold, ["308"])


def test_answer_containment_is_a_hit_without_span_overlap() -> None:
    gold = Gold("corpus/a.md", ((0, 100),))
    chunk = Retrieved("corpus/a.md", 500, 900, "Die Panthers gaben nur 308\nPunkte ab.")
    assert hits(chunk, gold, ["308 Punkte"])
    assert not hits(chunk, gold, ["309"])
    assert not hits(chunk, gold, [])


def test_answer_containment_matches_whole_words_only() -> None:
    assert contains_answer("Im Jahr 2015 …", ["2015"])
    assert not contains_answer("Im Jahr 2015 …", ["201"])
    assert contains_answer("die  Vereinigten\nStaaten", ["Vereinigten Staaten"])
    assert contains_answer("DENVER BRONCOS", ["Denver Broncos"])


def test_gold_without_located_span_is_hit_only_by_answers() -> None:
    gold = Gold("corpus/a.md", ())
    assert not hits(Retrieved("corpus/a.md", 0, 10_000, "text"), gold)
    assert hits(Retrieved("corpus/a.md", 0, 10_000, "Paris"), gold, ["Paris"])


def test_hit_sets_per_rank() -> None:
    relevant = [Gold("d/a.md", ((0, 100),)), Gold("d/b.md", ((0, 100),))]
    retrieved = [
        Retrieved("d/c.md", 0, 100, ""),
        Retrieved("d/b.md", 50, 150, ""),
        Retrieved("d/a.md", 0, 80, ""),
    ]
    assert hit_sets(retrieved, relevant) == [set(), {1}, {0}]


# -- answers ------------------------------------------------------------------------------------------------
def test_normalise_answer_drops_case_punctuation_and_german_articles() -> None:
    assert normalise_answer("Der Deutsche Bundestag.") == "deutsche bundestag"
    assert normalise_answer("„Eine  Stadt“, einem Land") == "stadt land"
    assert normalise_answer("dieser Vertrag") == "dieser vertrag"  # only articles, not demonstratives


def test_exact_match_against_any_answer() -> None:
    assert exact_match("die Denver Broncos", ["Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos", "Broncos"]) == 0.0
    assert exact_match("Broncos!", ["Denver Broncos", "Broncos"]) == 1.0


def test_token_f1() -> None:
    assert token_f1("Die Denver Broncos", ["Denver Broncos"]) == 1.0
    # prediction {denver, broncos, gewannen}, gold {denver, broncos}: P 2/3, R 1 → 0.8
    assert token_f1("Die Denver Broncos gewannen", ["Denver Broncos"]) == pytest.approx(0.8)
    assert token_f1("Carolina", ["Denver Broncos"]) == 0.0
    assert token_f1("der", ["die"]) == 1.0  # both empty after normalisation
    assert token_f1("Carolina Panthers", ["Panthers", "Carolina Panthers"]) == 1.0
    assert token_f1("irgendwas", []) == 0.0


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([float(v) for v in range(1, 101)], 95) == pytest.approx(95.05)


# -- span location ------------------------------------------------------------------------------------------
def test_locate_maps_whitespace_normalised_matches_to_parsed_offsets() -> None:
    parsed = "# Titel\n\nErste Zeile\nzweite Zeile.\n\nNächster Absatz."
    spans = locate(parsed, "Erste Zeile   \nzweite Zeile.")
    assert spans == ((9, 34),)
    assert parsed[9:34] == "Erste Zeile\nzweite Zeile."


def test_locate_falls_back_to_letters_and_digits() -> None:
    parsed = "Der Plan\n\nist fertig"
    (span,) = locate(parsed, "Der **Plan**\n\n  ist fertig")
    assert parsed[span[0] : span[1]] == "Der Plan\n\nist fertig"
    assert locate(parsed, "fehlt") == ()


def test_locate_nfc() -> None:
    parsed = "Grüße aus Köln"
    decomposed = "Gru\u0308ße"
    assert locate(parsed, decomposed) == ((0, 5),)


# -- compare ------------------------------------------------------------------------------------------------
def test_compare_flags_drops_beyond_the_threshold() -> None:
    before = {"questions": 50, "recall@5": 0.90, "mrr@10": 0.80, "latency_p50_s": 4.0, "mode": "hybrid"}
    after = {"questions": 40, "recall@5": 0.88, "mrr@10": 0.77, "latency_p50_s": 4.2, "mode": "hybrid"}
    deltas = {d.name: d for d in compare_metrics(before, after, 0.02)}
    assert set(deltas) == {"questions", "recall@5", "mrr@10", "latency_p50_s"}
    assert not deltas["recall@5"].regressed  # exactly the threshold is not "more than"
    assert deltas["mrr@10"].regressed
    assert deltas["latency_p50_s"].regressed  # +5 % relative
    assert not deltas["questions"].regressed


def test_compare_latency_is_lower_is_better() -> None:
    deltas = compare_metrics({"latency_p95_s": 10.0}, {"latency_p95_s": 5.0}, 0.02)
    assert not deltas[0].regressed
    assert compare_metrics({"tokens_per_s": 20.0}, {"tokens_per_s": 19.0}, 0.02)[0].regressed
