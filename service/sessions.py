"""Browser sessions of the chat page in token mode: sign in once with an API token, then a cookie.

Why a random id stored hashed in the database rather than a signed cookie value: sign-out and token revocation
end a session at once (the row goes, or its token is checked on every request), and there is no server secret
to generate, keep and rotate. The cookie is `HttpOnly; SameSite=Strict; Path=/` (and `Secure` over HTTPS).

CSRF: SameSite=Strict already keeps the cookie off cross-site requests; in addition every state-changing request
authenticated by the cookie must carry the session's CSRF token in `X-CSRF-Token` (the page gets it rendered
into a meta tag). Requests with `Authorization: Bearer` need none: a browser never adds that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import CookieError, SimpleCookie

from ingest.errors import KBError
from service.accounts import authenticate_token, find_principal
from service.db import Database
from service.db.models import WebSession
from service.principal import Principal

COOKIE = "kb_session"
CSRF_HEADER = "x-csrf-token"
# A working day; the token behind it may end earlier (revoked, expired), which ends the session too.
LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRejected(KBError):
    code = "csrf_rejected"
    http_status = 403


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    csrf: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def session_cookie(headers: Mapping[str, str]) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    try:
        morsel = SimpleCookie(raw).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel is not None and morsel.value else None


def open_session(db: Database, token: str) -> tuple[str, str] | None:
    """For a valid API token: a new session (its cookie value, its CSRF token); None for an invalid token."""
    principal = authenticate_token(db, token.strip())
    if principal is None or principal.token_id is None:
        return None
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(
            WebSession(
                id_sha256=_sha256(session_id),
                token_id=principal.token_id,
                csrf=csrf,
                created_at=now,
                expires_at=now + LIFETIME,
            )
        )
    return session_id, csrf


def signed_in(db: Database, headers: Mapping[str, str]) -> SignedIn | None:
    """The session named by the request's cookie, if it is live and its token still valid."""
    session_id = session_cookie(headers)
    if session_id is None:
        return None
    now = datetime.now(UTC)
    with db.session() as s:
        row = s.get(WebSession, _sha256(session_id))
        if row is None:
            return None
        if _utc(row.expires_at) <= now:
            s.delete(row)
            return None
        token = row.token
        token_expires = _utc(token.expires_at) if token.expires_at is not None else None
        if token.revoked_at is not None or (token_expires is not None and token_expires <= now):
            return None
        user, token_id, csrf = token.user.name, token.id, row.csrf
    known = find_principal(db, user)
    if known is None:
        return None
    return SignedIn(Principal(known.user, known.memberships, known.is_admin, token_id=token_id), csrf)


def session_principal(db: Database, headers: Mapping[str, str]) -> Principal | None:
    """The hook of `Authenticator` (token mode, no Authorization header): the cookie's principal or None."""
    session = signed_in(db, headers)
    return session.principal if session is not None else None


def check_csrf(db: Database, method: str, headers: Mapping[str, str], sent: str | None = None) -> None:
    """Cookie-authenticated state changes need the session's CSRF token (header, or `sent` from a form)."""
    if method.upper() in SAFE_METHODS or headers.get("authorization") or session_cookie(headers) is None:
        return
    session = signed_in(db, headers)
    if session is None:
        return  # no live session: authentication answers 401 itself
    given = sent if sent is not None else headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfRejected("CSRF-Token fehlt oder passt nicht; bitte die Seite neu laden")


def close_session(db: Database, headers: Mapping[str, str]) -> None:
    session_id = session_cookie(headers)
    if session_id is None:
        return
    with db.session() as s:
        row = s.get(WebSession, _sha256(session_id))
        if row is not None:
            s.delete(row)
