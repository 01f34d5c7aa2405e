"""Outputs of `kb eval drafts`: `metrics.json`, `drafts.jsonl` (one line per topic) and a short `report.md`.

The report names topics and key facts (the gold file's own wording) and figures, never statement or passage
text: it can be committed for any corpus. `drafts.jsonl` holds the statements, which may quote documents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.report import format_value

DRAFTS_FILE = "drafts.jsonl"

# (key, meaning) of the summary, in the order shown.
DRAFT_METRICS = (
    ("topics", "topics drafted"),
    (
        "key_fact_recall",
        "key facts covered: a kept statement cites their gold passage and states their values",
    ),
    ("key_fact_recall_macro", "the same, averaged per topic"),
    (
        "key_fact_retrieved",
        "key facts whose gold passage retrieval found for a sub-question (recall ceiling)",
    ),
    ("citation_precision", "kept statement → citation pairs our checker accepts (after verification)"),
    ("gold_citation_share", "kept statement → citation pairs whose passage meets a gold span of the topic"),
    ("model_citation_precision", "model statement → citation pairs as the model wrote them, checker accepts"),
    ("unsupported_removed_share", "statements removed as unsupported / all statements"),
    ("unsourced_figures", "numbers, dates, amounts in kept statements found in no cited passage (goal 0)"),
    ("repeated_statement_rate", "kept statements repeating an earlier one of the draft (Jaccard ≥ 0.8)"),
    ("statements_kept", "statements in the drafts"),
    ("statements_removed", "statements removed as unsupported"),
    ("plan_s_p50", "median seconds to the plan"),
    ("first_section_s_p50", "median seconds to the first written section"),
    ("total_s_p50", "median seconds per draft"),
    ("total_s_max", "longest draft, seconds"),
)
SUMMARY_KEYS = tuple(key for key, _ in DRAFT_METRICS)


def write_drafts_run(out: Path, metrics: dict[str, Any], rows: Sequence[dict[str, Any]], report: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with (out / DRAFTS_FILE).open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(report, encoding="utf-8")


def drafts_report(title: str, metrics: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    config = metrics["config"]
    llm = config.get("llm") or {}
    index = config.get("index") or {}
    draft = config.get("draft") or {}
    lines = [
        f"# Draft evaluation: {title}",
        "",
        f"- date: {config.get('timestamp')}, git commit: `{config.get('git_commit')}`",
        f"- template: **{draft.get('template')}**, LLM: `{llm.get('name')}` (gguf sha256 "
        f"`{llm.get('gguf_sha256')}`), loaded in {llm.get('load_s')} s",
        f"- corpus: {index.get('documents')} documents, {index.get('chunks')} chunks; index "
        + ("reused from cache" if index.get("reused") else f"built in {index.get('indexing_s')} s"),
        f"- topics: `{config.get('questions')}`"
        + (f" (first {config['limit']})" if config.get("limit") else ""),
        "",
        "## Metrics",
        "",
        "| metric | value | meaning |",
        "|---|---|---|",
        *[f"| {key} | {format_value(metrics.get(key))} | {meaning} |" for key, meaning in DRAFT_METRICS],
        "",
        "Citation precision is judged by the project's own checker (the one that verified the drafts), so it is",
        "close to 1 by construction for model statements; `gold_citation_share` is the independent signal.",
        "",
        "| statements | citation pairs | citation precision | gold share | unsourced figures |",
        "|---|---|---|---|---|",
        *[
            f"| {origin} | {o['citation_pairs']} | {format_value(o['citation_precision'])} | "
            f"{format_value(o['gold_citation_share'])} | {o['unsourced_figures']} |"
            for origin, o in (metrics.get("by_origin") or {}).items()
        ],
        "",
        "`decision` statements are built from the minutes' decision records without the model: the decision and",
        "its vote as recorded in the cited passage; the meeting's date, body and agenda item are shown before",
        "them as provenance (`lead` in `drafts.jsonl`) and are not scored as claims.",
        "",
        "## Topics",
        "",
        "| id | key facts | precision | gold share | removed | unsourced | repeated | plan s | 1st s | total s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        covered = sum(1 for f in row["key_facts"] if f["statement"] is not None)
        lines.append(
            f"| {row['id']} | {covered}/{len(row['key_facts'])} | {format_value(row['citation_precision'])} | "
            f"{format_value(row['gold_citation_share'])} | {format_value(row['unsupported_removed_share'])} | "
            f"{row['unsourced_figures']} | {format_value(row['repeated_statement_rate'])} | {row['plan_s']} | "
            f"{row['first_section_s']} | {row['total_s']} |"
        )
    missed = [(row["id"], f) for row in rows for f in row["key_facts"] if f["statement"] is None]
    if missed:
        lines += [
            "",
            f"## Key facts not covered ({len(missed)})",
            "",
            "| topic | fact | gold passage retrieved | key fact |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {topic} | {f['id']} | {'yes' if f.get('retrieved') else 'no'} | {_cell(f['fact'])} |"
            for topic, f in missed
        ]
    lines += [
        "",
        f"Statements, their citations (document, character span, page) and timings: `{DRAFTS_FILE}`.",
        "",
    ]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")
