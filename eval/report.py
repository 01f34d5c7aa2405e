"""Run outputs: `metrics.json`, `per_question.jsonl`, `report.md` and, for retrieval, the recall@k plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.compare import Delta

PLOT_FILE = "recall_at_k.png"
_MISSES_SHOWN = 25


def write_run(out: Path, metrics: dict[str, Any], rows: Sequence[dict[str, Any]], report: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with (out / "per_question.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(report, encoding="utf-8")


def plot_recall_curve(curve: Sequence[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(range(1, len(curve) + 1))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    try:
        ax.plot(ks, curve, marker="o")
        for k, value in zip(ks, curve, strict=True):
            if k in (1, 5, 10):
                ax.annotate(
                    f"{value:.3f}", (k, value), textcoords="offset points", xytext=(0, -14), ha="center"
                )
        ax.set(xlabel="k (retrieved passages)", ylabel="recall@k", title=title, ylim=(0, 1.02), xticks=ks)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)


# -- retrieval ----------------------------------------------------------------------------------------------
def retrieval_report(
    title: str,
    metrics: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    curve: Sequence[float],
    notes: Sequence[str],
) -> str:
    config = metrics["config"]
    lines = [f"# Retrieval evaluation: {title}", "", *_run_facts(config), ""]
    lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [
        f"| {key} | {format_value(metrics[key])} |"
        for key in ("questions", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
    ]
    lines += ["", f"![recall@k for k = 1..{len(curve)}]({PLOT_FILE})", ""]
    lines += ["| k | " + " | ".join(str(k) for k in range(1, len(curve) + 1)) + " |"]
    lines += [
        "|---" * (len(curve) + 1) + "|",
        "| recall@k | " + " | ".join(f"{v:.3f}" for v in curve) + " |",
        "",
    ]
    lines += _rank_distribution(rows, int(config["k"]))
    lines += [f"- {note}" for note in notes]
    lines += _misses(rows)
    lines += _settings_section(config)
    return "\n".join(lines) + "\n"


def _run_facts(config: dict[str, Any]) -> list[str]:
    index = config.get("index") or {}
    reused = "reused from cache" if index.get("reused") else f"built in {index.get('indexing_s')} s"
    return [
        f"- date: {config.get('timestamp')}, git commit: `{config.get('git_commit')}`",
        f"- mode: **{config.get('mode')}**, k = {config.get('k')}, embedder: `{config.get('embedder')}`",
        f"- corpus: `{config.get('corpus')}` (sha256 `{str(config.get('corpus_sha256'))[:16]}…`), "
        f"{index.get('documents')} documents, {index.get('chunks')} chunks; index {reused}",
        f"- questions: `{config.get('questions')}`"
        + (f" (first {config['limit']})" if config.get("limit") else ""),
    ]


def _rank_distribution(rows: Sequence[dict[str, Any]], k: int) -> list[str]:
    ranks = [row["rank"] for row in rows]
    buckets = [
        ("rank 1", sum(1 for r in ranks if r == 1)),
        ("rank 2–5", sum(1 for r in ranks if r is not None and 2 <= r <= 5)),
        ("rank 6–10", sum(1 for r in ranks if r is not None and 6 <= r <= 10)),
        (f"rank 11–{k}", sum(1 for r in ranks if r is not None and r > 10)),
        (f"not in the top {k}", sum(1 for r in ranks if r is None)),
    ]
    lines = ["## Where the first relevant passage was found", "", "| first hit | questions |", "|---|---|"]
    lines += [
        f"| {label} | {count} |" for label, count in buckets if count or not label.startswith("rank 11")
    ]
    return [*lines, ""]


def _misses(rows: Sequence[dict[str, Any]]) -> list[str]:
    misses = [row for row in rows if row["rank"] is None]
    if not misses:
        return []
    lines = [
        f"## Misses ({len(misses)}; first {min(len(misses), _MISSES_SHOWN)} shown)",
        "",
        "| id | question | gold document | top-3 retrieved |",
        "|---|---|---|---|",
    ]
    for row in misses[:_MISSES_SHOWN]:
        gold = ", ".join(sorted({g["doc_id"] for g in row["relevant"]}))
        top = ", ".join(r["doc_id"] for r in row["retrieved"][:3])
        lines.append(f"| {row['id']} | {_cell(row['question'], 110)} | {gold} | {top} |")
    return [*lines, "", "All questions with their retrieved passages are in `per_question.jsonl`.", ""]


def _settings_section(config: dict[str, Any]) -> list[str]:
    chunking = ", ".join(f"{k}={v}" for k, v in (config.get("chunking") or {}).items())
    retrieval = ", ".join(f"{k}={v}" for k, v in (config.get("retrieval") or {}).items())
    llm = config.get("llm") or {}
    return [
        "## Configuration",
        "",
        f"- chunking: {chunking}",
        f"- retrieval: {retrieval}",
        f"- LLM: {llm.get('model')} (gguf sha256 `{llm.get('gguf_sha256')}`), "
        f"prompt `{config.get('prompt_file')}`",
        "- the complete configuration is under `config` in `metrics.json`",
        "",
    ]


# -- answers ------------------------------------------------------------------------------------------------
ANSWER_METRICS = (
    ("questions", "questions asked"),
    ("answered", "questions answered (not declined)"),
    ("exact_match", "answer equals a gold answer (normalised)"),
    ("token_f1", "word overlap with the best gold answer (of the short answer where one is shown)"),
    ("token_f1_answer", "word overlap of the whole answer sentence with the best gold answer"),
    ("short_answer_rate", "share of questions answered with a short answer shown above the sentence"),
    ("citation_validity", "share of citation markers that point at an offered source"),
    ("citation_precision", "share of shown citations that point at the gold passage"),
    ("citation_recall", "share of questions with at least one citation of the gold passage"),
    ("source_recall", "share of questions whose offered sources contain the gold passage"),
    ("abstention_rate", "share of questions declined"),
    ("wrong_citation_rate", "share of questions answered without citing the gold passage"),
    ("wrong_document_rate", "share of questions answered citing no gold document"),
    ("latency_p50_s", "median seconds per answer"),
    ("latency_p95_s", "95th percentile seconds per answer"),
    ("latency_first_token_p50_s", "median seconds to the first token (prefill)"),
    ("tokens_per_s", "generated tokens per second"),
)


def answers_report(
    title: str, metrics: dict[str, Any], rows: Sequence[dict[str, Any]], notes: Sequence[str]
) -> str:
    config = metrics["config"]
    lines = [
        f"# Answer evaluation: {title}",
        "",
        *_run_facts(config),
        f"- LLM: `{(config.get('llm') or {}).get('name')}`",
        "",
    ]
    lines += ["## Metrics", "", "| metric | value | meaning |", "|---|---|---|"]
    lines += [f"| {key} | {format_value(metrics.get(key))} | {meaning} |" for key, meaning in ANSWER_METRICS]
    lines += ["", *[f"- {note}" for note in notes]]
    lines += [
        "## Answers",
        "",
        "| id | question | short | answer | gold | F1 | cited gold |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows[:50]:
        f1 = "–" if row["token_f1"] is None else f"{row['token_f1']:.2f}"
        lines.append(
            f"| {row['id']} | {_cell(row['question'], 80)} | {_cell(row.get('short_answer') or '–', 40)} | "
            f"{_cell(row['answer'], 100)} | "
            f"{_cell(' / '.join(row['answers']), 40)} | {f1} | {'yes' if row['cited_hits'] else 'no'} |"
        )
    return "\n".join([*lines, "", *_settings_section(config)]) + "\n"


# -- comparison ---------------------------------------------------------------------------------------------
def compare_markdown(deltas: Sequence[Delta]) -> str:
    lines = ["| metric | A | B | change | better | regressed |", "|---|---|---|---|---|---|"]
    for d in deltas:
        change = f"{d.change:+.4f}"
        if d.relative and d.relative_change is not None:
            change += f" ({d.relative_change:+.1%})"
        better = {"higher": "higher", "lower": "lower", "info": "–"}[d.direction]
        lines.append(
            f"| {d.name} | {format_value(d.before)} | {format_value(d.after)} | {change} | {better} | "
            f"{'**yes**' if d.regressed else ''} |"
        )
    return "\n".join(lines) + "\n"


def format_value(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _cell(text: str, limit: int) -> str:
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
