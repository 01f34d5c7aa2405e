"""The plan of a draft (sections and their sub-questions) and retrieval per sub-question within the scope."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.domain import AccessScope, DocStatus, ScoredChunk
from ingest.store import Provenance, SearchFilters, StoredChunk
from service.config import DraftSettings
from service.drafting.model import SectionState
from service.drafting.templates import DraftTemplate
from service.retrieval import Retriever

# Documents used only when nothing else answers a sub-question, and then marked in the draft.
FALLBACK_MARKS = {DocStatus.DRAFT.value: "Entwurf", DocStatus.SUPERSEDED.value: "überholt"}


def plan_sections(template: DraftTemplate, topic: str, settings: DraftSettings) -> list[SectionState]:
    """Per section 1–3 sub-questions: the template's patterns filled with the topic, capped."""
    return [
        SectionState(
            title=s.title,
            kind=s.kind,
            guidance=s.guidance,
            questions=[q.replace("{thema}", topic) for q in s.questions][: settings.max_questions],
        )
        for s in template.sections
    ]


def overview(retriever: Retriever, topic: str, scope: AccessScope) -> list[str]:
    """The first search on the topic: titles of the documents it finds (what the draft can draw on)."""
    result = retriever.search(topic, scope, top_k=10)
    if not result.relevant:
        return []
    return list(dict.fromkeys(Provenance.from_payload(h.payload).title for h in result.hits))


@dataclass(frozen=True)
class QuestionHits:
    question: str
    hits: list[ScoredChunk]
    marks: dict[str, str]  # point id → why it is marked ("Entwurf", "überholt")

    @property
    def fallback(self) -> bool:
        return bool(self.marks)


def retrieve_for(
    retriever: Retriever, question: str, scope: AccessScope, settings: DraftSettings
) -> QuestionHits:
    """Passages for one sub-question, inside `scope`, current revisions only. Adopted and other final
    documents come first; drafts and superseded documents only when nothing else was found."""
    result = retriever.search(question, scope, top_k=settings.hits_per_question * 3, filters=SearchFilters())
    if not result.relevant:
        return QuestionHits(question, [], {})
    preferred = [h for h in result.hits if StoredChunk.of(h).status not in FALLBACK_MARKS]
    preferred.sort(key=lambda h: StoredChunk.of(h).status != DocStatus.ADOPTED.value)  # stable: keeps rank
    if preferred:
        return QuestionHits(question, preferred[: settings.hits_per_question], {})
    fallback = result.hits[: settings.hits_per_question]
    return QuestionHits(
        question, fallback, {h.point_id: FALLBACK_MARKS[str(StoredChunk.of(h).status)] for h in fallback}
    )
