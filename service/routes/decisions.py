from __future__ import annotations

from fastapi import APIRouter, Query

from ingest.store import SearchFilters
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
        p = chunk.payload
        for d in p.get("decisions") or []:
            out.append(
                DecisionOut(
                    doc_id=str(p.get("doc_id")),
                    title=str(p.get("title")),
                    working_group=str(p.get("working_group")),
                    date=p.get("date"),
                    agenda_item=d.get("agenda_item"),
                    text=str(d.get("text")),
                    vote=d.get("vote"),
                    page=d.get("page"),
                    revision=str(p.get("revision")),
                )
            )
    return sorted(out, key=lambda d: (d.date or "", d.doc_id, d.agenda_item or ""))
