"""A conversational turn: rewrite a follow-up into a standalone query, then the one cited answer path.

Composes `Condenser` and `Answerer`; re-implements neither retrieval nor prompting nor verification. The
history comes from the caller today; stored conversations will supply it the same way (a list of `Turn`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from ingest.domain import AccessScope
from ingest.store import SearchFilters
from service.answering import Answerer, AnswerEvent, AnswerResult, Source
from service.condense import CONDENSE_PROMPT, Condensed, Condenser, Turn
from service.deps import Services
from service.llm import LLM
from service.prompting import load_prompt

QUERY_EVENT = "query"
NEAR_MISSES_EVENT = "near_misses"
NEAR_MISSES = 3


@dataclass(frozen=True)
class ChatOutcome:
    searched: Condensed
    result: AnswerResult
    near_misses: list[Source]


class ChatAnswerer:
    def __init__(self, answerer: Answerer, condenser: Condenser) -> None:
        self.answerer = answerer
        self.condenser = condenser

    def stream(
        self,
        question: str,
        history: Sequence[Turn],
        scope: AccessScope,
        filters: SearchFilters | None = None,
    ) -> Iterator[AnswerEvent]:
        """`query` (a `Condensed`) first, then the answer path's events (`sources`, `delta`…, `done`).

        The model sees the standalone question, because it does not see the conversation; the result keeps
        the question as the user asked it. When retrieval found nothing relevant, `near_misses` (the best
        passages below the relevance bar, as `Source`s) comes before `done`, so the user sees what was close.
        """
        condensed = self.condenser.condense(question, history)
        yield AnswerEvent(QUERY_EVENT, condensed)
        for event in self.answerer.stream(condensed.query, scope, filters):
            if event.kind == "done" and isinstance(event.data, AnswerResult):
                event.data.question = condensed.question
                if event.data.declined and not event.data.sources:
                    yield AnswerEvent(NEAR_MISSES_EVENT, self.near_misses(condensed.query, scope, filters))
            yield event

    def near_misses(self, query: str, scope: AccessScope, filters: SearchFilters | None) -> list[Source]:
        hits = self.answerer.retriever.search(query, scope, filters=filters, top_k=NEAR_MISSES).hits
        return [Source.from_hit(i, hit) for i, hit in enumerate(hits, start=1)]

    def answer(
        self,
        question: str,
        history: Sequence[Turn],
        scope: AccessScope,
        filters: SearchFilters | None = None,
    ) -> ChatOutcome:
        return chat_outcome(self.stream(question, history, scope, filters))


def chat_outcome(events: Iterable[AnswerEvent]) -> ChatOutcome:
    """The searched query, the answer and the near-misses of a chat event stream, read to the end."""
    condensed: Condensed | None = None
    result: AnswerResult | None = None
    near: list[Source] = []
    for event in events:
        if event.kind == QUERY_EVENT:
            condensed = event.data
        elif event.kind == NEAR_MISSES_EVENT:
            near = event.data
        elif event.kind == "done":
            result = event.data
    assert condensed is not None and result is not None
    return ChatOutcome(condensed, result, near)


def chat_answerer(services: Services, llm: LLM | None = None) -> ChatAnswerer:
    """With `llm` (a queue ticket's model) both the rewrite and the answer generate in that one place."""
    template = load_prompt(services.settings.prompts_dir / CONDENSE_PROMPT)
    return ChatAnswerer(services.answerer(llm), Condenser(llm or services.llm, template))
