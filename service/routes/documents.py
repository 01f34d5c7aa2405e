from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from ingest.domain import ScoredChunk
from ingest.errors import DocumentNotFound, FileTooLarge, InvalidMetadata
from ingest.metadata import MetadataOverrides
from ingest.pipeline import FileOutcome, Status, upload_name
from ingest.store import SearchFilters, StoredChunk
from service import audit
from service.deps import ScopeDep, ServicesDep
from service.schemas import DeleteResponse, DocumentOut, IngestOutcomeOut, IngestResponse

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def document_out(head: ScoredChunk) -> DocumentOut:
    stored = StoredChunk.of(head)
    return DocumentOut.from_provenance(
        stored.provenance,
        status=stored.status,
        chunks=stored.chunk_count,
        pages=stored.page_count,
        inferred=list(stored.inferred),
    )


@router.post(
    "",
    response_model=IngestResponse,
    summary="Upload and ingest files (the running service owns the embedded store)",
)
def upload(
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="PDF, Markdown, text or DOCX files")],
    doc_id: Annotated[str | None, Form(description="Explicit document id (single file only)")] = None,
    doc_type: Annotated[str | None, Form()] = None,
    working_group: Annotated[str | None, Form()] = None,
    visibility: Annotated[str | None, Form()] = None,
    date: Annotated[str | None, Form()] = None,
    title: Annotated[str | None, Form()] = None,
    status: Annotated[str | None, Form()] = None,
    version: Annotated[str | None, Form()] = None,
    supersedes: Annotated[str | None, Form()] = None,
    doc_ids: Annotated[
        list[str] | None, Form(description="One id per file, in order (the CLI sends relative paths)")
    ] = None,
    sidecars: Annotated[
        list[str] | None,
        Form(
            description="One JSON object per file, in order: its `<file>.meta.yaml` sidecar (the CLI sends it)"
        ),
    ] = None,
) -> IngestResponse:
    overrides = MetadataOverrides(
        doc_type=doc_type,
        working_group=working_group,
        visibility=visibility,
        date=date,
        title=title,
        status=status,
        version=version,
        supersedes=supersedes,
    )
    limit = services.settings.server.max_upload_bytes
    outcomes: list[FileOutcome] = []
    for index, upload_file in enumerate(files):
        name = upload_name(upload_file.filename or f"upload-{index}")
        explicit = (
            doc_ids[index] if doc_ids and index < len(doc_ids) else (doc_id if len(files) == 1 else None)
        )
        try:
            sidecar = _sidecar(sidecars[index] if sidecars and index < len(sidecars) else None, name)
        except InvalidMetadata as exc:
            outcomes.append(
                FileOutcome(name, explicit or name, Status.FAILED, code=exc.code, message=exc.message)
            )
            continue
        data = upload_file.file.read(limit + 1)
        if len(data) > limit:
            error = FileTooLarge(f"upload exceeds {limit} bytes", path=name)
            outcomes.append(
                FileOutcome(name, explicit or name, Status.FAILED, code=error.code, message=error.message)
            )
            continue
        with services.ingest_lock:
            outcomes.append(services.pipeline.ingest_upload(data, name, explicit, overrides, sidecar))
    with services.ingest_lock:
        services.store.optimize()
    return IngestResponse(
        outcomes=[IngestOutcomeOut(**o.as_dict()) for o in outcomes],
        failed=sum(1 for o in outcomes if o.status is Status.FAILED),
    )


def _sidecar(text: str | None, name: str) -> dict[str, Any]:
    """A sidecar sent with an upload; its keys are validated where the pipeline resolves the metadata."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidMetadata(f"the sidecar of {name} is not valid JSON", path=name) from exc
    if not isinstance(value, dict):
        raise InvalidMetadata(f"the sidecar of {name} is not a mapping of keys to values", path=name)
    return value


@router.get("", response_model=list[DocumentOut], summary="Documents (current revisions) you may read")
def list_documents(
    services: ServicesDep, scope: ScopeDep, include_history: bool = False
) -> list[DocumentOut]:
    heads = audit.noted(
        services.store.scroll(scope, SearchFilters(only_heads=True, include_history=include_history))
    )
    return sorted((document_out(h) for h in heads), key=lambda d: (d.doc_id, d.revision))


@router.delete("/{doc_id:path}", response_model=DeleteResponse, summary="Delete a document, every revision")
def delete_document(doc_id: str, services: ServicesDep, scope: ScopeDep) -> DeleteResponse:
    audit.note(doc_id=doc_id)
    visible = services.store.count(scope, SearchFilters(doc_ids=frozenset({doc_id}), include_history=True))
    if not visible:
        raise DocumentNotFound(f"no document with id {doc_id!r}")
    with services.ingest_lock:
        deleted = services.store.delete_document(doc_id)
    return DeleteResponse(doc_id=doc_id, deleted_points=deleted)
