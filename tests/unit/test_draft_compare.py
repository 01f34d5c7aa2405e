"""`kb eval compare` on two `kb eval drafts` runs: which draft metric changes count as regressions."""

from __future__ import annotations

from eval.compare import compare_metrics


def test_draft_runs_regress_on_recall_unsourced_figures_and_time_but_not_on_counts() -> None:
    before = {"topics": 14, "key_fact_recall": 0.5, "unsourced_figures": 0, "total_s_p50": 100.0}
    after = {"topics": 12, "key_fact_recall": 0.4, "unsourced_figures": 1, "total_s_p50": 150.0}
    regressed = {d.name for d in compare_metrics(before, after, 0.02) if d.regressed}
    assert regressed == {"key_fact_recall", "unsourced_figures", "total_s_p50"}
    better = {"topics": 14, "key_fact_recall": 0.6, "unsourced_figures": 0, "total_s_p50": 90.0}
    assert not [d for d in compare_metrics(before, better, 0.02) if d.regressed]
