from __future__ import annotations

from fastapi import APIRouter, Query

from ingest.store import SearchFilters, StoredChunk
from service import audit
from service.deps import ScopeDep, ServicesDep
from service.schemas import DecisionOut

router = APIRouter(prefix="/v1", tags=["decisions"])


@router.get("/decisions", response_model=list[DecisionOut], summary="Decisions recorded in minutes")
def decisions(
    services: ServicesDep,
    scope: ScopeDep,
    working_group: str | None = Query(None, description="Only this working group"),
    since: str | None = Query(None, description="Only meetings on or after this date (YYYY-MM-DD)"),
) -> list[DecisionOut]:
    filters = SearchFilters(
        working_groups=frozenset({working_group}) if working_group else frozenset(),
        date_from=since,
        has_decisions=True,
    )
    out: list[DecisionOut] = []
    for chunk in audit.noted(services.store.scroll(scope, filters)):
        stored = StoredChunk.of(chunk)
        for d in stored.decisions:
            out.append(
                DecisionOut.from_provenance(
                    stored.provenance, agenda_item=d.agenda_item, text=d.text, vote=d.vote, page=d.page
                )
            )
    return sorted(out, key=lambda d: (d.date or "", d.doc_id, d.agenda_item or ""))
