"""Comparing two runs: the change of every numeric metric both `metrics.json` files have; what regressed.

Directions:
- higher is better (recall, MRR, nDCG, F1, exact match, citation scores): a regression is an absolute drop by
  more than the threshold (the metrics are shares in [0, 1]);
- `tokens_per_s` is higher-is-better too, but measured relative: a drop by more than threshold × old value;
- latency (`latency_*`) is lower-is-better: an increase by more than threshold × old value is a regression;
- draft times (`plan_s_p50`, `total_s_max`, …) are lower-is-better, relative like latency; numbers in
  statements that no cited passage contains and repeated statements (`unsourced_figures`,
  `repeated_statement_rate`) and answers citing beside the gold (`wrong_citation_rate`,
  `wrong_document_rate`) are lower-is-better, absolute;
- counts and rates that describe rather than judge a run (`questions`, `answered`, `abstention_rate`,
  `short_answer_rate`, the numbers of topics, facts, statements and citations, the share of statements
  removed) are shown but never fail a comparison.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.errors import KBError

INFORMATIONAL = frozenset(
    {
        "questions",
        "answered",
        "abstention_rate",
        "short_answer_rate",
        "topics",
        "key_facts",
        "statements_kept",
        "statements_removed",
        "citation_pairs",
        "unsupported_removed_share",
    }
)
RELATIVE_HIGHER = frozenset({"tokens_per_s"})
LOWER = frozenset(
    {"unsourced_figures", "repeated_statement_rate", "wrong_citation_rate", "wrong_document_rate"}
)
_DRAFT_TIMES = ("_s_p50", "_s_max")
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Delta:
    name: str
    before: float
    after: float
    direction: str  # "higher", "lower" or "info"
    relative: bool
    regressed: bool

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def relative_change(self) -> float | None:
        return self.change / self.before if self.before else None


def direction_of(name: str) -> tuple[str, bool]:
    """(direction, measured relative) of a metric name."""
    if name in INFORMATIONAL:
        return "info", False
    if name.startswith("latency") or name.endswith(_DRAFT_TIMES):
        return "lower", True
    if name in LOWER:
        return "lower", False
    return "higher", name in RELATIVE_HIGHER


def regressed(before: float, after: float, direction: str, relative: bool, threshold: float) -> bool:
    if direction == "info":
        return False
    change = after - before if direction == "higher" else before - after  # negative = worse
    if relative:
        if before == 0:
            return change < 0
        return change / abs(before) < -threshold - _TOLERANCE
    return change < -threshold - _TOLERANCE


def numeric_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def compare_metrics(before: dict[str, Any], after: dict[str, Any], threshold: float) -> list[Delta]:
    """Deltas of the numeric metrics present in both runs, in the order of the first run's file."""
    a, b = numeric_metrics(before), numeric_metrics(after)
    deltas = []
    for name in (key for key in a if key in b):
        direction, relative = direction_of(name)
        deltas.append(
            Delta(
                name,
                a[name],
                b[name],
                direction,
                relative,
                regressed(a[name], b[name], direction, relative, threshold),
            )
        )
    return deltas


def load_metrics(run: Path) -> dict[str, Any]:
    """`metrics.json` of a run folder (or the file itself)."""
    path = run / "metrics.json" if run.is_dir() else run
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KBError(f"cannot read metrics: {exc}", path=str(path)) from exc
    if not isinstance(loaded, dict):
        raise KBError("metrics.json is not a JSON object", path=str(path))
    return loaded


def comparability_warnings(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Differences that make the two runs measure different things (other questions, corpus, mode)."""
    warnings = []
    ca, cb = before.get("config") or {}, after.get("config") or {}
    if before.get("questions") != after.get("questions"):
        warnings.append(
            f"different number of questions ({before.get('questions')} vs {after.get('questions')})"
        )
    for key, label in (("questions_sha256", "gold set"), ("corpus_sha256", "corpus")):
        if ca.get(key) and cb.get(key) and ca[key] != cb[key]:
            warnings.append(f"different {label}")
    if before.get("mode") != after.get("mode"):
        warnings.append(f"different retrieval mode ({before.get('mode')} vs {after.get('mode')})")
    return warnings
