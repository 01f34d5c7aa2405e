"""Sign-in to the chat page with an API token (token mode): `GET/POST /anmelden`, `POST /abmelden`, and the
CSRF check every API router runs (`require_csrf`). In the other modes there is nothing to sign in to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.deps import ServicesDep
from service.routes.web import _templates
from service.sessions import COOKIE, LIFETIME, CsrfRejected, check_csrf, close_session, open_session

router = APIRouter(tags=["web"], include_in_schema=False)


def require_csrf(request: Request, services: ServicesDep) -> None:
    """State-changing requests authenticated by the session cookie need `X-CSRF-Token` (service.sessions)."""
    if services.settings.auth.mode == "token":
        check_csrf(services.database, request.method, request.headers)


def _page(error: str | None = None, status: int = 200) -> HTMLResponse:
    html = (
        _templates()
        .get_template("signin.html")
        .render(error=error, hours=int(LIFETIME.total_seconds() // 3600))
    )
    return HTMLResponse(html, status_code=status)


def _same_origin(request: Request) -> bool:
    """Login CSRF: a sign-in form posted from another site is refused (browsers send Origin on POST)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


@router.get("/anmelden", response_class=HTMLResponse)
def signin_page(services: ServicesDep) -> Response:
    if services.settings.auth.mode != "token":
        return RedirectResponse("/", status_code=303)
    return _page()


@router.post("/anmelden", response_class=HTMLResponse)
def signin(request: Request, services: ServicesDep, token: Annotated[str, Form(max_length=500)]) -> Response:
    if services.settings.auth.mode != "token":
        return RedirectResponse("/", status_code=303)
    if not _same_origin(request):
        return _page("Anmeldung von einer fremden Seite abgelehnt.", status=403)
    opened = open_session(services.database, token)
    if opened is None:
        return _page("Token ungültig, widerrufen oder abgelaufen.", status=401)
    session_id, _csrf = opened
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/abmelden")
def signout(
    request: Request, services: ServicesDep, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Ends the session (the form on the page sends the CSRF token as a field)."""
    check_csrf(services.database, request.method, request.headers, sent=csrf)
    close_session(services.database, request.headers)
    response = RedirectResponse("/anmelden", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


CSRF_DEPENDENCY = Depends(require_csrf)
__all__ = ["CSRF_DEPENDENCY", "CsrfRejected", "router"]
