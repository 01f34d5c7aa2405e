"""One mapping of typed errors to RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.errors import KBError
from service.llm import LLMBusy

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "urn:kb:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"


# An absolute file path (`/…/name`): not after a word character, a dot, a colon or a slash, so URLs, ratios and
# route paths inside words are left alone.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/'\"(),;]+/)+([^\s/'\"(),;]+)")


def public_text(text: str) -> str:
    """`text` with every absolute file path cut to its last part: no response names a path on the server."""
    return _ABSOLUTE_PATH.sub(r"\1", text)


def problem_fields(
    status: int, code: str, title: str, detail: str, instance: str, **extra: object
) -> dict[str, object]:
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extra,
    }


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    body = problem_fields(status, code, title, detail, instance, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def error_fields(exc: Exception, instance: str) -> dict[str, object]:
    """The problem+json fields of an error, also for an `error` event of an SSE stream that already began."""
    if isinstance(exc, KBError):
        # Paths in typed errors name files as the user knows them (relative, or an upload's name); an absolute
        # path (a model file, the store) is cut to its name.
        extra = {"path": public_text(exc.path)} if exc.path else {}
        return problem_fields(
            exc.http_status, exc.code, type(exc).__name__, public_text(str(exc)), instance, **extra
        )
    return problem_fields(500, "internal_error", "Internal error", "an unexpected error occurred", instance)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KBError)
    async def kb_error(request: Request, exc: KBError) -> JSONResponse:
        body = error_fields(exc, request.url.path)
        headers = exc.headers() or None
        return JSONResponse(body, status_code=exc.http_status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)

    @app.exception_handler(LLMBusy)
    async def llm_busy(request: Request, exc: LLMBusy) -> JSONResponse:
        body = error_fields(exc, request.url.path)
        headers = {**exc.headers(), "Retry-After": str(exc.retry_after_s)}
        return JSONResponse(body, status_code=exc.http_status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)

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
