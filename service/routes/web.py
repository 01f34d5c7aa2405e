"""The chat page at `/` and its static files, found relative to the package (so `kb serve` works anywhere).

The page is rendered on the server with the question input and the filter choices (working groups and
document types of the documents the caller may read); answers stream from `POST /v1/chat/answers`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from ingest.errors import KBError, Unauthenticated
from ingest.store import SearchFilters
from service.deps import ServicesDep, get_principal
from service.principal import read_scope
from service.routes.documents import document_out
from service.sessions import signed_in

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
TEMPLATES_DIR = WEB_DIR / "templates"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}

DOC_TYPE_LABELS = {
    "position_paper": "Positionspapier",
    "legal_opinion": "Rechtsgutachten",
    "org_report": "Organisationsgutachten",
    "minutes": "Protokoll",
    "recommendation": "Handlungsempfehlung",
    "law": "Gesetz / Satzung",
    "other": "Sonstiges",
}

router = APIRouter(tags=["web"], include_in_schema=False)


class StaticFileNotFound(KBError):
    code = "not_found"
    http_status = 404


@lru_cache(maxsize=1)
def _templates() -> Any:
    # Heavy-ish import kept to the branch that renders HTML; the environment is built once per process.
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]))


@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request, services: ServicesDep) -> Response:
    """In token mode a browser without a session goes to the sign-in page; an API client gets the 401."""
    token_mode = services.settings.auth.mode == "token"
    try:
        scope = read_scope(get_principal(request, services))
    except Unauthenticated:
        if token_mode and "authorization" not in request.headers:
            return RedirectResponse("/anmelden", status_code=303)
        raise
    session = signed_in(services.database, request.headers) if token_mode else None
    documents = [document_out(head) for head in services.store.scroll(scope, SearchFilters(only_heads=True))]
    groups = sorted({d.working_group for d in documents if d.working_group and d.working_group != "None"})
    types = sorted({d.doc_type for d in documents if d.doc_type and d.doc_type != "None"})
    html = (
        _templates()
        .get_template("index.html")
        .render(
            working_groups=groups,
            doc_types=[(t, DOC_TYPE_LABELS.get(t, t)) for t in types],
            documents=len(documents),
            signed_in=session is not None,
            csrf_token=session.csrf if session is not None else "",
        )
    )
    return HTMLResponse(html)


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """Only the files shipped in service/web/static; no sub-paths."""
    allowed = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
    path = allowed.get(name)
    if path is None:
        raise StaticFileNotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"))
