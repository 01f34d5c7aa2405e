from __future__ import annotations

from fastapi import APIRouter

from ingest.domain import ScoredChunk
from ingest.store import Provenance
from service import audit
from service.deps import ScopeDep, ServicesDep
from service.prompting import source_label
from service.schemas import Hit, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])


def hit_out(rank: int, hit: ScoredChunk) -> Hit:
    p = Provenance.from_payload(hit.payload)
    return Hit.from_provenance(
        p, rank=rank, score=hit.score, point_id=hit.point_id, label=source_label(p), text=hit.text
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
