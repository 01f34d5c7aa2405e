"""Conversational answers: `POST /v1/chat/answers` — a question with the earlier turns of its conversation.

The same events as `/v1/answers` (`sources`, `delta`…, `done`), preceded by `query`: the question that was
searched (the standalone rewrite of a follow-up); and, when nothing relevant was found, `near_misses` (same
shape as `sources`) before `done`. The chat page at `/` uses it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service.answering import AnswerEvent
from service.chat import NEAR_MISSES_EVENT, QUERY_EVENT, chat_answerer
from service.condense import Condensed, Turn
from service.deps import ScopeDep, ServicesDep
from service.routes.answers import _citation as citation_out
from service.routes.answers import _sse as answer_sse
from service.routes.answers import answer_out
from service.schemas import ChatAnswerRequest, ChatAnswerResponse, SearchedQuery

router = APIRouter(prefix="/v1", tags=["chat"])


def searched(condensed: Condensed) -> SearchedQuery:
    data = asdict(condensed)
    data["seconds"] = round(condensed.seconds, 3)
    return SearchedQuery(**data)


def _event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def chat_sse(events: Iterator[AnswerEvent]) -> Iterator[str]:
    """`query` and `near_misses` here; every other event exactly as `/v1/answers` sends it."""
    for event in events:
        if event.kind == QUERY_EVENT:
            yield _event(QUERY_EVENT, searched(event.data).model_dump())
        elif event.kind == NEAR_MISSES_EVENT:
            yield _event(NEAR_MISSES_EVENT, [citation_out(s).model_dump() for s in event.data])
        else:
            yield from answer_sse(iter([event]))


@router.post(
    "/chat/answers",
    response_model=ChatAnswerResponse,
    summary="A cited answer to a question in a conversation (follow-ups are rewritten for the search)",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def chat_answer(body: ChatAnswerRequest, services: ServicesDep, scope: ScopeDep) -> Any:
    chat = chat_answerer(services)
    history = [Turn(t.question, t.answer) for t in body.history]
    filters = body.filters.to_store()
    if body.stream:
        return StreamingResponse(
            chat_sse(chat.stream(body.question, history, scope, filters)), media_type="text/event-stream"
        )
    outcome = chat.answer(body.question, history, scope, filters)
    return ChatAnswerResponse(
        **answer_out(outcome.result).model_dump(),
        searched=searched(outcome.searched),
        near_misses=[citation_out(s) for s in outcome.near_misses],
    )
