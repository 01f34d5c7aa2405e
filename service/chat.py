"""A conversational turn: rewrite a follow-up into a standalone query, then the one cited answer path.

Composes `Condenser` and `Answerer`; re-implements neither retrieval nor prompting nor verification. The
history comes from the caller today; stored conversations will supply it the same way (a list of `Turn`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ingest.domain import AccessScope
from ingest.store import SearchFilters
from service.answering import Answerer, AnswerEvent, AnswerResult
from service.condense import CONDENSE_PROMPT, Condensed, Condenser, Turn
from service.deps import Services
from service.prompting import load_prompt

QUERY_EVENT = "query"


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
        the question as the user asked it.
        """
        condensed = self.condenser.condense(question, history)
        yield AnswerEvent(QUERY_EVENT, condensed)
        for event in self.answerer.stream(condensed.query, scope, filters):
            if event.kind == "done" and isinstance(event.data, AnswerResult):
                event.data.question = condensed.question
            yield event

    def answer(
        self,
        question: str,
        history: Sequence[Turn],
        scope: AccessScope,
        filters: SearchFilters | None = None,
    ) -> tuple[Condensed, AnswerResult]:
        condensed: Condensed | None = None
        result: AnswerResult | None = None
        for event in self.stream(question, history, scope, filters):
            if event.kind == QUERY_EVENT:
                condensed = event.data
            elif event.kind == "done":
                result = event.data
        assert condensed is not None and result is not None
        return condensed, result


def chat_answerer(services: Services) -> ChatAnswerer:
    template = load_prompt(services.settings.prompts_dir / CONDENSE_PROMPT)
    return ChatAnswerer(services.answerer(), Condenser(services.llm, template))
