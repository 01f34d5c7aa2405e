"""The services the composition root builds, and the `Annotated` dependency aliases handlers use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request

from ingest.domain import AccessScope
from ingest.embedding import Embedder
from ingest.pipeline import IngestPipeline
from ingest.store import Store
from service.answering import Answerer
from service.config import Settings
from service.llm import LLM
from service.llm_queue import LLMQueue
from service.prompting import PromptTemplate
from service.retrieval import Retriever


@dataclass
class Services:
    settings: Settings
    store: Store
    embedder: Embedder
    retriever: Retriever
    pipeline: IngestPipeline
    template: PromptTemplate
    llm_factory: Callable[[], LLM]
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)
    # False when the caller handed in a model it keeps using (tests share one): then shutdown leaves it open.
    llm_owned: bool = True
    _llm: LLMQueue | None = None
    _llm_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def llm(self) -> LLM:
        """The model behind its queue (built on first use); generations wait there in order."""
        return self.llm_queue

    @property
    def llm_queue(self) -> LLMQueue:
        with self._llm_lock:
            if self._llm is None:
                self._llm = LLMQueue(
                    self.llm_factory(), max_queue=self.settings.llm.max_queue, owned=self.llm_owned
                )
            return self._llm

    def close_llm(self) -> None:
        """Stop the model (its worker process) at shutdown, if it was built and is ours."""
        with self._llm_lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    @property
    def llm_name(self) -> str:
        return self._llm.name if self._llm is not None else "not loaded"

    def answerer(self, llm: LLM | None = None) -> Answerer:
        return Answerer(
            self.retriever, llm or self.llm, self.template, self.settings.answer, self.settings.llm
        )


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_scope(
    x_kb_groups: Annotated[
        str | None,
        Header(
            description="Working groups the caller belongs to (comma-separated), set by the trusted proxy."
        ),
    ] = None,
    x_kb_visibility: Annotated[
        str | None, Header(description="Visibility levels the caller may read (comma-separated).")
    ] = None,
) -> AccessScope:
    """The caller's access scope. Without headers: everything (the embedded single-user default)."""
    if x_kb_groups is None and x_kb_visibility is None:
        return AccessScope.everything()
    groups = [g.strip() for g in (x_kb_groups or "").split(",") if g.strip()]
    visibilities = [v.strip() for v in x_kb_visibility.split(",")] if x_kb_visibility else None
    return AccessScope.for_groups(groups, visibilities)


ServicesDep = Annotated[Services, Depends(get_services)]
ScopeDep = Annotated[AccessScope, Depends(get_scope)]
