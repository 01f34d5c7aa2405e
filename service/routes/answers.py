from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ingest.errors import KBError
from service import audit
from service.answering import SHORT_EVENT, AnswerEvent, AnswerResult, Source, final_answer
from service.deps import ScopeDep, ServicesDep
from service.errors import error_fields
from service.queued_answers import QUEUE_EVENT, open_queued
from service.schemas import AnswerRequest, AnswerResponse, CitationOut
from service.streaming import closing_stream, sse_event

router = APIRouter(prefix="/v1", tags=["answers"])
log = logging.getLogger(__name__)


def _citation(source: Source) -> CitationOut:
    return CitationOut.from_provenance(
        source.provenance, number=source.number, label=source.label, text=source.text
    )


def answer_out(result: AnswerResult) -> AnswerResponse:
    stats = result.stats
    audit.note(query=result.question, points=[(s.point_id, s.provenance.revision) for s in result.sources])
    return AnswerResponse(
        question=result.question,
        answer=result.answer,
        short_answer=result.short_answer,
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


def _sse(events: Iterator[AnswerEvent], instance: str = "/v1/answers") -> Generator[str, None, None]:
    """The answer as SSE. While the model is busy with others: `queue` events with this request's position
    (service/queued_answers.py). An error after the stream began ends it with an `error` event carrying the
    problem+json fields."""
    try:
        for event in events:
            data: Any
            if event.kind == "sources":
                data = [_citation(s).model_dump() for s in event.data]
            elif event.kind in ("delta", SHORT_EVENT):
                data = {"text": event.data}
            elif event.kind == QUEUE_EVENT:
                data = {"position": event.data}
            else:
                data = answer_out(event.data).model_dump()
            yield sse_event(event.kind, data)
    except Exception as exc:
        if not isinstance(exc, KBError):
            log.exception("answer stream failed")
        yield sse_event("error", error_fields(exc, instance))
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()


@router.post(
    "/answers",
    response_model=AnswerResponse,
    summary="A short German answer in which every statement cites its source",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def answer(body: AnswerRequest, services: ServicesDep, scope: ScopeDep) -> Any:
    filters = body.filters.to_store()
    # A place in the model's queue first, streaming or not: a full queue is a 429 before any retrieval, so
    # refused requests cost the machine nothing while the model works (bench/RESULTS.md (k), 20 users).
    events = open_queued(
        services.llm_queue, lambda llm: services.answerer(llm).stream(body.question, scope, filters)
    )
    if body.stream:
        return StreamingResponse(closing_stream(_sse(events)), media_type="text/event-stream")
    return answer_out(final_answer(events))
