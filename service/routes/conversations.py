"""Stored conversations of the chat page, per user, and feedback on their answers.

`GET/POST /v1/conversations`, `GET/PATCH/DELETE /v1/conversations/{id}`,
`POST /v1/conversations/{id}/turns/{turn_id}/feedback`, `GET /v1/feedback/export`. A user sees only their own
conversations (another user's id answers 404 `conversation_not_found`). The export is JSONL gold-set seeds in
the format of eval/gold (see docs/feedback-export.md); admins may export everybody's with `?all=true`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from ingest.errors import Forbidden
from service.conversations import ConversationStore, StoredConversation, StoredTurn, seeds_jsonl
from service.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/v1", tags=["conversations"])


class ConversationCreate(BaseModel):
    title: str | None = Field(None, max_length=200)


class ConversationRename(BaseModel):
    title: str = Field(..., min_length=1, max_length=200)


class FeedbackIn(BaseModel):
    helpful: bool
    comment: str | None = Field(None, max_length=4000)


class TurnOut(BaseModel):
    id: int
    position: int
    question: str
    searched_query: str
    answer: str
    short_answer: str | None = Field(None, description="The verified short answer shown above the answer.")
    declined: bool
    reason: str | None
    sources: list[dict[str, Any]] = Field(
        description="Every passage the model was given (CitationOut fields)."
    )
    citations: list[dict[str, Any]] = Field(description="The sources the answer cites.")
    timings: dict[str, Any]
    created_at: datetime
    feedback: dict[str, Any] | None


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class ConversationWithTurns(ConversationOut):
    turns: list[TurnOut]


def turn_out(turn: StoredTurn) -> TurnOut:
    # The char span is for the export only; the page shows what /v1/answers shows.
    sources = [{k: v for k, v in s.items() if k not in ("char_start", "char_end")} for s in turn.sources]
    feedback = (
        None
        if turn.feedback_helpful is None
        else {"helpful": turn.feedback_helpful, "comment": turn.feedback_comment}
    )
    return TurnOut(
        id=turn.id,
        position=turn.position,
        question=turn.question,
        searched_query=turn.searched_query,
        answer=turn.answer,
        short_answer=turn.short_answer,
        declined=turn.declined_reason is not None,
        reason=turn.declined_reason,
        sources=sources,
        citations=[s for s in sources if s["number"] in turn.cited],
        timings=turn.timings,
        created_at=turn.created_at,
        feedback=feedback,
    )


def conversation_out(c: StoredConversation) -> ConversationOut:
    return ConversationOut(id=c.id, title=c.title, created_at=c.created_at, updated_at=c.updated_at)


def store(services: Any) -> ConversationStore:
    return ConversationStore(services.database)


@router.get("/conversations", response_model=list[ConversationOut], summary="The caller's conversations")
def list_conversations(services: ServicesDep, principal: PrincipalDep) -> list[ConversationOut]:
    return [conversation_out(c) for c in store(services).of_user(principal.user)]


@router.post(
    "/conversations", response_model=ConversationOut, status_code=201, summary="Start a conversation"
)
def create_conversation(
    body: ConversationCreate, services: ServicesDep, principal: PrincipalDep
) -> ConversationOut:
    return conversation_out(store(services).create(principal.user, body.title))


@router.get("/conversations/{conversation_id}", response_model=ConversationWithTurns)
def get_conversation(
    conversation_id: str, services: ServicesDep, principal: PrincipalDep
) -> ConversationWithTurns:
    c = store(services).get(principal.user, conversation_id)
    return ConversationWithTurns(**conversation_out(c).model_dump(), turns=[turn_out(t) for t in c.turns])


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
def rename_conversation(
    conversation_id: str, body: ConversationRename, services: ServicesDep, principal: PrincipalDep
) -> ConversationOut:
    return conversation_out(store(services).rename(principal.user, conversation_id, body.title))


@router.delete("/conversations/{conversation_id}", status_code=204)
def delete_conversation(conversation_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    store(services).delete(principal.user, conversation_id)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/turns/{turn_id}/feedback", response_model=TurnOut)
def give_feedback(
    conversation_id: str, turn_id: int, body: FeedbackIn, services: ServicesDep, principal: PrincipalDep
) -> TurnOut:
    turn = store(services).feedback(principal.user, conversation_id, turn_id, body.helpful, body.comment)
    return turn_out(turn)


@router.get(
    "/feedback/export",
    summary="Rated answers as JSONL gold-set seeds (eval/gold format)",
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export_feedback(
    services: ServicesDep,
    principal: PrincipalDep,
    all_users: bool = Query(False, alias="all", description="Everybody's feedback (admins only)."),
) -> Response:
    if all_users and not principal.is_admin:
        raise Forbidden("Nur Administratoren exportieren die Rückmeldungen aller Nutzer")
    user = None if all_users else principal.user
    turns = [t for _, t in store(services).rated_turns(user)]
    return Response(seeds_jsonl(turns), media_type="application/x-ndjson")
