from __future__ import annotations

from fastapi import APIRouter

from ingest.domain import AccessScope
from service.deps import ServicesDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and what the service runs on")
def healthz(services: ServicesDep) -> Health:
    return Health(
        status="ok",
        store=f"{services.store.name}:{services.settings.store.path.resolve()}",
        points=services.store.count(AccessScope.everything()),
        embedder=services.embedder.name,
        llm=services.llm_name,
    )
