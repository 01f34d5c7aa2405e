"""Drafts: plan → (edit plan) → write section by section (SSE progress) → review → approve → export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from ingest.domain import AccessScope
from ingest.metadata import MetadataOverrides
from service import audit
from service.deps import PrincipalDep, ScopeDep, Services, ServicesDep, require_editor
from service.drafting.errors import DraftStateConflict
from service.drafting.export import to_docx, to_markdown
from service.drafting.model import REVIEW_TRANSITIONS, DraftState
from service.drafting.repository import DraftRepository
from service.drafting.writing import Drafter, DraftEvent, StatementEdit
from service.principal import Principal

router = APIRouter(prefix="/v1", tags=["drafts"])

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class DraftRequest(BaseModel):
    topic: str = Field("", description="Thema of the draft (required unless `replay` is given).")
    template: str | None = Field(None, description="Template name in prompts/templates (default: setting).")
    working_group: str | None = Field(
        None, description="The working group the draft is for (needed to approve)."
    )
    plan_only: bool = Field(False, description="Return the plan (sections, sub-questions) without writing.")
    stream: bool = Field(False, description="Stream progress as SSE: plan, one `section` per section, done.")
    questions: list[list[str]] | None = Field(
        None, description="Sub-questions per section, replacing the plan's."
    )
    replay: dict[str, Any] | None = Field(
        None,
        description="A reproducibility record (GET /v1/drafts/{id}/record): same topic, template and plan.",
    )


class WriteRequest(BaseModel):
    stream: bool = False


class StatementEditIn(BaseModel):
    section: int
    index: int | None = Field(None, description="Statement position; omitted: append a new statement.")
    text: str | None = None
    sources: list[int] | None = Field(None, description="Draft-wide source numbers the statement cites.")
    delete: bool = False


class DraftPatch(BaseModel):
    questions: list[list[str]] | None = Field(
        None, description="New sub-questions per section (before writing)."
    )
    statements: list[StatementEditIn] = Field(default_factory=list)
    remove_sources: list[int] = Field(default_factory=list, description="Source numbers to remove.")
    status: Literal["draft", "in_review", "approved"] | None = Field(
        None, description="Review state: draft → in_review → approved (approve needs editor rights)."
    )


def drafter(services: Services) -> Drafter:
    return Drafter(
        services.settings,
        services.retriever,
        services.store,
        lambda: services.llm,
        DraftRepository(services.database),
    )


def _owner_filter(principal: Principal) -> str | None:
    return None if principal.is_admin else principal.user


def _note(draft: DraftState) -> DraftState:
    audit.note(query=draft.topic, points=[(s.point_id, s.revision) for s in draft.sources])
    return draft


def _sse(events: Iterator[DraftEvent], repository: DraftRepository, draft_id: str) -> Iterator[str]:
    for event in events:
        data = event.data
        if event.kind == "done":
            data = repository.load(draft_id).model_dump(mode="json")
        yield f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _write(services: Services, draft: DraftState, scope: AccessScope, stream: bool) -> Any:
    maker = drafter(services)
    if draft.status not in ("planned", "writing"):  # before a stream starts: a 409, not a broken stream
        raise DraftStateConflict(f"Entwurf im Status {draft.status!r} wird nicht mehr geschrieben")
    events = maker.write(draft, scope)
    if stream:
        return StreamingResponse(_sse(events, maker.repository, draft.id), media_type="text/event-stream")
    for _ in events:
        pass
    return _note(maker.repository.load(draft.id))


@router.post(
    "/drafts",
    response_model=DraftState,
    summary="Plan (and write) a cited draft from a template",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def create_draft(body: DraftRequest, services: ServicesDep, principal: PrincipalDep, scope: ScopeDep) -> Any:
    topic, template, group, questions = body.topic, body.template, body.working_group, body.questions
    if body.replay:
        record = body.replay
        topic, template = str(record.get("topic") or ""), record.get("template")
        group, questions = record.get("working_group"), record.get("plan")
    if not topic.strip():
        raise DraftStateConflict("Ein Thema ist nötig")
    maker = drafter(services)
    draft = maker.plan(
        topic, scope, owner=principal.user, template=template, working_group=group, questions=questions
    )
    if body.replay and body.replay.get("text_sha256"):
        draft.record = {"replay_expected": body.replay["text_sha256"]}
        maker.repository.save(draft)
    if body.plan_only:
        return _note(draft)
    return _write(services, draft, scope, body.stream)


@router.get("/drafts", response_model=list[DraftState], summary="The caller's drafts")
def list_drafts(services: ServicesDep, principal: PrincipalDep) -> list[DraftState]:
    return DraftRepository(services.database).list(_owner_filter(principal))


@router.get("/drafts/{draft_id}", response_model=DraftState, summary="One draft with sections and sources")
def get_draft(draft_id: str, services: ServicesDep, principal: PrincipalDep) -> DraftState:
    return _note(DraftRepository(services.database).load(draft_id, owner=_owner_filter(principal)))


@router.post(
    "/drafts/{draft_id}/write",
    response_model=DraftState,
    summary="Write the (edited) plan; resumes at the next unwritten section",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def write_draft(
    draft_id: str, body: WriteRequest, services: ServicesDep, principal: PrincipalDep, scope: ScopeDep
) -> Any:
    draft = DraftRepository(services.database).load(draft_id, owner=_owner_filter(principal))
    return _write(services, draft, scope, body.stream)


@router.patch(
    "/drafts/{draft_id}",
    response_model=DraftState,
    summary="Edit the plan, statements or sources (edits are verified again), or change the review state",
)
def patch_draft(
    draft_id: str, body: DraftPatch, services: ServicesDep, principal: PrincipalDep
) -> DraftState:
    maker = drafter(services)
    draft = maker.repository.load(draft_id, owner=_owner_filter(principal))
    if body.questions is not None:
        draft = maker.edit_plan(draft, body.questions)
    if body.statements or body.remove_sources:
        edits = [StatementEdit(e.section, e.index, e.text, e.sources, e.delete) for e in body.statements]
        draft = maker.edit(draft, edits, body.remove_sources)
    if body.status is not None and body.status != draft.status:
        if body.status not in REVIEW_TRANSITIONS.get(draft.status, set()):
            raise DraftStateConflict(f"Übergang {draft.status} → {body.status} ist nicht möglich")
        if body.status == "approved":
            _adopt(services, principal, draft)
        draft.status = body.status
        maker.repository.save(draft)
    return _note(draft)


def _adopt(services: Services, principal: Principal, draft: DraftState) -> None:
    """Approval ingests the draft as an adopted recommendation of its working group (searchable knowledge)."""
    if not draft.working_group:
        raise DraftStateConflict("Zur Freigabe braucht der Entwurf einen Arbeitskreis (working_group)")
    require_editor(principal, draft.working_group)
    doc_id = f"empfehlung-{draft.id}"
    overrides = MetadataOverrides(
        doc_type="recommendation",
        status="adopted",
        working_group=draft.working_group,
        visibility="group",
        title=draft.title,
        date=datetime.now(UTC).date().isoformat(),
    )
    with services.ingest_lock:
        outcome = services.pipeline.ingest_upload(
            to_markdown(draft.model_copy(update={"status": "approved"})).encode(),
            f"{doc_id}.md",
            doc_id=doc_id,
            overrides=overrides,
        )
    if outcome.code:
        raise DraftStateConflict(f"Übernahme in die Wissensbasis fehlgeschlagen: {outcome.message}")
    draft.adopted_doc_id = doc_id
    audit.note(doc_id=doc_id)


@router.get(
    "/drafts/{draft_id}/export",
    summary="The draft as Markdown or DOCX (Word footnotes, one per citation, and a source list)",
    responses={200: {"content": {"text/markdown": {}, DOCX_MEDIA_TYPE: {}}}},
)
def export_draft(
    draft_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    format: Literal["md", "docx"] = Query("md", description="md or docx"),
) -> Response:
    draft = _note(DraftRepository(services.database).load(draft_id, owner=_owner_filter(principal)))
    if format == "docx":
        return Response(
            to_docx(draft),
            media_type=DOCX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="entwurf-{draft.id}.docx"'},
        )
    return Response(to_markdown(draft), media_type="text/markdown; charset=utf-8")


@router.get("/drafts/{draft_id}/record", summary="The reproducibility record of a draft (for --replay)")
def draft_record(draft_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, Any]:
    draft = DraftRepository(services.database).load(draft_id, owner=_owner_filter(principal))
    return draft.record
