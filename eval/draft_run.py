"""`kb eval drafts`: write one recommendation draft per topic on the cached evaluation index and score it.

Drafting runs in process through the service's own drafting path (`service.routes.drafts.drafter`: plan, then
write section by section with verification), on the services `build_services` makes for the cached index,
with the configured LLM (or one handed in by a test). Drafts are stored in a throw-away database.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.draft_gold import Topic, load_topics
from eval.draft_scoring import DraftScore, FactGold, Passage, Statement, overall, score_draft
from eval.gold import Corpus, EvalInputError, SpanLocator
from eval.metrics import percentile
from eval.runner import Log, check_corpus, eval_settings, indexed_corpus, run_config
from eval.vector_cache import CachedEmbedder
from ingest.domain import AccessScope
from ingest.embedding import Embedder, build_embedder
from ingest.store import Provenance, SearchFilters, Store
from service.config import Settings
from service.drafting.model import DraftState
from service.drafting.templates import load_template
from service.llm import LLM

OWNER = "eval"


@dataclass
class DraftRunOutput:
    metrics: dict[str, Any]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class _Timing:
    plan_s: float
    first_section_s: float | None
    total_s: float


def run_drafts(
    corpus: Corpus,
    topics_file: Path,
    *,
    template: str | None,
    limit: int | None,
    cache_dir: Path,
    settings: Settings,
    log: Log,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
) -> DraftRunOutput:
    from service.app import build_services
    from service.db import open_database
    from service.routes.drafts import drafter

    check_corpus(corpus)
    topics = load_topics(topics_file, limit)
    embedder = CachedEmbedder(embedder or build_embedder(settings.embedding), settings.embedding, cache_dir)
    index, doc_ids = indexed_corpus(corpus, settings, embedder, cache_dir, log)
    locator = SpanLocator(doc_ids)
    facts = {t.id: _fact_golds(t, locator) for t in topics}
    paths = _paths_by_doc_id(doc_ids, topics_file)
    with tempfile.TemporaryDirectory(prefix="kb-eval-drafts-") as tmp:
        database = open_database(f"sqlite:///{Path(tmp) / 'drafts.sqlite3'}")
        services = build_services(
            eval_settings(settings, index.store_path), embedder=embedder, llm=llm, database=database
        )
        rows: list[dict[str, Any]] = []
        scores: list[DraftScore] = []
        timings: list[_Timing] = []
        try:
            started = time.perf_counter()
            services.llm.count_tokens("")  # the model is built here, not inside the first draft's timing
            model_load_s = round(time.perf_counter() - started, 2)
            maker = drafter(services)
            scope = AccessScope.everything()
            where = _provenances(services.store)
            for number, topic in enumerate(topics, start=1):
                draft, timing = _write(maker, topic, template, scope)
                statements, passages = _statements(draft, where)
                score = score_draft(
                    statements,
                    passages,
                    facts[topic.id],
                    min_support=settings.answer.min_support,
                    retrieved=_retrieved(draft, where),
                )
                rows.append(_row(topic, draft, timing, statements, passages, score, paths))
                scores.append(score)
                timings.append(timing)
                log(
                    f"drafts: {number}/{len(topics)} {topic.id}: {score.covered}/{len(score.facts)} key facts, "
                    f"{score.kept} statements kept, {score.removed} removed, {timing.total_s:.1f} s"
                )
            llm_name = services.llm_name
        finally:
            services.close_llm()
            services.pipeline.parser.close()
            services.store.close()
            database.engine.dispose()
            embedder.save()
    config = run_config(
        settings,
        embedder,
        index,
        corpus=corpus,
        questions_file=topics_file,
        limit=limit,
        k=settings.draft.hits_per_question,
        mode=settings.retrieval.mode,
    )
    config["llm"]["name"] = llm_name
    config["llm"]["load_s"] = model_load_s
    chosen = load_template(
        settings.prompts_dir, rows[0]["template"] if rows else template or settings.draft.template
    )
    config["draft"] = {
        **settings.draft.model_dump(mode="json"),
        "template": chosen.name,
        "template_sha256": chosen.sha256,
    }
    config["min_support"] = settings.answer.min_support
    metrics: dict[str, Any] = {"topics": len(rows), **overall(scores), **_time_metrics(timings)}
    metrics["mode"] = settings.retrieval.mode.value
    metrics["config"] = config
    return DraftRunOutput(metrics, rows)


def _fact_golds(topic: Topic, locator: SpanLocator) -> list[FactGold]:
    """The topic's key facts with their gold spans under the doc ids of the corpus."""
    golds: list[FactGold] = []
    for fact in topic.key_facts:
        try:
            golds.append(FactGold(fact.id, fact.values, locator.gold(fact.source)))
        except EvalInputError as exc:
            raise EvalInputError(
                f"topic {topic.id}, key fact {fact.id}: {exc} (add its folder with --corpus)"
            ) from exc
    return golds


def _write(maker: Any, topic: Topic, template: str | None, scope: AccessScope) -> tuple[DraftState, _Timing]:
    """Plan and write one draft as the service does; seconds to the plan, the first section and the end."""
    started = time.perf_counter()
    draft = maker.plan(topic.topic, scope, owner=OWNER, template=template, working_group=topic.working_group)
    plan_s = time.perf_counter() - started
    first: float | None = None
    for event in maker.write(draft, scope):
        if event.kind == "section" and first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    return maker.repository.load(draft.id), _Timing(
        round(plan_s, 3), None if first is None else round(first, 3), round(total, 3)
    )


def _statements(
    draft: DraftState, spans: dict[str, Provenance]
) -> tuple[list[Statement], dict[int, Passage]]:
    """The draft's statements (kept, then removed, section by section) and its sources with their spans."""
    passages: dict[int, Passage] = {}
    for source in draft.sources:
        where = spans.get(source.point_id)
        passages[source.number] = Passage(
            source.number,
            source.doc_id,
            where.char_start if where else 0,
            where.char_end if where else 0,
            source.page_start,
            source.page_end,
            source.text,
        )
    statements: list[Statement] = []
    for section in draft.sections:
        for kept, group in ((True, section.statements), (False, section.removed)):
            statements += [
                Statement(s.text, section.title, kept, tuple(s.sources), tuple(s.cited), s.origin)
                for s in group
            ]
    return statements, passages


def _provenances(store: Store) -> dict[str, Provenance]:
    """Provenance (with character spans) of every stored chunk: drafts keep point ids, not spans."""
    chunks = store.scroll(AccessScope.everything(), SearchFilters())
    return {c.point_id: Provenance.from_payload(c.payload) for c in chunks}


def _retrieved(draft: DraftState, spans: dict[str, Provenance]) -> list[Passage]:
    """The passages retrieval found for the draft's sub-questions (whether offered to the model or not)."""
    ids = dict.fromkeys(pid for section in draft.sections for r in section.retrieval for pid in r.point_ids)
    return [
        Passage(0, p.doc_id, p.char_start, p.char_end, p.page_start, p.page_end, "")
        for p in (spans[pid] for pid in ids if pid in spans)
    ]


def _paths_by_doc_id(doc_ids: dict[Path, str], topics_file: Path) -> dict[str, str]:
    """Stored doc id → the document's path relative to the topics file's folder (as gold sources name it)."""
    folder = topics_file.resolve().parent
    out: dict[str, str] = {}
    for path, doc_id in sorted(doc_ids.items()):
        out.setdefault(doc_id, Path(os.path.relpath(path, folder)).as_posix())
    return out


def _row(
    topic: Topic,
    draft: DraftState,
    timing: _Timing,
    statements: Sequence[Statement],
    passages: dict[int, Passage],
    score: DraftScore,
    paths: dict[str, str],
) -> dict[str, Any]:
    by_pair = {(c.statement, c.number): c for c in score.citations}
    unsourced: dict[int, list[str]] = {}
    for index, figure, _ in score.unsourced:
        unsourced.setdefault(index, []).append(figure)
    repeats = dict(score.repeats)
    states = [
        s for section in draft.sections for group in (section.statements, section.removed) for s in group
    ]

    def citation(index: int, number: int) -> dict[str, Any]:
        p = passages[number]
        pair = by_pair.get((index, number))
        return {
            "number": number,
            "doc": paths.get(p.doc_id, p.doc_id),
            "doc_id": p.doc_id,
            "char_start": p.char_start,
            "char_end": p.char_end,
            "page_start": p.page_start,
            "page_end": p.page_end,
            "accepted": None if pair is None else pair.accepted,
            "gold_overlap": None if pair is None else pair.gold_overlap,
        }

    return {
        "id": topic.id,
        "topic": topic.topic,
        "working_group": topic.working_group,
        "template": draft.template,
        "draft_id": draft.id,
        "plan_s": timing.plan_s,
        "first_section_s": timing.first_section_s,
        "total_s": timing.total_s,
        "record": draft.record,  # the reproducibility record (`kb draft --replay`): model, hashes, chunks
        "sections": [
            {
                "title": s.title,
                "kind": s.kind,
                "seconds": s.seconds,
                "note": s.note,
                "valid_output": s.valid_output,
                "truncated": s.truncated,
                "echoes_cut": s.echoes_cut,
                "duplicates_dropped": len(s.duplicates),
                "conflicts": s.conflicts,
            }
            for s in draft.sections
        ],
        "statements": [
            {
                "section": s.section,
                "text": s.text,
                "lead": state.lead,
                "kept": s.kept,
                "supported": state.supported,
                "marked": state.marked,
                "origin": state.origin,
                "reasons": state.reasons,
                "citations": [citation(i, n) for n in (s.sources if s.kept else s.cited) if n in passages],
                "cited_by_model": list(s.cited),
                "unsourced_figures": unsourced.get(i, []),
                "repeats": repeats.get(i),
            }
            for i, (s, state) in enumerate(zip(statements, states, strict=True))
        ],
        "key_facts": [
            {"id": f.id, "fact": f.fact, "values": list(f.values), "statement": covered, "retrieved": found}
            for f, (_, covered), found in zip(topic.key_facts, score.facts, score.retrieved, strict=True)
        ],
        "key_fact_recall": _round(score.key_fact_recall),
        "key_facts_retrieved": sum(score.retrieved),
        "citation_precision": _round(score.citation_precision),
        "gold_citation_share": _round(score.gold_citation_share),
        "unsupported_removed_share": _round(score.removed_share),
        "unsourced_figures": len(score.unsourced),
        "repeated_statement_rate": _round(score.repeated_rate),
        "statements_kept": score.kept,
        "statements_removed": score.removed,
    }


def _time_metrics(timings: Sequence[_Timing]) -> dict[str, float | None]:
    firsts = [t.first_section_s for t in timings if t.first_section_s is not None]
    out: dict[str, float | None] = {}
    for name, values in (
        ("plan_s", [t.plan_s for t in timings]),
        ("first_section_s", firsts),
        ("total_s", [t.total_s for t in timings]),
    ):
        out[f"{name}_p50"] = _round(percentile(values, 50), 2)
        out[f"{name}_max"] = _round(max(values), 2) if values else None
    return out


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
