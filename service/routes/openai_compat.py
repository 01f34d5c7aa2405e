"""An OpenAI-compatible chat API over the cited answer path, so that Open WebUI and OpenAI clients can use it.

- `GET /v1/models` lists one model, `kb-rag`: the knowledge base's cited answers.
- `POST /v1/chat/completions` (`model`, `messages`, `stream`): the last user message is the question; the
  earlier user/assistant turns feed the follow-up rewrite (service/condense.py). The reply is the verified
  answer with `[n]` markers, then a source list ("Quellen:\\n[1] Titel, S. N – Abschnitt"). A declined answer
  says "Keine Quelle gefunden." and lists the nearest passages as "Ähnliche Stellen".
- Extension fields: `citations: [{n, doc_id, revision, title, page, page_end, section, quote}]` on
  `choices[0].message` (non-streaming) or as a top-level field of the last chunk before `data: [DONE]`
  (streaming), and `search_query`, the query that was searched, in the same places.
- Streaming sends the role at once and the answer text once it is verified: a citation is checked after
  generation, and text already streamed to an OpenAI client cannot be taken back. The answers are short, so
  this costs the generation of two or three sentences; prompt processing dominates the wait. While waiting,
  SSE comments keep the connection alive.
- Open WebUI's helper prompts (`### Task:` — title, tags, follow-up suggestions, search queries) are answered by
  a heuristic without retrieval and without the model: they would otherwise queue in front of real questions
  on the one local model. Title: the first question, shortened; tags: none; follow-ups: none; queries: the
  last question.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Generator, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ingest.errors import KBError
from service.answering import AnswerEvent, AnswerResult, Source
from service.chat import NEAR_MISSES_EVENT, QUERY_EVENT, chat_answerer, chat_outcome
from service.citations import strip_markers
from service.condense import Condensed, Turn, rewrites_with_model
from service.deps import ScopeDep, ServicesDep
from service.queued_answers import open_queued
from service.schemas import ChatCompletionRequest, CitationRef, OpenAIMessage
from service.streaming import closing_stream

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL_ID = "kb-rag"
SOURCES_HEADING = "Quellen:"
NEAR_MISSES_HEADING = "Ähnliche Stellen:"
QUOTE_CHARS = 500
TASK_MARK = "### Task:"
TITLE_WORDS = 8
PIECE_CHARS = 24


class ModelNotFound(KBError):
    code = "model_not_found"
    http_status = 404


class NoQuestion(KBError):
    code = "no_question"
    http_status = 422


# -- content -------------------------------------------------------------------------------------------------
def citation_refs(result: AnswerResult) -> list[CitationRef]:
    return [_ref(s) for s in result.citations] if not result.declined else []


def _ref(source: Source) -> CitationRef:
    quote = source.text.strip()
    if len(quote) > QUOTE_CHARS:
        quote = quote[:QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
    where = source.provenance
    return CitationRef(
        n=source.number,
        doc_id=where.doc_id,
        revision=where.revision,
        title=where.title,
        page=where.page_start,
        page_end=where.page_end,
        section=" › ".join(where.section_path) or None,
        quote=quote,
    )


def completion_text(result: AnswerResult, near_misses: list[Source] | None = None) -> str:
    """The answer with its `[n]` markers (below its short answer in bold, if any) and the numbered source list;
    or the decline and the near-misses
    (the passages offered to the model, or, when none was relevant, the closest ones)."""
    if result.declined:
        near_sources = result.sources or near_misses or []
        if not near_sources:
            return result.answer
        near = "\n".join(f"- {s.label}" for s in near_sources)
        return f"{result.answer}\n\n{NEAR_MISSES_HEADING}\n{near}"
    listed = "\n".join(f"[{s.number}] {s.label}" for s in result.citations)
    short = f"**{result.short_answer}**\n\n" if result.short_answer else ""
    return f"{short}{result.answer}\n\n{SOURCES_HEADING}\n{listed}"


def _usage(result: AnswerResult | None) -> dict[str, int]:
    stats = result.stats if result else None
    prompt = stats.prompt_tokens if stats else 0
    completion = stats.completion_tokens if stats else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# -- the conversation ----------------------------------------------------------------------------------------
# The bold short answer `completion_text` puts above an answer.
_SHORT_LINE = re.compile(r"\A\*\*[^\n]*\*\*\n\n")


def split_conversation(messages: list[OpenAIMessage]) -> tuple[str, list[Turn]]:
    """(the last user message, the earlier user/assistant turns). System messages are ignored: the answer
    path has its own prompt. Short-answer lines, source lists and `[n]` markers this API added to earlier
    answers are removed."""
    turns: list[Turn] = []
    pending: str | None = None
    last_user: str | None = None
    for message in messages:
        if message.role == "user":
            if pending is not None:
                turns.append(Turn(pending))
            pending = message.text().strip()
            last_user = pending
        elif message.role == "assistant" and pending is not None:
            text = _SHORT_LINE.sub("", message.text(), count=1)
            answer = re.split(rf"\n\n(?:{SOURCES_HEADING}|{NEAR_MISSES_HEADING})\n", text, maxsplit=1)
            turns.append(Turn(pending, strip_markers(answer[0])))
            pending = None
    if not last_user or pending is None:
        raise NoQuestion("the conversation does not end with a user message")
    return last_user, turns


def task_reply(prompt: str) -> str:
    """A cheap reply to one of Open WebUI's `### Task:` helper prompts, in the JSON form it asks for."""
    instructions, _, rest = prompt.partition("<chat_history>")
    lower = instructions.lower()
    history = rest.partition("</chat_history>")[0]
    user_lines = [m.group(1).strip() for m in re.finditer(r"^USER:\s*(.+)$", history, re.MULTILINE)]
    if "title" in lower:
        first = user_lines[0] if user_lines else ""
        words = first.rstrip("?!. ").split()
        title = " ".join(words[:TITLE_WORDS]) + (" …" if len(words) > TITLE_WORDS else "")
        return json.dumps({"title": title or "Neue Unterhaltung"}, ensure_ascii=False)
    if "tags" in lower:
        return json.dumps({"tags": []})
    if "follow" in lower:
        return json.dumps({"follow_ups": []})
    if "quer" in lower:
        return json.dumps({"queries": user_lines[-1:]}, ensure_ascii=False)
    return json.dumps({"text": ""})


def is_task(question: str) -> bool:
    return question.lstrip().startswith(TASK_MARK)


# -- responses -----------------------------------------------------------------------------------------------
def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _message(content: str, citations: list[CitationRef]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "citations": [c.model_dump() for c in citations],
    }


def _completion(
    content: str, citations: list[CitationRef], result: AnswerResult | None, search_query: str | None
) -> dict[str, Any]:
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": _message(content, citations), "finish_reason": "stop"}],
        "usage": _usage(result),
        "search_query": search_query,
    }


def _chunk(
    completion_id: str, created: int, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _pieces(text: str) -> Iterator[str]:
    """Word-aligned pieces of roughly PIECE_CHARS, so clients render progressively."""
    piece = ""
    for token in re.findall(r"\S+\s*|\s+", text):
        piece += token
        if len(piece) >= PIECE_CHARS:
            yield piece
            piece = ""
    if piece:
        yield piece


def stream_completion(
    events: Iterator[AnswerEvent] | None, fixed_text: str | None = None
) -> Generator[str, None, None]:
    """Chunks: the role, the content pieces, a last chunk with finish_reason, usage, `citations` and
    `search_query`, then `data: [DONE]`. A typed error mid-way ends the stream with an `error` object."""
    try:
        yield from _completion_chunks(events, fixed_text)
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()  # the client went away: stop the generation, give up the place in the queue


def _completion_chunks(events: Iterator[AnswerEvent] | None, fixed_text: str | None) -> Iterator[str]:
    completion_id, created = _completion_id(), int(time.time())
    yield _data(_chunk(completion_id, created, {"role": "assistant", "content": ""}))
    result: AnswerResult | None = None
    condensed: Condensed | None = None
    near: list[Source] = []
    try:
        for event in events or iter(()):
            if event.kind == QUERY_EVENT:
                condensed = event.data
            elif event.kind == NEAR_MISSES_EVENT:
                near = event.data
            elif event.kind == "done":
                result = event.data
            # Other events (sources, unverified deltas, queue position) must not reach an OpenAI client's
            # text; a comment line keeps the connection alive while retrieval or the queue takes time.
            if event.kind != "delta":
                yield f": {event.kind}\n\n"
    except KBError as exc:
        yield _data({"error": {"message": str(exc), "type": exc.code, "code": exc.code}})
        yield "data: [DONE]\n\n"
        return
    text = fixed_text if result is None else completion_text(result, near)
    for piece in _pieces(text or ""):
        yield _data(_chunk(completion_id, created, {"content": piece}))
    last = _chunk(completion_id, created, {}, "stop")
    last["usage"] = _usage(result)
    last["citations"] = [c.model_dump() for c in citation_refs(result)] if result else []
    last["search_query"] = condensed.query if condensed else None
    yield _data(last)
    yield "data: [DONE]\n\n"


# -- routes --------------------------------------------------------------------------------------------------
@router.get("/models", summary="OpenAI-compatible list of models: the cited answer path as `kb-rag`")
def list_models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "kb"}],
    }


@router.post(
    "/chat/completions",
    summary="OpenAI-compatible chat completion answered with sources (extension: `citations`)",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true"}},
)
def chat_completions(body: ChatCompletionRequest, services: ServicesDep, scope: ScopeDep) -> Any:
    if body.model != MODEL_ID:
        raise ModelNotFound(f"unknown model {body.model!r}; available: {MODEL_ID}")
    question, history = split_conversation(body.messages)
    if is_task(question):
        reply = task_reply(question)
        if body.stream:
            return StreamingResponse(stream_completion(None, reply), media_type="text/event-stream")
        return _completion(reply, [], None, None)
    # As the chat page: one place in the model's queue, streaming or not (429 before anything runs when
    # full); while a stream waits, each `queue` event becomes an SSE comment that keeps the connection alive.
    events = open_queued(
        services.llm_queue,
        lambda llm: chat_answerer(services, llm).stream(question, history, scope),
        wait_first=rewrites_with_model(question, history),
    )
    if body.stream:
        return StreamingResponse(closing_stream(stream_completion(events)), media_type="text/event-stream")
    outcome = chat_outcome(events)
    return _completion(
        completion_text(outcome.result, outcome.near_misses),
        citation_refs(outcome.result),
        outcome.result,
        outcome.searched.query,
    )
