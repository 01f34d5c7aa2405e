from __future__ import annotations

from fastapi import APIRouter

from ingest.domain import ScoredChunk
from service import audit
from service.deps import ScopeDep, ServicesDep
from service.prompting import provenance
from service.schemas import Hit, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])


def hit_out(rank: int, hit: ScoredChunk) -> Hit:
    p = hit.payload
    return Hit(
        rank=rank,
        score=hit.score,
        char_start=int(p.get("char_start") or 0),
        char_end=int(p.get("char_end") or 0),
        doc_type=str(p.get("doc_type")),
        working_group=str(p.get("working_group")),
        date=p.get("date"),
        **provenance(hit),
    )


@router.post("/search", response_model=SearchResponse, summary="Hybrid search over the passages you may read")
def search(body: SearchRequest, services: ServicesDep, scope: ScopeDep) -> SearchResponse:
    mode = body.mode or services.settings.retrieval.mode
    result = services.retriever.search(
        body.query, scope, mode=mode, top_k=body.top_k, filters=body.filters.to_store()
    )
    audit.note(query=body.query, hits=result.hits)
    return SearchResponse(
        query=body.query,
        mode=mode,
        relevant=result.relevant,
        best_dense_score=result.best_dense,
        hits=[hit_out(i, h) for i, h in enumerate(result.hits, start=1)],
    )
