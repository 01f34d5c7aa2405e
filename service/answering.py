"""Cited answers: retrieve → fit sources into the prompt budget → constrained generation → verify citations.

The service declines ("Keine Quelle gefunden.") when retrieval finds nothing relevant, when the model cites
nothing, or when no citation survives verification. Invalid markers and unsupported citations are reported.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.domain import AccessScope, ScoredChunk
from ingest.store import Provenance, SearchFilters, SearchMode
from service import citations, tracing
from service.config import AnswerSettings, LLMSettings
from service.focusing import Focus, FocusedPassage
from service.llm import LLM, GenerationStats
from service.prompting import (
    ANSWER_KEY,
    SHORT_KEY,
    SOURCES_KEY,
    PromptTemplate,
    answer_schema,
    as_seen,
    asks_short_answer,
    decisive_count,
    format_offered,
    offer_passages,
    render,
    source_label,
)
from service.retrieval import Retriever

DECLINE_TEXT = "Keine Quelle gefunden."
# Streaming: the short answer as the model writes it (before the answer's `delta`s; unverified like them).
SHORT_EVENT = "short"


@dataclass(frozen=True)
class Source:
    """A passage offered to the model, numbered as the model and the user see it. `text` is the whole passage
    (what the user sees); `focus` what the model saw of it, when that was less (exact spans into `text`)."""

    number: int
    point_id: str
    provenance: Provenance
    label: str
    text: str
    score: float
    focus: FocusedPassage | None = None

    @classmethod
    def from_hit(cls, number: int, hit: ScoredChunk, focus: FocusedPassage | None = None) -> Source:
        provenance = Provenance.from_payload(hit.payload)
        return cls(number, hit.point_id, provenance, source_label(provenance), hit.text, hit.score, focus)

    @property
    def prompt_text(self) -> str:
        """The text the model saw: citations are verified against it (it cannot have cited what it did not see)."""
        return self.focus.text if self.focus is not None and self.focus.focused else self.text

    @property
    def seen_text(self) -> str:
        return as_seen(self.provenance.title, self.provenance.section_path, self.prompt_text)


@dataclass(frozen=True)
class AnswerPrompt:
    """What the model is given for one question: the numbered sources, the chat messages, the reply schema."""

    sources: list[Source]
    messages: list[dict[str, str]]
    schema: dict[str, Any]


@dataclass
class AnswerResult:
    question: str
    answer: str
    declined: bool
    reason: str | None
    sources: list[Source]
    # The asked fact alone ("16 GPUs"), shown above the answer: only when every word of it is in the checked
    # answer, so it rests on the same citations (`short_answer_of`).
    short_answer: str | None = None
    cited: list[int] = field(default_factory=list)
    invalid_markers: list[int] = field(default_factory=list)
    unsupported_citations: list[int] = field(default_factory=list)
    unsupported_statements: list[str] = field(default_factory=list)
    reattributed_citations: list[int] = field(default_factory=list)
    support: dict[int, float] = field(default_factory=dict)
    model_output: str | None = None
    model: str | None = None
    retrieval_s: float = 0.0
    stats: GenerationStats | None = None

    @property
    def citations(self) -> list[Source]:
        return [s for s in self.sources if s.number in self.cited]


@dataclass(frozen=True)
class AnswerEvent:
    """Streaming: `sources` once, `short` for each piece of the short answer, `delta` for each piece of answer
    text, `done` with the verified result (whose `short_answer` is what may stay on screen)."""

    kind: str
    data: Any


def final_answer(events: Iterable[AnswerEvent]) -> AnswerResult:
    """The answer of an event stream (its `done` event), read to the end: what a non-streaming route returns."""
    result: AnswerResult | None = None
    for event in events:
        if event.kind == "done":
            result = event.data
    assert result is not None
    return result


class Answerer:
    def __init__(
        self,
        retriever: Retriever,
        llm: LLM,
        template: PromptTemplate,
        settings: AnswerSettings,
        llm_settings: LLMSettings,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.template = template
        self.settings = settings
        self.llm_settings = llm_settings
        self.asks_short = asks_short_answer(template)  # the reply schema follows the prompt file

    def answer(self, question: str, scope: AccessScope, filters: SearchFilters | None = None) -> AnswerResult:
        return final_answer(self.stream(question, scope, filters))

    def stream(
        self, question: str, scope: AccessScope, filters: SearchFilters | None = None
    ) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        retrieval = self.retriever.search(question, scope, filters=filters)
        retrieval_s = time.perf_counter() - started
        if not retrieval.relevant:
            yield AnswerEvent("sources", [])
            yield AnswerEvent(
                "done",
                AnswerResult(question, DECLINE_TEXT, True, "no_relevant_source", [], retrieval_s=retrieval_s),
            )
            return
        prompt = self.prompt(question, retrieval.hits)
        sources = prompt.sources
        yield AnswerEvent("sources", sources)
        generation = self.llm.generate(
            prompt.messages, schema=prompt.schema, max_tokens=self.llm_settings.max_tokens
        )
        short_stream, field_stream = AnswerFieldStream(SHORT_KEY), AnswerFieldStream(ANSWER_KEY)
        raw_parts: list[str] = []
        generating = time.perf_counter()
        for delta in generation:
            raw_parts.append(delta)
            short = short_stream.feed(delta)
            if short:
                yield AnswerEvent(SHORT_EVENT, short)
            text = field_stream.feed(delta)
            if text:
                yield AnswerEvent("delta", text)
        stats = generation.stats
        tracing.record(
            "llm.generate",
            generating,
            time.perf_counter(),
            sources=len(sources),
            prompt_tokens=stats.prompt_tokens,
            completion_tokens=stats.completion_tokens,
            first_token_s=round(stats.first_token_s or 0.0, 3),
        )
        result = verify_reply(question, "".join(raw_parts), sources, self.settings.min_support)
        result.retrieval_s = retrieval_s
        result.stats = generation.stats
        result.model = self.llm.name
        yield AnswerEvent("done", result)

    def prompt(self, question: str, hits: Sequence[ScoredChunk]) -> AnswerPrompt:
        """The sources and chat messages for `question` from the retrieved `hits`: fewer passages when the
        ranking is decisive, each focused on the question, as many as fit the token budget."""
        offered = offer_passages(
            self.template,
            {"question": question},
            hits[: self._source_count(hits)],
            focus_query=question,
            focus=Focus(self.settings.focus_sentences, self.settings.focus_max_tokens),
            budget_tokens=self.settings.prompt_budget_tokens,
            count_tokens=self.llm.count_tokens,
        )
        sources = [Source.from_hit(i, o.hit, o.passage) for i, o in enumerate(offered, start=1)]
        messages = render(self.template, sources=format_offered(offered), question=question)
        return AnswerPrompt(sources, messages, answer_schema(len(sources), short=self.asks_short))

    def _source_count(self, hits: Sequence[ScoredChunk]) -> int:
        """Passages to offer: fewer when the hybrid ranking is decisive (fused RRF scores; the scores of the
        other modes are not on that scale)."""
        if self.retriever.settings.mode is not SearchMode.HYBRID:
            return self.settings.max_sources
        return decisive_count(
            hits,
            max_sources=self.settings.max_sources,
            margin=self.settings.decisive_margin,
            decisive_sources=self.settings.decisive_sources,
        )


def verify_reply(question: str, raw: str, sources: list[Source], min_support: float) -> AnswerResult:
    """The model's raw JSON reply checked against the sources it was offered: the answer keeps the statements
    a cited (or, reattributed, an offered) passage supports, or declines with the reason. No model involved,
    so a stored reply can be checked again (bench/citation_replay.py)."""
    parsed = parse_model_output(raw)
    if parsed is None:
        return AnswerResult(question, DECLINE_TEXT, True, "model_output_invalid", sources, model_output=raw)
    text, cited = parsed
    check = citations.verify(text, cited, [s.seen_text for s in sources], min_support, question=question)
    base = AnswerResult(
        question,
        DECLINE_TEXT,
        True,
        None,
        sources,
        cited=list(check.valid),
        invalid_markers=list(check.invalid_markers),
        unsupported_citations=list(check.unsupported),
        reattributed_citations=list(check.reattributed),
        support=dict(check.support_by_source),
        model_output=raw,
    )
    if not check.cited or _is_decline(text):
        base.reason = "model_found_no_source"
        base.cited = []
        return base
    if not check.any_valid:
        base.reason = "citations_unsupported"
        return base
    kept = [s for s in check.statements if s.supported]
    base.unsupported_statements = [s.text for s in check.statements if not s.supported]
    base.answer = citations.render_with_markers(replace(check, statements=tuple(kept)))
    base.short_answer = short_answer_of(parse_short_answer(raw), " ".join(s.text for s in kept))
    base.declined = False
    return base


def _is_decline(text: str) -> bool:
    return "keine quelle" in text.lower() or not text.strip()


# A short answer is a fact, not a sentence: longer ones are not shown.
SHORT_ANSWER_MAX_WORDS = 12


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def short_answer_of(short: str | None, checked_answer: str) -> str | None:
    """The model's short answer if it may be shown: not empty, not a decline, at most
    `SHORT_ANSWER_MAX_WORDS` words, every word of it in `checked_answer` (the statements that passed the
    citation check, so the fact rests on their citations), and shorter than that answer (else it adds
    nothing)."""
    if not short or _is_decline(short):
        return None
    words, answer_words = _words(short), _words(checked_answer)
    if not words or len(words) > SHORT_ANSWER_MAX_WORDS or len(words) >= len(answer_words):
        return None
    if not set(words) <= set(answer_words):
        return None
    return short.strip().rstrip(".")


def parse_short_answer(raw: str) -> str | None:
    """The "kurz" field of the model's JSON reply, or None (absent, invalid JSON, not a string)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    value = data.get(SHORT_KEY) if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_model_output(raw: str) -> tuple[str, list[int]] | None:
    """(answer text, cited numbers) from the model's JSON; tolerant of truncation of the sources list."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get(ANSWER_KEY), str):
        numbers = data.get(SOURCES_KEY) or []
        cited = [int(n) for n in numbers if isinstance(n, int | float) or str(n).isdigit()]
        return data[ANSWER_KEY], cited
    streamed = AnswerFieldStream(ANSWER_KEY)
    text = streamed.feed(raw)
    if not text:
        return None
    tail = raw.split(f'"{SOURCES_KEY}"', 1)
    cited = [int(n) for n in re.findall(r"\d+", tail[1])] if len(tail) == 2 else []
    return text, cited


class AnswerFieldStream:
    """Incrementally decodes the string value of one key from streamed JSON text, for live display."""

    def __init__(self, key: str) -> None:
        self._opening = re.compile(r'"' + re.escape(key) + r'"\s*:\s*"')
        self._buffer = ""
        self._pos: int | None = None
        self._done = False

    def feed(self, chunk: str) -> str:
        self._buffer += chunk
        if self._done:
            return ""
        if self._pos is None:
            match = self._opening.search(self._buffer)
            if not match:
                return ""
            self._pos = match.end()
        out: list[str] = []
        i = self._pos
        buf = self._buffer
        while i < len(buf):
            ch = buf[i]
            if ch == '"':
                self._done = True
                i += 1
                break
            if ch == "\\":
                if i + 1 >= len(buf):
                    break
                esc = buf[i + 1]
                if esc == "u":
                    if i + 6 > len(buf):
                        break
                    out.append(chr(int(buf[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append({"n": "\n", "t": "\t", "r": "", "b": "", "f": ""}.get(esc, esc))
                i += 2
                continue
            out.append(ch)
            i += 1
        self._pos = i
        return "".join(out)
