from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import asdict
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from ingest.errors import KBError
from service.answering import AnswerEvent, AnswerResult, Source
from service.deps import ScopeDep, ServicesDep
from service.errors import error_fields
from service.llm_queue import Ticket
from service.schemas import AnswerRequest, AnswerResponse, CitationOut

router = APIRouter(prefix="/v1", tags=["answers"])
log = logging.getLogger(__name__)


def _citation(source: Source) -> CitationOut:
    data = asdict(source)
    data.pop("score", None)
    data.pop("point_id", None)
    return CitationOut(**data)


def answer_out(result: AnswerResult) -> AnswerResponse:
    stats = result.stats
    return AnswerResponse(
        question=result.question,
        answer=result.answer,
        declined=result.declined,
        reason=result.reason,
        citations=[_citation(s) for s in result.citations],
        sources=[_citation(s) for s in result.sources],
        invalid_markers=result.invalid_markers,
        unsupported_citations=result.unsupported_citations,
        unsupported_statements=result.unsupported_statements,
        reattributed_citations=result.reattributed_citations,
        model_output=result.model_output,
        model=result.model,
        timings={
            "retrieval_s": round(result.retrieval_s, 4),
            "first_token_s": stats.first_token_s if stats else None,
            "generation_s": stats.total_s if stats else None,
            "prompt_tokens": stats.prompt_tokens if stats else None,
            "completion_tokens": stats.completion_tokens if stats else None,
            "tokens_per_s": round(stats.tokens_per_s, 2) if stats else None,
        },
    )


def _event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _sse(events: Iterator[AnswerEvent], ticket: Ticket | None = None) -> Generator[str, None, None]:
    """The answer as SSE. While the model is busy with others: `queue` events with this request's position.
    An error after the stream began ends it with an `error` event carrying the problem+json fields."""
    try:
        for event in events:
            data: Any
            if event.kind == "sources":
                data = [_citation(s).model_dump() for s in event.data]
            elif event.kind == "delta":
                data = {"text": event.data}
            else:
                data = answer_out(event.data).model_dump()
            yield _event(event.kind, data)
            if ticket is not None and event.kind == "sources" and event.data:
                for position in ticket.wait_turn():
                    yield _event("queue", {"position": position})
    except Exception as exc:
        if not isinstance(exc, KBError):
            log.exception("answer stream failed")
        yield _event("error", error_fields(exc, "/v1/answers"))
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()
        if ticket is not None:
            ticket.release()


async def _closing(events: Generator[str, None, None]) -> AsyncIterator[str]:
    """Stream a blocking generator and close it when the client goes away, so its generation stops and its
    place in the model's queue is freed (Starlette alone would leave that to the garbage collector)."""
    try:
        async for chunk in iterate_in_threadpool(events):
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(events.close)


@router.post(
    "/answers",
    response_model=AnswerResponse,
    summary="A short German answer in which every statement cites its source",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def answer(body: AnswerRequest, services: ServicesDep, scope: ScopeDep) -> Any:
    filters = body.filters.to_store()
    if body.stream:
        # Refuse (429) before the stream begins when the model's queue is full.
        ticket = services.llm_queue.reserve()
        answerer = services.answerer(ticket.llm)
        events = _sse(answerer.stream(body.question, scope, filters), ticket)
        return StreamingResponse(_closing(events), media_type="text/event-stream")
    return answer_out(services.answerer().answer(body.question, scope, filters))
