"""The FastAPI application. `create_app` is the composition root: it builds every client once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ingest.embedding import Embedder, build_embedder
from ingest.pipeline import IngestPipeline
from ingest.store import build_store
from service.config import Settings
from service.deps import Services
from service.errors import install_error_handlers
from service.llm import LLM, build_llm
from service.prompting import load_prompt
from service.retrieval import Retriever
from service.routes import answers, decisions, documents, health, search

log = logging.getLogger(__name__)


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    llm_factory: Callable[[], LLM] | None = None,
) -> Services:
    """Build store, embedder, retriever and pipeline; the LLM is built on first use unless given."""
    embedder = embedder or build_embedder(settings.embedding)
    store = build_store(settings.store, embedder.dim)
    retriever = Retriever(store, embedder, settings.retrieval)
    pipeline = IngestPipeline(store, embedder, settings.ingest)
    template = load_prompt(settings.prompts_dir / settings.answer.prompt_file)
    if llm is not None:
        given = llm
        llm_factory = lambda: given  # noqa: E731
    factory = llm_factory or (lambda: build_llm(settings.llm))
    return Services(settings, store, embedder, retriever, pipeline, template, factory, llm_owned=llm is None)


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    llm_factory: Callable[[], LLM] | None = None,
    preload_llm: bool = False,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings, embedder=embedder, llm=llm, llm_factory=llm_factory)
        app.state.services = services
        if preload_llm:
            _ = services.llm
        try:
            yield
        finally:
            services.close_llm()
            services.store.close()

    app = FastAPI(
        title="Wissensbasis der Arbeitskreise",
        version="0.1.0",
        description="Search and cited answers over the working groups' documents. Errors are RFC 9457 "
        "problem+json with a stable `code`.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, search, answers, documents, decisions):
        app.include_router(module.router)
    return app
