"""The services the composition root builds, and the `Annotated` dependency aliases handlers use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ingest.domain import AccessScope
from ingest.embedding import Embedder
from ingest.originals import Originals
from ingest.pipeline import IngestPipeline
from ingest.store import Store
from service import audit
from service.answering import Answerer
from service.audit import AuditLog
from service.auth import Authenticator
from service.config import Settings
from service.db import Database
from service.llm import LLM
from service.llm_queue import LLMQueue, QueueObserver
from service.principal import Principal, read_scope, require_write
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
    database: Database
    authenticator: Authenticator
    audit_log: AuditLog
    originals: Originals
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)
    # False when the caller handed in a model it keeps using (tests share one): then shutdown leaves it open.
    llm_owned: bool = True
    # Hears the queue length and every finished generation (the app's metrics), if given.
    llm_observer: QueueObserver | None = None
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
                    self.llm_factory(),
                    max_queue=self.settings.llm.max_queue,
                    owned=self.llm_owned,
                    observer=self.llm_observer,
                    # One llama.cpp context serves one generation at a time; a server may batch.
                    slots=self.settings.llm.concurrency if self.settings.llm.backend == "openai" else 1,
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


# Declares the bearer scheme in the OpenAPI schema (the "Authorize" button of /docs); the header itself is read
# by the authenticator, which also knows the other modes.
BEARER = HTTPBearer(auto_error=False, description="API token from `kb tokens create` (KB_AUTH__MODE=token).")

_PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Missing, unknown, revoked or expired credentials (WWW-Authenticate: Bearer)",
        "content": _PROBLEM,
    },
    429: {"description": "Rate limit of the token exceeded (Retry-After in seconds)", "content": _PROBLEM},
}


def get_principal(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
) -> Principal:
    """The authenticated caller (see service.auth for the modes); 401 problem+json without valid credentials."""
    return authenticate_request(request, services)


def authenticate_request(request: Request, services: Services) -> Principal:
    """The caller of `request`, authenticated once per request (a check that runs before the body is read, like
    the upload's, and the dependency share it, so the rate limit counts the request once)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    client = request.client.host if request.client else None
    principal = services.authenticator.authenticate(request.headers, client)
    audit.name_principal(principal.user)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_scope(principal: PrincipalDep) -> AccessScope:
    """The caller's read scope, derived in one place (service.principal.read_scope)."""
    return read_scope(principal)


def require_editor(principal: Principal, working_group: str) -> Principal:
    """For writes: the principal if it is editor or admin of `working_group` (or a global admin), else 403."""
    return require_write(principal, working_group)


ServicesDep = Annotated[Services, Depends(get_services)]
ScopeDep = Annotated[AccessScope, Depends(get_scope)]
