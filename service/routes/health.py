from __future__ import annotations

from fastapi import APIRouter

from ingest.store import store_identity
from service.deps import ServicesDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness and what the service runs on")
def healthz(services: ServicesDep) -> Health:
    return Health(
        status="ok",
        store=services.settings.store.backend,
        store_id=store_identity(services.settings.store),
        embedder=services.embedder.name,
        llm=services.llm_name,
    )
