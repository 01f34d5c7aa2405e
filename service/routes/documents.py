"""Documents: upload, list, one document's revisions, its original file, delete — each within what the caller
may read or write.

Uploads are authorised before the multipart body is read: FastAPI parses a form before any dependency runs, so
the upload route's class authenticates first and checks the `working_group` query parameter (the CLI sends it
there). A group named only in the form is checked after parsing, before any file is ingested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute

from ingest.domain import ScoredChunk
from ingest.errors import (
    DocumentNotFound,
    FileTooLarge,
    Forbidden,
    InvalidMetadata,
    OriginalNotKept,
    WorkingGroupConflict,
)
from ingest.metadata import MetadataOverrides
from ingest.pipeline import FileOutcome, Status, upload_name
from ingest.store import SearchFilters, StoredChunk
from service import audit
from service.deps import PrincipalDep, ScopeDep, ServicesDep, authenticate_request, get_services
from service.downloads import DOCX, FALLBACK_MEDIA_TYPE, MEDIA_TYPES, download
from service.principal import may_write_somewhere, require_write, upload_group, uploader
from service.schemas import (
    DOC_ID_DESCRIPTION,
    DeleteResponse,
    DocumentDetail,
    DocumentOut,
    IngestOutcomeOut,
    IngestResponse,
    RevisionOut,
    problem_responses,
)

router = APIRouter(prefix="/v1/documents", tags=["documents"])


class WriteCheckedRoute(APIRoute):
    """Refuses an upload the caller may not make before its body is read (401/403 problem+json)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            principal = authenticate_request(request, get_services(request))
            group = request.query_params.get("working_group")
            if group:
                require_write(principal, group)
            elif not may_write_somewhere(principal):
                raise Forbidden(
                    "Schreibrechte fehlen: Hochladen braucht die Rolle editor in einem Arbeitskreis"
                )
            return await handler(request)

        return checked


def document_out(head: ScoredChunk) -> DocumentOut:
    stored = StoredChunk.of(head)
    return DocumentOut.from_provenance(
        stored.provenance,
        status=stored.status,
        chunks=stored.chunk_count,
        pages=stored.page_count,
        inferred=list(stored.inferred),
    )


def upload(
    services: ServicesDep,
    principal: PrincipalDep,
    files: Annotated[list[UploadFile], File(description="PDF, Markdown, text or DOCX files", min_length=1)],
    working_group_query: Annotated[
        str | None,
        Query(alias="working_group", description="Target working group, checked before the body is read"),
    ] = None,
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
    if working_group_query and working_group and working_group_query != working_group:
        raise WorkingGroupConflict("working_group in Query und Formular widersprechen sich")
    group = upload_group(principal, working_group_query or working_group)
    who = uploader(principal)
    overrides = MetadataOverrides(
        doc_type=doc_type,
        working_group=group,
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
            outcomes.append(services.pipeline.ingest_upload(data, name, explicit, overrides, sidecar, who))
    with services.ingest_lock:
        services.store.optimize()
    return IngestResponse(
        outcomes=[IngestOutcomeOut(**o.as_dict()) for o in outcomes],
        failed=sum(1 for o in outcomes if o.status is Status.FAILED),
    )


router.add_api_route(
    "",
    upload,
    methods=["POST"],
    route_class_override=WriteCheckedRoute,
    response_model=IngestResponse,
    summary="Upload and ingest files into a working group (editor there, or admin)",
    description="The target group comes from the `working_group` query parameter (checked before the body is "
    "read) or the form field; both given must agree. Without one, the caller's only editor group is used (a "
    "global admin may leave it to the documents' metadata). Visibility defaults to `group`. A document id held "
    "by a group the caller cannot write into is not replaced: that file fails with code `forbidden`.",
    responses=problem_responses(400, 403, 409, 413, 422),
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
    services: ServicesDep,
    scope: ScopeDep,
    include_history: bool = False,
    working_group: Annotated[str | None, Query(description="Only this working group (narrows)")] = None,
) -> list[DocumentOut]:
    filters = SearchFilters(
        only_heads=True,
        include_history=include_history,
        working_groups=frozenset({working_group}) if working_group else frozenset(),
    )
    heads = audit.noted(services.store.scroll(scope, filters))
    return sorted((document_out(h) for h in heads), key=lambda d: (d.doc_id, d.revision))


DocIdPath = Annotated[str, Path(description=DOC_ID_DESCRIPTION)]


def _not_found(doc_id: str) -> DocumentNotFound:
    # The same answer for a document that does not exist and one the caller may not read.
    return DocumentNotFound(f"no document with id {doc_id!r}")


_FILE_CONTENT: dict[str, Any] = {
    media_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
    for media_type in sorted({*MEDIA_TYPES.values(), DOCX, FALLBACK_MEDIA_TYPE})
}
_FILE_HEADERS: dict[str, Any] = {
    "Content-Disposition": {
        "description": "inline; filename=\"<ASCII stand-in>\"; filename*=UTF-8''<the file's own name>",
        "schema": {"type": "string"},
    },
    "X-Content-Type-Options": {"description": "nosniff", "schema": {"type": "string"}},
}


# Registered before `GET /{doc_id:path}`, which would otherwise take `…/original` as part of a document id.
@router.get(
    "/{doc_id:path}/original",
    response_class=FileResponse,
    summary="The original file of a document you may read (PDFs open at a page with #page=N)",
    description="The bytes that were ingested, as the current revision or the one named by `revision`. "
    "`Content-Disposition: inline` with the file's own name (never a server path), "
    "`X-Content-Type-Options: nosniff`; text formats carry `Content-Security-Policy: sandbox` (nothing in "
    "them runs). A document you may not read answers 404 `document_not_found`, the same as a missing one; a "
    "readable document whose original is not kept (ingested before originals were kept) 404 "
    "`original_not_kept` — ingesting the file again keeps it. Byte ranges (`Range: bytes=0-0`) are served "
    "as 206: the chat page asks for one byte before it offers „Dokument öffnen“.",
    responses={
        200: {"description": "The original file", "content": _FILE_CONTENT, "headers": _FILE_HEADERS},
        206: {"description": "The requested byte range of it (`Range` header)", "content": _FILE_CONTENT},
        **problem_responses(404, 422),
    },
)
def get_original(
    doc_id: DocIdPath,
    services: ServicesDep,
    scope: ScopeDep,
    revision: Annotated[
        str | None,
        Query(
            pattern="^[0-9a-f]{64}$",
            description="A revision (sha256 of the file) of this document; default: the current one.",
        ),
    ] = None,
) -> FileResponse:
    audit.note(doc_id=doc_id)
    flt = SearchFilters(doc_ids=frozenset({doc_id}), only_heads=True, include_history=True, revision=revision)
    # The same scope as every search: a revision the caller may not read is not found.
    heads = services.store.scroll(scope, flt)
    if not heads:
        raise _not_found(doc_id)
    # Without `revision`: the current one; a document with only history left serves its newest revision.
    head = max(heads, key=lambda h: (StoredChunk.of(h).is_current, StoredChunk.of(h).ingested_at or ""))
    audit.note(hits=[head])
    provenance = StoredChunk.of(head).provenance
    try:
        # Looked at here, not by the response: a file missing now is a typed 404, never an error naming its path.
        path = services.originals.path_of(provenance.revision)
        stat = path.stat()
    except (FileNotFoundError, ValueError):  # ValueError: a stored revision that is no sha256 names no file
        raise OriginalNotKept(
            f"the original file of {doc_id!r} is not kept (ingested before originals were kept); "
            "ingest the file again to keep it"
        ) from None
    sent = download(provenance.source_path, doc_id)
    return FileResponse(path, media_type=sent.media_type, headers=sent.headers, stat_result=stat)


@router.get(
    "/{doc_id:path}",
    response_model=DocumentDetail,
    summary="One document you may read: its current metadata and every revision",
    responses=problem_responses(404),
)
def get_document(doc_id: DocIdPath, services: ServicesDep, scope: ScopeDep) -> DocumentDetail:
    audit.note(doc_id=doc_id)
    flt = SearchFilters(doc_ids=frozenset({doc_id}), only_heads=True, include_history=True)
    heads = audit.noted(services.store.scroll(scope, flt))
    if not heads:
        raise _not_found(doc_id)
    stored = sorted((StoredChunk.of(h) for h in heads), key=lambda s: (s.ingested_at or "", s.is_current))
    current = next((h for h in heads if StoredChunk.of(h).is_current), None)
    return DocumentDetail(
        doc_id=doc_id,
        current=document_out(current) if current is not None else None,
        revisions=[
            RevisionOut(
                revision=s.provenance.revision,
                current=s.is_current,
                ingested_at=s.ingested_at,
                title=s.provenance.title,
                working_group=s.provenance.working_group,
                visibility=s.provenance.visibility,
                status=s.status,
                chunks=s.chunk_count,
            )
            for s in stored
        ],
    )


@router.delete(
    "/{doc_id:path}",
    response_model=DeleteResponse,
    summary="Delete a document, every revision (editor of its working group, or admin)",
    responses=problem_responses(403, 404),
)
def delete_document(
    doc_id: DocIdPath, services: ServicesDep, scope: ScopeDep, principal: PrincipalDep
) -> DeleteResponse:
    audit.note(doc_id=doc_id)
    visible = services.store.count(scope, SearchFilters(doc_ids=frozenset({doc_id}), include_history=True))
    if not visible:
        raise _not_found(doc_id)
    for group in sorted(services.pipeline.owner_groups(doc_id)):
        require_write(principal, group)
    with services.ingest_lock:
        # Also removes the original files no other stored revision refers to.
        deleted = services.pipeline.delete_document(doc_id)
    return DeleteResponse(doc_id=doc_id, deleted_points=deleted)
