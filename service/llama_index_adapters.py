"""llama-index seams: our retriever and LLM as llama-index components, for its chat engines and evaluators.

Ingestion, retrieval and cited answers do not run through llama-index (see the README, "Design notes"), but the
coming chat page with conversation memory will: `chat_engine(...)` builds a `CondensePlusContextChatEngine` on
the same access-scoped retriever and the same local model. Models are passed explicitly; llama-index's global
`Settings` is never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from ingest.domain import AccessScope, ScoredChunk
from ingest.store import Provenance, SearchFilters
from service.llm import LLM
from service.retrieval import Retriever


def to_node(hit: ScoredChunk) -> NodeWithScore:
    """A search hit as a llama-index node, with its provenance as metadata and its character span."""
    p = Provenance.from_payload(hit.payload)
    metadata = p.to_payload()
    # The span is the node's own (start/end_char_idx), not metadata.
    del metadata["char_start"], metadata["char_end"]
    node = TextNode(
        id_=hit.point_id,
        text=hit.text,
        metadata=metadata,
        start_char_idx=p.char_start,
        end_char_idx=p.char_end,
    )
    return NodeWithScore(node=node, score=hit.score)


class ScopedRetriever(BaseRetriever):
    """Our hybrid retriever under llama-index's interface; the access scope is fixed per instance."""

    def __init__(
        self, retriever: Retriever, scope: AccessScope, filters: SearchFilters | None = None
    ) -> None:
        super().__init__()
        self._retriever = retriever
        self._scope = scope
        self._filters = filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self._retriever.search(query_bundle.query_str, self._scope, filters=self._filters)
        return [to_node(hit) for hit in result.hits] if result.relevant else []


class LocalLLM(CustomLLM):
    """Our LLM protocol (llama.cpp in process or an OpenAI-compatible server) as a llama-index LLM."""

    max_tokens: int = 320
    context_window: int = 4096
    _llm: LLM = PrivateAttr()

    def __init__(self, llm: LLM, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._llm = llm

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            model_name=self._llm.name,
            is_chat_model=True,
        )

    def _messages(self, prompt: str) -> Sequence[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text = self._llm.generate(self._messages(prompt), schema=None, max_tokens=self.max_tokens).text()
        return CompletionResponse(text=text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        generation = self._llm.generate(self._messages(prompt), schema=None, max_tokens=self.max_tokens)

        def gen() -> CompletionResponseGen:
            text = ""
            for delta in generation:
                text += delta
                yield CompletionResponse(text=text, delta=delta)

        return gen()


def chat_engine(
    retriever: Retriever,
    llm: LLM,
    scope: AccessScope,
    *,
    history: Sequence[ChatMessage] = (),
    token_limit: int = 1500,
) -> CondensePlusContextChatEngine:
    """A chat engine with conversation memory over the caller's scope (the future chat page's core)."""
    memory = ChatMemoryBuffer.from_defaults(chat_history=list(history), token_limit=token_limit)
    return CondensePlusContextChatEngine.from_defaults(
        retriever=ScopedRetriever(retriever, scope), llm=LocalLLM(llm), memory=memory
    )
