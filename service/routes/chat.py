"""Conversational answers: `POST /v1/chat/answers` — a question with the earlier turns of its conversation.

The same events as `/v1/answers` (`sources`, `delta`…, `done`), preceded by `query`: the question that was
searched (the standalone rewrite of a follow-up); and, when nothing relevant was found, `near_misses` (same
shape as `sources`) before `done`. While the model serves other requests, `queue` events `{position}` (before
`query` when a follow-up's rewrite needs the model, else after `sources`); a full queue is a 429 `llm_busy`
with `Retry-After` before the stream begins. The chat page at `/` uses it.

With `conversation_id` (a stored conversation of the caller) the server takes the history from the stored turns,
ignoring `history`, and stores the new turn when the answer is done; the stream then ends with a `turn` event
`{conversation_id, turn_id, position}` after `done` (the id feedback refers to).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import Field

from ingest.errors import KBError
from service.answering import AnswerEvent
from service.chat import NEAR_MISSES_EVENT, QUERY_EVENT, chat_answerer, chat_outcome
from service.condense import Condensed, Turn, rewrites_with_model
from service.conversations import ConversationStore
from service.deps import PrincipalDep, ScopeDep, ServicesDep
from service.errors import error_fields
from service.queued_answers import open_queued
from service.routes.answers import _citation as citation_out
from service.routes.answers import _sse as answer_sse
from service.routes.answers import answer_out
from service.schemas import ChatAnswerRequest, ChatAnswerResponse, SearchedQuery
from service.streaming import closing_stream

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["chat"])
TURN_EVENT = "turn"


class ChatRequest(ChatAnswerRequest):
    conversation_id: str | None = Field(
        None,
        description="A stored conversation of the caller: history comes from it, the turn is stored in it.",
    )


class ChatResponse(ChatAnswerResponse):
    conversation_id: str | None = None
    turn_id: int | None = None


def searched(condensed: Condensed) -> SearchedQuery:
    data = asdict(condensed)
    data["seconds"] = round(condensed.seconds, 3)
    return SearchedQuery(**data)


def _event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def chat_sse(events: Iterator[AnswerEvent]) -> Generator[str, None, None]:
    """`query`, `near_misses` and `turn` here; every other event (`queue` included) exactly as `/v1/answers`
    sends it. An error after the stream began (the rewrite, storing the turn) ends it with an `error` event, as
    there."""
    try:
        for event in events:
            if event.kind == QUERY_EVENT:
                yield _event(QUERY_EVENT, searched(event.data).model_dump())
            elif event.kind == TURN_EVENT:
                yield _event(TURN_EVENT, event.data)
            elif event.kind == NEAR_MISSES_EVENT:
                yield _event(NEAR_MISSES_EVENT, [citation_out(s).model_dump() for s in event.data])
            else:
                yield from answer_sse(iter([event]), "/v1/chat/answers")
    except Exception as exc:
        if not isinstance(exc, KBError):
            log.exception("chat stream failed")
        yield _event("error", error_fields(exc, "/v1/chat/answers"))
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()


def storing(
    events: Iterator[AnswerEvent], conversations: ConversationStore, user: str, conversation_id: str
) -> Iterator[AnswerEvent]:
    """Pass the events on; when the answer is done, store the turn and announce it (`turn`) after `done`.
    A stream closed before `done` (tab closed) stores nothing."""
    condensed: Condensed | None = None
    try:
        for event in events:
            if event.kind == QUERY_EVENT:
                condensed = event.data
            yield event
            if event.kind == "done" and condensed is not None:
                turn = conversations.add_turn(user, conversation_id, condensed, event.data)
                yield AnswerEvent(
                    TURN_EVENT,
                    {"conversation_id": conversation_id, "turn_id": turn.id, "position": turn.position},
                )
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()


@router.post(
    "/chat/answers",
    response_model=ChatResponse,
    summary="A cited answer to a question in a conversation (follow-ups are rewritten for the search)",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def chat_answer(body: ChatRequest, services: ServicesDep, scope: ScopeDep, principal: PrincipalDep) -> Any:
    conversations = ConversationStore(services.database)
    if body.conversation_id is not None:
        # Raises conversation_not_found (404) before anything streams when it is not the caller's.
        history = conversations.history(principal.user, body.conversation_id)
    else:
        history = [Turn(t.question, t.answer) for t in body.history]
    filters = body.filters.to_store()
    # One place in the model's queue for the rewrite and the answer, streaming or not: 429 before anything
    # runs when full, `queue` events while waiting, the place given up when the stream ends or the client goes.
    events = open_queued(
        services.llm_queue,
        lambda llm: chat_answerer(services, llm).stream(body.question, history, scope, filters),
        wait_first=rewrites_with_model(body.question, history),
    )
    if body.stream:
        if body.conversation_id is not None:
            events = storing(events, conversations, principal.user, body.conversation_id)
        return StreamingResponse(closing_stream(chat_sse(events)), media_type="text/event-stream")
    outcome = chat_outcome(events)
    turn_id = None
    if body.conversation_id is not None:
        turn_id = conversations.add_turn(
            principal.user, body.conversation_id, outcome.searched, outcome.result
        ).id
    return ChatResponse(
        **answer_out(outcome.result).model_dump(),
        searched=searched(outcome.searched),
        near_misses=[citation_out(s) for s in outcome.near_misses],
        conversation_id=body.conversation_id,
        turn_id=turn_id,
    )
