"""One mapping of typed errors to RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import KBError

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "urn:kb:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"


# An absolute file path (`/…/name`): not after a word character, a dot, a colon or a slash, so URLs, ratios and
# route paths inside words are left alone.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"(),;]+/)+([^\s/'\"(),;]+)")


def public_text(text: str) -> str:
    """`text` with every absolute file path cut to its last part: no response names a path on the server."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KBError)
    async def kb_error(request: Request, exc: KBError) -> JSONResponse:
        # Paths in typed errors name files as the user knows them (relative, or an upload's name); an absolute
        # path (a model file, the store) is cut to its name.
        extra = {"path": public_text(exc.path)} if exc.path else {}
        return problem(
            exc.http_status,
            exc.code,
            type(exc).__name__,
            public_text(str(exc)),
            request.url.path,
            headers=exc.headers() or None,
            **extra,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Routing's own answers (no such path, method not allowed) are problem+json like every other error.
        codes = {404: "not_found", 405: "method_not_allowed"}
        return problem(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            str(exc.detail),
            request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in exc.errors()
        ]
        return problem(
            422,
            "invalid_request",
            "Invalid request",
            "the request does not match the schema",
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(
            500, "internal_error", "Internal error", "an unexpected error occurred", request.url.path
        )
