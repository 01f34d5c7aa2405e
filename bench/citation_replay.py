"""Citation check replayed: a stored `kb eval answers` run's model replies checked again with the checker of
this working tree, without the model. Shows what a change of `service/citations.py` does to answered, F1,
citation precision and recall — in a minute instead of an hour of generation.

Each run folder needs `per_question.jsonl` with `model_output` (runs since 2026-12-01) and `metrics.json`. The
sources a reply was checked against are rebuilt from the cached evaluation index (the same chunks: doc id and
character span as stored in the row, title and section path from the payload) and passed to
`service.answering.verify_reply`, the function the service runs on every reply. Rows without a model reply
(retrieval found nothing relevant) stay as they are. With the checker the run was made with, the replay must
agree with the stored verdicts on every question (`agree`).

Run from the repository root, e.g.:
    .venv/bin/python bench/citation_replay.py --run xquad-de=/tmp/xq/kurz100 --run karlsruhe-qa=/tmp/ks100/kurz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import DATASETS, RunInfo, md_table, write_section
from eval.runner import _prepare, answer_metrics, eval_settings, verdict_fields
from ingest.domain import AccessScope, ScoredChunk
from ingest.store import Provenance, SearchFilters, SearchMode, build_store
from service.answering import Source, verify_reply
from service.config import Settings

SETS = {
    "xquad-de": (DATASETS / "xquad-de/corpus", DATASETS / "xquad-de/questions-dev.jsonl"),
    "karlsruhe-qa": (DATASETS / "karlsruhe-qa/corpus", DATASETS / "karlsruhe-qa/questions-dev.jsonl"),
}
SHOWN = (
    "answered",
    "token_f1",
    "exact_match",
    "citation_precision",
    "citation_recall",
    "wrong_citation_rate",
    "abstention_rate",
)


def chunks_by_span(name: str, settings: Settings) -> dict[tuple[str, int, int], ScoredChunk]:
    corpus, questions = SETS[name]
    setup = _prepare(corpus, questions, None, settings, Path.home() / ".cache/kb/eval", print)
    store = build_store(eval_settings(settings, setup.index.store_path).store, setup.embedder.dim)
    try:
        points = store.scroll(AccessScope.everything(), SearchFilters())
    finally:
        store.close()
        setup.close()
    out = {}
    for point in points:
        p = Provenance.from_payload(point.payload)
        out[(p.doc_id, p.char_start, p.char_end)] = point
    return out


def replay_row(
    row: dict[str, Any], chunks: dict[tuple[str, int, int], ScoredChunk], min_support: float
) -> dict[str, Any]:
    raw = row.get("model_output")
    if not raw:
        return row
    sources = [
        Source.from_hit(s["number"], chunks[(s["doc_id"], s["char_start"], s["char_end"])])
        for s in row["sources"]
    ]
    result = verify_reply(row["question"], raw, sources, min_support)
    hitting = {s["number"] for s in row["sources"] if s["hit"]}
    return {**row, **verdict_fields(result, row["answers"], hitting)}


def verdict(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["declined"], tuple(row["cited"]), row["answer"], row.get("short_answer"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", action="append", required=True, help="SET=DIR (SET: xquad-de, karlsruhe-qa)")
    parser.add_argument(
        "--show-changes", action="store_true", help="print each question whose verdict changed"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    run_info = RunInfo()
    settings = Settings()
    table = []
    for spec in args.run:
        name, _, folder = spec.partition("=")
        directory = Path(folder)
        rows = [json.loads(line) for line in (directory / "per_question.jsonl").open(encoding="utf-8")]
        stored = json.loads((directory / "metrics.json").read_text(encoding="utf-8"))
        config = stored["config"]
        min_support = config["answer"]["min_support"]
        chunks = chunks_by_span(name, settings)
        replayed = [replay_row(row, chunks, min_support) for row in rows]
        before = answer_metrics(rows, SearchMode(config["mode"]), config)
        after = answer_metrics(replayed, SearchMode(config["mode"]), config)
        agree = sum(verdict(a) == verdict(b) for a, b in zip(rows, replayed, strict=True))
        for metric in SHOWN:
            table.append([name, metric, _fmt(before.get(metric)), _fmt(after.get(metric))])
        table.append([name, "verdicts unchanged", "", f"{agree} / {len(rows)}"])
        if args.show_changes:
            for a, b in zip(rows, replayed, strict=True):
                if verdict(a) != verdict(b):
                    print(
                        f"{a['id']}: {a['answer']!r} → {b['answer']!r} (cited {a['cited']} → {b['cited']}, "
                        f"on gold {a['cited_hits']} → {b['cited_hits']})"
                    )
    run_info.finish()
    text = md_table(["set", "metric", "as stored", "replayed with this checker"], table)
    print(text)
    if not args.no_write:
        body = "\n".join(
            [
                run_info.markdown(),
                "- runs: " + ", ".join(f"`{r}`" for r in args.run) + " (model replies as stored)\n",
                text,
            ]
        )
        write_section("citation_replay", "(s) Citation check replayed on stored model replies", body)


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
