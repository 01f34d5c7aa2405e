"""Retrieval recall of follow-up questions, with and without the follow-up rewrite (service/condense.py).

The Karlsruhe council inquiries number their questions; some lean on the previous one ("Falls nein, warum
nicht?", "Wie viele davon …"). A follow-up here is a gold question whose id directly follows a question about
the same Stellungnahme (consecutive ids, same gold document) and that opens like a follow-up (Falls/Wenn
ja/nein/Und/Sofern/Gegebenenfalls …) or points back with a demonstrative or pronominal adverb (dies…, davon,
dafür, dazu, hierzu, deren, dort …). Its history is the preceding questions of the same inquiry (up to three),
without their answers: the gold answer would leak the neighbouring passage, and a model answer would mix
answer quality into a retrieval figure.

For each follow-up three queries are searched (hybrid, the configured retrieval settings) on the index that
`kb eval retrieval` caches (eval/runner.py):
  - `plain`:    the follow-up as asked;
  - `rewrite`:  what the chat path searches (heuristic, then the model's standalone rewrite);
  - `concat`:   previous question + follow-up, a model-free reference.
It also reports how often the heuristic would trigger a rewrite on the first question of each inquiry (which
stands alone by construction): the cost of needless model calls.

    python -m eval.conversational --limit 80 --out eval/results/conversational-karlsruhe-qa

The rewrites (the model) and the index (the embedder) are cached separately in the eval cache folder, so
`--rewrites-only` can run them first, and a second run reuses both.

Uses the LLM of the usual settings (KB_LLM__*, default qwen2.5-1.5b). The output holds ids, ranks and
timings, never question or passage text (the Karlsruhe texts must not be redistributed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eval import metrics as m
from eval.gold import Question, load_questions
from eval.runner import Log, _prepare, _retrieved, default_cache_dir, eval_settings, llm_config
from ingest.domain import AccessScope
from service.condense import CONDENSE_PROMPT, Condensed, Condenser, Turn, needs_rewrite
from service.config import Settings
from service.prompting import load_prompt

DATASET = Path("/work/shared/datasets/karlsruhe-qa")
FOLLOW_UP = re.compile(
    r"^\s*(und|falls|wenn\s+(ja|nein|nicht)|sofern|ggf|gegebenenfalls|andernfalls)\b|"
    r"\b(dies|diese|dieser|dieses|diesem|diesen|davon|dafür|dazu|hierzu|hierfür|deren|dort)\b",
    re.IGNORECASE,
)
HISTORY = 3


@dataclass(frozen=True)
class FollowUp:
    question: Question
    history: tuple[Question, ...]


def _number(question: Question) -> int:
    return int(question.id.rsplit("-", 1)[1])


def _doc(question: Question) -> str:
    return question.relevant[0].doc if question.relevant else ""


def inquiries(questions: list[Question]) -> list[list[Question]]:
    """Runs of consecutive ids about the same document: one inquiry each."""
    runs: list[list[Question]] = []
    for q in questions:
        if runs and _number(runs[-1][-1]) == _number(q) - 1 and _doc(runs[-1][-1]) == _doc(q):
            runs[-1].append(q)
        else:
            runs.append([q])
    return runs


def follow_ups(questions: list[Question]) -> list[FollowUp]:
    found: list[FollowUp] = []
    for run in inquiries(questions):
        for i, q in enumerate(run[1:], start=1):
            if FOLLOW_UP.search(q.question):
                found.append(FollowUp(q, tuple(run[max(0, i - HISTORY) : i])))
    return found


def rewrites_cached(
    selected: list[FollowUp], settings: Settings, cache_dir: Path, log: Log
) -> dict[str, Condensed]:
    """The rewrite of every follow-up, cached by questions, prompt and LLM configuration (the model is the
    slow part; the index is cached separately by eval/runner.py)."""
    prompt_path = settings.prompts_dir / CONDENSE_PROMPT
    material = {
        "ids": [f.question.id for f in selected],
        "questions": [[h.question for h in f.history] + [f.question.question] for f in selected],
        "prompt": prompt_path.read_text(encoding="utf-8"),
        "llm": llm_config(settings),
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"conversational-rewrites-{key}.json"
    # Written after every rewrite, so an interrupted run resumes where it stopped.
    out: dict[str, Condensed] = {}
    if path.is_file():
        out = {k: Condensed(**v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        log(f"rewrites: {len(out)} of {len(selected)} cached in {path.name}")
    missing = [f for f in selected if f.question.id not in out]
    if not missing:
        return out
    from service.llm import build_llm

    condenser = Condenser(build_llm(settings.llm), load_prompt(prompt_path))
    cache_dir.mkdir(parents=True, exist_ok=True)
    for number, item in enumerate(missing, start=1):
        history = [Turn(h.question) for h in item.history]
        done = condenser.condense(item.question.question, history)
        out[item.question.id] = done
        log(f"rewrite {number}/{len(missing)} {item.question.id}: {done.reason} ({done.seconds:.1f} s)")
        path.write_text(
            json.dumps({k: asdict(v) for k, v in out.items()}, ensure_ascii=False), encoding="utf-8"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DATASET / "corpus")
    parser.add_argument("--questions", type=Path, default=DATASET / "questions-dev.jsonl")
    parser.add_argument("--limit", type=int, default=80, help="Follow-ups evaluated (the first N found).")
    parser.add_argument("--k", type=int, default=5, help="Recall cut-off.")
    parser.add_argument("--out", type=Path, default=Path("eval/results/conversational-karlsruhe-qa"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument(
        "--rewrites-only",
        action="store_true",
        help="Only compute the rewrites (model, no index) and cache them; a later run reuses them.",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    settings = Settings()
    all_questions = load_questions(args.questions)
    selected = follow_ups(all_questions)
    total_follow_ups = len(selected)
    selected = selected[: args.limit]
    firsts = [run[0] for run in inquiries(all_questions)]
    cache_dir = args.cache_dir or default_cache_dir()
    rewrites = rewrites_cached(selected, settings, cache_dir, log)
    if args.rewrites_only:
        return 0
    setup = _prepare(args.corpus, args.questions, None, settings, cache_dir, log)

    from service.app import build_services

    services = build_services(eval_settings(settings, setup.index.store_path), embedder=setup.embedder)
    rows: list[dict[str, Any]] = []
    try:
        for number, item in enumerate(selected, start=1):
            condensed = rewrites[item.question.id]
            queries = {
                "plain": item.question.question,
                "rewrite": condensed.query,
                "concat": f"{item.history[-1].question} {item.question.question}",
            }
            relevant = setup.locator.golds(item.question.relevant)
            ranks: dict[str, int | None] = {}
            for name, query in queries.items():
                hits = services.retriever.search(query, AccessScope.everything(), top_k=args.k).hits
                per_rank = m.hit_sets([_retrieved(h) for h in hits], relevant, item.question.answers)
                ranks[name] = m.first_hit_rank(per_rank)
            rows.append(
                {
                    "id": item.question.id,
                    "history_ids": [h.id for h in item.history],
                    "rewrite_reason": condensed.reason,
                    "rewrite_s": round(condensed.seconds, 3),
                    **{f"rank_{name}": rank for name, rank in ranks.items()},
                }
            )
            log(
                f"{number}/{len(selected)} {item.question.id}: {condensed.reason} ({condensed.seconds:.1f} s) "
                f"ranks {ranks}"
            )
    finally:
        services.store.close()
        setup.close()

    rewrite_times = [
        r["rewrite_s"] for r in rows if r["rewrite_reason"] in ("rewritten", "unchanged_by_model")
    ]
    metrics: dict[str, Any] = {
        "follow_ups_found": total_follow_ups,
        "follow_ups_evaluated": len(rows),
        "k": args.k,
        **{
            f"recall@{args.k}_{name}": round(m.recall_at_k([r[f"rank_{name}"] for r in rows], args.k), 4)
            for name in ("plain", "rewrite", "concat")
        },
        "rewritten": sum(r["rewrite_reason"] == "rewritten" for r in rows),
        "rewrite_failed": sum(r["rewrite_reason"] == "rewrite_failed" for r in rows),
        "unchanged_by_model": sum(r["rewrite_reason"] == "unchanged_by_model" for r in rows),
        "heuristic_skipped": sum(r["rewrite_reason"] == "standalone" for r in rows),
        "rewrite_s_p50": m.percentile(rewrite_times, 50),
        "rewrite_s_p95": m.percentile(rewrite_times, 95),
        "heuristic_triggers_on_first_questions": round(
            sum(needs_rewrite(q.question) for q in firsts) / max(1, len(firsts)), 4
        ),
        "first_questions": len(firsts),
        "config": {
            "llm": llm_config(settings),
            "retrieval": settings.retrieval.model_dump(mode="json"),
            "embedder": setup.embedder.name,
            "index_key": setup.index.key,
            "questions": str(args.questions),
            "limit": args.limit,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    with (args.out / "per_question.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    raise SystemExit(code)
