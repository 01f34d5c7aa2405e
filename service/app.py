"""The FastAPI application. `create_app` is the composition root: it builds every client once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from ingest.domain import AccessScope
from ingest.embedding import Embedder, build_embedder
from ingest.originals import Originals
from ingest.parse_worker import IsolatedParser
from ingest.pipeline import IngestPipeline
from ingest.store import build_store
from service import tracing
from service.audit import AuditLog, AuditMiddleware, audited
from service.auth import Authenticator, check_bind
from service.config import Settings
from service.db import Database, open_database
from service.deps import AUTH_RESPONSES, Services, get_principal
from service.errors import install_error_handlers
from service.limits import UploadLimitMiddleware
from service.llm import LLM, build_llm
from service.metrics import (
    LLMQueueMetrics,
    MeteredEmbedder,
    MeteredPipeline,
    Metrics,
    RequestMetricsMiddleware,
    build_metrics,
    configure_logging,
)
from service.metrics import router as metrics_router
from service.prompting import load_prompt
from service.retrieval import Retriever
from service.routes import (
    answers,
    chat,
    conversations,
    decisions,
    documents,
    drafts,
    health,
    openai_compat,
    search,
    signin,
    web,
)
from service.schemas import problem_responses
from service.tracing import TracingMiddleware

log = logging.getLogger(__name__)


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    llm_factory: Callable[[], LLM] | None = None,
    database: Database | None = None,
    metrics: Metrics | None = None,
) -> Services:
    """Build database, store, embedder, retriever and pipeline; the LLM is built on first use unless given."""
    database = database or open_database(settings.database_url(), echo=settings.database.echo)
    embedder = embedder or build_embedder(settings.embedding)
    store = build_store(settings.store, embedder.dim)
    if metrics is not None:
        embedder = MeteredEmbedder(embedder, metrics)
    retriever = Retriever(store, embedder, settings.retrieval)
    # The parse worker (a child process) belongs to the app: `create_app`'s lifespan closes it at shutdown.
    parser = IsolatedParser()
    originals = Originals(settings.store.originals_dir())
    originals.sweep_partials()  # what a crash in the middle of keeping a file left behind
    pipeline = (
        MeteredPipeline(store, embedder, settings.ingest, metrics, parser=parser, originals=originals)
        if metrics is not None
        else IngestPipeline(store, embedder, settings.ingest, parser=parser, originals=originals)
    )
    template = load_prompt(settings.prompts_dir / settings.answer.prompt_file)
    if llm is not None:
        given = llm
        llm_factory = lambda: given  # noqa: E731
    factory = llm_factory or (lambda: build_llm(settings.llm))
    return Services(
        settings,
        store,
        embedder,
        retriever,
        pipeline,
        template,
        factory,
        database,
        Authenticator(settings.auth, database),
        AuditLog(database, settings.audit.query_text),
        originals,
        llm_owned=llm is None,
        llm_observer=LLMQueueMetrics(metrics) if metrics is not None else None,
    )


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    llm: LLM | None = None,
    llm_factory: Callable[[], LLM] | None = None,
    preload_llm: bool = False,
) -> FastAPI:
    settings = settings or Settings()
    check_bind(settings.auth, settings.server.host)
    if settings.log.format == "json":
        configure_logging(settings.log.format, settings.log.level)
    metrics_token = settings.metrics.token.get_secret_value() if settings.metrics.token else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = build_metrics(lambda: app.state.services.store.count(AccessScope.everything()))
        app.state.metrics, app.state.metrics_token = metrics, metrics_token
        services = build_services(
            settings, embedder=embedder, llm=llm, llm_factory=llm_factory, metrics=metrics
        )
        app.state.services = services
        tracer = tracing.install(settings.tracing)
        if preload_llm:
            _ = services.llm
        try:
            yield
        finally:
            if tracer is not None:
                tracer.shutdown()
            try:
                services.close_llm()
                services.pipeline.parser.close()
            finally:
                services.store.close()
                services.database.close()

    # /docs and /redoc with Swagger UI and ReDoc served by the app itself (fastapi-offline ships the assets):
    # the machine may have no internet, and FastAPI's own pages load them from a CDN. No online validator.
    app = FastAPIOffline(
        swagger_ui_parameters={"validatorUrl": None},
        title="Wissensbasis der Arbeitskreise",
        version="0.1.0",
        description="Search and cited answers over the working groups' documents. Errors are RFC 9457 "
        "problem+json with a stable `code`.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    if settings.metrics.enabled:
        app.include_router(metrics_router)
    # Every route that touches documents needs a principal and is audited, including routes added later here.
    # The problems each router's routes can answer with, besides 401/429 (the OpenAPI schema says what the
    # service does; a schemathesis run in the tests holds it to that).
    problems = {
        search: (),
        answers: (503,),
        documents: (),
        decisions: (),
        chat: (404, 503),
        openai_compat: (404, 503),
        drafts: (400, 403, 404, 409, 503),
        conversations: (403, 404),
    }
    for module, statuses in problems.items():
        app.include_router(
            module.router,
            dependencies=[Depends(audited), Depends(get_principal), signin.CSRF_DEPENDENCY],
            responses={**AUTH_RESPONSES, **problem_responses(*statuses)},
        )
    # The chat page reads only through the caller's scope (ScopeDep); its static files need no credentials.
    app.include_router(web.router)
    app.include_router(signin.router)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(UploadLimitMiddleware, max_file_bytes=settings.server.max_upload_bytes)
    app.add_middleware(TracingMiddleware)  # inside the request id, so a span carries it
    app.add_middleware(RequestMetricsMiddleware)  # outermost: request id and latency cover everything
    return app
