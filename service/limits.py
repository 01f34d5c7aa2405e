"""Refuse an oversized upload from its Content-Length, before any of the body is read."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.errors import FileTooLarge
from service.errors import problem

# Multipart boundaries and the form fields next to the file.
FORM_OVERHEAD_BYTES = 64 * 1024


class UploadLimitMiddleware:
    """POST /v1/documents may carry one file of at most `max_file_bytes` plus form fields.

    With a Content-Length above that the request is answered 413 at once. Without one (chunked transfer) the
    body is counted as it arrives and reading stops at the limit with the same answer.
    """

    def __init__(self, app: ASGIApp, max_file_bytes: int, path: str = "/v1/documents") -> None:
        self.app = app
        self.limit = max_file_bytes + FORM_OVERHEAD_BYTES
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                too_large = int(length) > self.limit
            except ValueError:
                too_large = True
            if too_large:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                # Answer now; the app sees a disconnected client and whatever it answers is dropped.
                refused = True
                await self._refuse(scope, receive, send)
                return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, send_unless_refused)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = FileTooLarge(f"upload exceeds {self.limit} bytes")
        response = problem(error.http_status, error.code, "FileTooLarge", error.message, scope["path"])
        await response(scope, receive, send)
