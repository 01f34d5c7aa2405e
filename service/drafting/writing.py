"""Planning and writing drafts: section by section through `CitedGenerator`, every statement verified,
the draft saved after each section (so a draft whose process died resumes at the next unwritten one)."""

from __future__ import annotations

import contextvars
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ingest.domain import AccessScope
from ingest.store import Store
from service import citations
from service.cited_generation import CitedGenerator, Prompted, Reply, SourceBook, check_statements
from service.config import Settings
from service.drafting.decisions import decision_statements
from service.drafting.errors import DraftStateConflict
from service.drafting.model import DraftState, QuestionRetrieval, SectionState, StatementState
from service.drafting.planning import overview, plan_sections, retrieve_for
from service.drafting.repository import DraftRepository, new_draft_id
from service.drafting.templates import DECISIONS_KIND, load_template
from service.llm import LLM
from service.prompting import load_prompt
from service.retrieval import Retriever
from service.support_judge import SupportJudge


@dataclass(frozen=True)
class DraftEvent:
    """Progress: `plan` once, `section` after each written section (with its index), `done` at the end."""

    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class SectionWork:
    """A model-written section between its retrieval and its check: the prompt to send and what was asked."""

    prompted: Prompted
    marks: dict[str, str]
    asked: list[tuple[str, list[str], bool]]


@dataclass(frozen=True)
class StatementEdit:
    section: int
    index: int | None = None  # None: a new statement appended to the section
    text: str | None = None
    sources: list[int] | None = None
    delete: bool = False


def judging(settings: Settings) -> bool:
    """Whether drafts ask the model's yes/no per accepted statement (`KB_DRAFT__MODEL_JUDGE`; auto: only
    against an OpenAI-compatible server)."""
    mode = settings.draft.model_judge
    return mode == "on" or (mode == "auto" and settings.llm.backend == "openai")


def _sha256_file(path: Any) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def draft_text_sha256(draft: DraftState) -> str:
    """A fingerprint of the written text and its citations (what a replay must reproduce)."""
    digest = hashlib.sha256()
    for section in draft.sections:
        digest.update(section.title.encode())
        for s in section.statements:
            digest.update(f"\n{s.text}|{s.sources}|{s.marked}".encode())
            if s.lead:
                digest.update(f"|{s.lead}".encode())
    return digest.hexdigest()


class Drafter:
    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        store: Store,
        llm: Callable[[], LLM],
        repository: DraftRepository,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.store = store
        self.llm = llm
        self.repository = repository

    # -- plan -----------------------------------------------------------------------------------------------
    def plan(
        self,
        topic: str,
        scope: AccessScope,
        *,
        owner: str,
        template: str | None = None,
        working_group: str | None = None,
        questions: list[list[str]] | None = None,
    ) -> DraftState:
        """First search on the topic, then the sections' sub-questions; stored with status `planned`."""
        chosen = load_template(self.settings.prompts_dir, template or self.settings.draft.template)
        sections = plan_sections(chosen, topic, self.settings.draft)
        if questions is not None:
            for section, asked in zip(sections, questions, strict=False):
                given = [q.strip() for q in asked if q.strip()][: self.settings.draft.max_questions]
                section.questions = given or section.questions
        draft = DraftState(
            id=new_draft_id(),
            owner=owner,
            topic=topic,
            template=chosen.name,
            title=chosen.title_for(topic),
            working_group=working_group,
            overview=overview(self.retriever, topic, scope),
            sections=sections,
        )
        self.repository.save(draft)
        return draft

    def edit_plan(self, draft: DraftState, questions: list[list[str]]) -> DraftState:
        if draft.status != "planned":
            raise DraftStateConflict("Der Plan kann nur vor dem Schreiben geändert werden")
        for section, asked in zip(draft.sections, questions, strict=False):
            cleaned = [q.strip() for q in asked if q.strip()][: self.settings.draft.max_questions]
            if cleaned:
                section.questions = cleaned
        self.repository.save(draft)
        return draft

    # -- write ----------------------------------------------------------------------------------------------
    def _record(self, draft: DraftState, llm: LLM) -> dict[str, Any]:
        from service.model_files import MODELS

        cfg = self.settings
        prompt_path = cfg.prompts_dir / cfg.draft.prompt_file
        judge_path = cfg.prompts_dir / cfg.draft.judge_prompt_file
        template = load_template(cfg.prompts_dir, draft.template)
        # The sha256 of the weights is known for the models `kb models` assembles (verified on load).
        local = cfg.llm.backend == "llama_cpp" and llm.name.startswith("llama.cpp/")
        spec = MODELS.get(cfg.llm.model) if local else None
        return {
            "topic": draft.topic,
            "template": draft.template,
            "template_sha256": template.sha256,
            "working_group": draft.working_group,
            "prompt_file": cfg.draft.prompt_file,
            "prompt_sha256": _sha256_file(prompt_path),
            "model": llm.name,
            "model_sha256": spec.sha256 if spec else None,
            "llm": {
                "backend": cfg.llm.backend,
                "model": cfg.llm.model if cfg.llm.backend == "llama_cpp" else cfg.llm.api_model,
                "seed": cfg.llm.seed,
                "temperature": cfg.llm.temperature,
                "n_ctx": cfg.llm.n_ctx,
            },
            "seed": cfg.llm.seed,
            "embedder": getattr(self.retriever.embedder, "name", type(self.retriever.embedder).__name__),
            "retrieval": cfg.retrieval.model_dump(mode="json"),
            "draft_settings": cfg.draft.model_dump(mode="json"),
            "min_support": cfg.answer.min_support,
            "support_judge": (
                {"prompt_file": cfg.draft.judge_prompt_file, "prompt_sha256": _sha256_file(judge_path)}
                if judging(self.settings)
                else None
            ),
            "plan": [s.questions for s in draft.sections],
            "chunks": [],
            "text_sha256": None,
        }

    def write(self, draft: DraftState, scope: AccessScope) -> Iterator[DraftEvent]:
        """Write every unwritten section in order; the draft is saved after each one."""
        if draft.status not in ("planned", "writing"):
            raise DraftStateConflict(f"Entwurf im Status {draft.status!r} wird nicht mehr geschrieben")
        llm = self.llm()
        cfg = self.settings
        if "prompt_sha256" not in draft.record:
            draft.record = {**self._record(draft, llm), **draft.record}
        draft.status = "writing"
        self.repository.save(draft)
        yield DraftEvent("plan", {"id": draft.id, "sections": [s.title for s in draft.sections]})
        generator = CitedGenerator(
            llm,
            load_prompt(cfg.prompts_dir / cfg.draft.prompt_file),
            cfg.draft.prompt_budget_tokens,
            cfg.draft.max_tokens,
            cfg.answer.min_support,
            instruction_variables=("section", "guidance", "questions"),
            judge=self._judge(llm),
        )
        book = draft.book()
        parallel = max(1, cfg.draft.parallel_sections)
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="draft-section") as pool:
            while batch := self._next_batch(draft, parallel):
                started = time.perf_counter()
                # The model calls of a batch run at once (a server batches them); everything else — the
                # numbering into the book, duplicate removal, saving — runs in section order afterwards.
                work = {i: self._prepare_section(draft, draft.sections[i], scope, generator) for i in batch}
                replies = {
                    i: pool.submit(contextvars.copy_context().run, generator.complete, w.prompted)
                    for i, w in work.items()
                    if w is not None and parallel > 1
                }
                for index in batch:
                    section = draft.sections[index]
                    section_work = work[index]
                    if section_work is None:
                        self._write_decisions(draft, section, scope, book)
                    else:
                        reply = (
                            replies[index].result()
                            if index in replies
                            else generator.complete(section_work.prompted)
                        )
                        self._finish_section(draft, section, section_work, reply, book, generator)
                    section.written = True
                    # Time since the previous section was done: in a parallel batch the first one carries
                    # the batch's model time, the others what was left of theirs.
                    section.seconds = round(time.perf_counter() - started, 3)
                    started = time.perf_counter()
                    section.refresh_note()
                    draft.take_book(book)
                    draft.record["chunks"] = [
                        {
                            "number": s.number,
                            "point_id": s.point_id,
                            "doc_id": s.doc_id,
                            "revision": s.revision,
                        }
                        for s in draft.sources
                    ]
                    self.repository.save(draft)
                    yield DraftEvent(
                        "section",
                        {
                            "index": index,
                            "total": len(draft.sections),
                            "section": section.model_dump(mode="json"),
                        },
                    )
        draft.status = "draft"
        draft.record["text_sha256"] = draft_text_sha256(draft)
        if draft.record.get("replay_expected"):
            draft.record["replay_matches"] = draft.record["replay_expected"] == draft.record["text_sha256"]
        self.repository.save(draft)
        yield DraftEvent("done", {"id": draft.id})

    def _judge(self, llm: LLM) -> SupportJudge | None:
        """The model's yes/no per accepted statement, when on (service/support_judge.py)."""
        if not judging(self.settings):
            return None
        cfg = self.settings
        parallel = cfg.llm.concurrency if cfg.llm.backend == "openai" else 1
        return SupportJudge(
            llm, load_prompt(cfg.prompts_dir / cfg.draft.judge_prompt_file), parallel=parallel
        )

    def _earlier(self, draft: DraftState, section: SectionState) -> list[str]:
        return [s.text for other in draft.sections if other is not section for s in other.statements]

    def _write_decisions(
        self, draft: DraftState, section: SectionState, scope: AccessScope, book: SourceBook
    ) -> None:
        statements = decision_statements(
            self.store, scope, draft.topic, book, min_support=self.settings.answer.min_support
        )
        section.statements = [s for s in statements if s.supported]
        section.removed = [s for s in statements if not s.supported]

    @staticmethod
    def _next_batch(draft: DraftState, size: int) -> list[int]:
        """The next unwritten sections, in order, holding at most `size` model-written ones."""
        batch: list[int] = []
        model_sections = 0
        for i, section in enumerate(draft.sections):
            if section.written:
                continue
            if section.kind != DECISIONS_KIND:
                if model_sections == size:
                    break
                model_sections += 1
            batch.append(i)
        return batch

    def _prepare_section(
        self, draft: DraftState, section: SectionState, scope: AccessScope, generator: CitedGenerator
    ) -> SectionWork | None:
        """Retrieval per sub-question and the prompt; None for a decisions section (no model)."""
        if section.kind == DECISIONS_KIND:
            return None
        cfg = self.settings.draft
        hits: dict[str, Any] = {}
        marks: dict[str, str] = {}
        asked: list[tuple[str, list[str], bool]] = []
        for question in section.questions:
            found = retrieve_for(self.retriever, question, scope, cfg)
            for hit in found.hits:
                hits.setdefault(hit.point_id, hit)
            marks.update(found.marks)
            asked.append((question, [h.point_id for h in found.hits], found.fallback))
        offered = list(hits.values())[: cfg.max_sources]
        earlier = self._earlier(draft, section)
        context = (
            "\n".join(f"- {s}" for s in earlier[-cfg.context_statements :]) if cfg.context_statements else ""
        )
        prompted = generator.prompt(
            offered,
            {
                "topic": draft.topic,
                "section": section.title,
                "guidance": section.guidance,
                "questions": "\n".join(f"- {q}" for q in section.questions),
                "context": context or "(noch nichts)",
            },
        )
        return SectionWork(prompted, marks, asked)

    def _finish_section(
        self,
        draft: DraftState,
        section: SectionState,
        work: SectionWork,
        reply: Reply,
        book: SourceBook,
        generator: CitedGenerator,
    ) -> None:
        cfg = self.settings.draft
        generated = generator.check(work.prompted, reply, book, marks=work.marks)
        asked = work.asked
        # Sections finished before this one (in this batch too) count for duplicates.
        earlier = self._earlier(draft, section)
        section.retrieval = [
            QuestionRetrieval(question=q, point_ids=ids, fallback=fallback) for q, ids, fallback in asked
        ]
        section.valid_output = generated.valid_output
        section.truncated = generated.truncated
        section.echoes_cut = generated.echoes_cut
        kept: list[StatementState] = []
        section.removed, section.duplicates = [], []
        for checked in generated.statements:
            if any(
                citations.near_duplicate(checked.text, other, threshold=cfg.duplicate_threshold)
                for other in [*earlier, *(s.text for s in kept)]
            ):
                section.duplicates.append(checked.text)
                continue
            statement = StatementState(
                text=checked.text,
                sources=list(checked.sources),
                cited=list(checked.cited),
                supported=checked.supported,
                reattributed=checked.reattributed,
                reasons=list(checked.reasons),
            )
            if checked.supported:
                kept.append(statement)
            elif cfg.unsupported == "mark":
                statement.marked = True
                kept.append(statement)
            else:
                section.removed.append(statement)
        if not any(s.supported for s in kept):
            section.removed += kept  # "Keine belastbare Quelle gefunden." instead of unsupported text
            kept = []
        section.statements = kept
        section.conflicts = conflicts_of(draft, section, book)

    # -- review ---------------------------------------------------------------------------------------------
    def edit(self, draft: DraftState, edits: list[StatementEdit], remove_sources: list[int]) -> DraftState:
        """Edit statements and remove sources; every touched statement is verified again against the
        passages it cites (no re-attribution: the editor chose them). Unsupported edits are kept, marked."""
        if draft.status not in ("draft", "in_review"):
            raise DraftStateConflict(f"Entwurf im Status {draft.status!r} kann nicht bearbeitet werden")
        book = draft.book()
        judge = self._judge(self.llm()) if judging(self.settings) else None
        removed = set(remove_sources)
        for source in draft.sources:
            if source.number in removed:
                source.removed = True
        gone = {s.number for s in draft.sources if s.removed}
        passages = {n: e.seen_text for n, e in book.entries.items() if n not in gone}
        touched: set[tuple[int, int]] = set()
        for edit in edits:
            if not 0 <= edit.section < len(draft.sections):
                raise DraftStateConflict(f"Abschnitt {edit.section} gibt es nicht")
            section = draft.sections[edit.section]
            if edit.index is None:
                section.statements.append(StatementState(text=edit.text or "", origin="editor"))
                touched.add((edit.section, len(section.statements) - 1))
                target = section.statements[-1]
            else:
                if not 0 <= edit.index < len(section.statements):
                    raise DraftStateConflict(
                        f"Aussage {edit.index} in Abschnitt {edit.section} gibt es nicht"
                    )
                target = section.statements[edit.index]
                touched.add((edit.section, edit.index))
            if edit.delete:
                target.text = ""
                continue
            if edit.text is not None:
                target.text = edit.text
                target.origin = "editor"
            if edit.sources is not None:
                target.cited = target.sources = list(edit.sources)
                target.lead = None  # the provenance of sources the editor replaced
        for si, section in enumerate(draft.sections):
            for ii, statement in enumerate(section.statements):
                if statement.text and (
                    (si, ii) in touched or set(statement.cited) & gone or set(statement.sources) & gone
                ):
                    cited = [n for n in (statement.sources or statement.cited) if n not in gone]
                    backing = {n: passages[n] for n in cited if n in passages}
                    checked_now = check_statements(
                        [(statement.text, cited)],
                        backing,
                        min_support=self.settings.answer.min_support,
                        reattribute=False,
                    )
                    if judge is not None:
                        checked_now = judge.review(checked_now, backing)
                    [checked] = checked_now
                    statement.cited = cited
                    statement.sources = list(checked.sources)
                    statement.supported = checked.supported
                    statement.reasons = list(checked.reasons)
                    statement.marked = not checked.supported
            section.statements = [s for s in section.statements if s.text]
            if section.kind != DECISIONS_KIND:
                section.conflicts = conflicts_of(draft, section, book, exclude=gone)
            section.refresh_note()
        if draft.record:
            draft.record["edited"] = True
        self.repository.save(draft)
        return draft


def conflicts_of(
    draft: DraftState, section: SectionState, book: SourceBook, exclude: set[int] | None = None
) -> list[str]:
    """Conflicts between the passages a section cites: different figures for the same thing."""
    numbers = sorted(
        {
            n
            for s in section.statements
            for n in s.sources
            if n in book.entries and n not in (exclude or set())
        }
    )
    found = citations.find_conflicts([book.entries[n].text for n in numbers])
    return [
        f"{c.description} (Quellen [{numbers[c.passages[0]]}] und [{numbers[c.passages[1]]}])" for c in found
    ]
