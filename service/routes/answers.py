from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service import audit
from service.answering import AnswerEvent, AnswerResult, Source
from service.deps import ScopeDep, ServicesDep
from service.schemas import AnswerRequest, AnswerResponse, CitationOut

router = APIRouter(prefix="/v1", tags=["answers"])


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


def _sse(events: Iterator[AnswerEvent]) -> Iterator[str]:
    for event in events:
        data: Any
        if event.kind == "sources":
            data = [_citation(s).model_dump() for s in event.data]
        elif event.kind == "delta":
            data = {"text": event.data}
        else:
            data = answer_out(event.data).model_dump()
        yield f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/answers",
    response_model=AnswerResponse,
    summary="A short German answer in which every statement cites its source",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def answer(body: AnswerRequest, services: ServicesDep, scope: ScopeDep) -> Any:
    answerer = services.answerer()
    filters = body.filters.to_store()
    if body.stream:
        return StreamingResponse(
            _sse(answerer.stream(body.question, scope, filters)), media_type="text/event-stream"
        )
    return answer_out(answerer.answer(body.question, scope, filters))
