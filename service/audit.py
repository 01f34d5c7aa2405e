"""The audit log: one append-only, hash-chained record per request that touches documents.

Each record stores the sha256 of its own content and of the record before it, and a one-row chain head holds
the newest sequence number and hash. An append locks the head (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
`SELECT … FOR UPDATE`), so appends from several threads or processes form one chain. `verify` recomputes it:
an edited, removed or inserted record breaks a link, a removed last record no longer matches the head.

How a request gets audited: `AuditMiddleware` opens an `AuditContext` for every HTTP request; routers that
touch documents carry the `audited` dependency (set in the composition root), the principal dependency names
the caller, and a route reports what it returned or changed with one call to `note(...)`. When the response
has been sent (for server-sent events: when the stream ends) the middleware appends the record with the HTTP
status as outcome — also for refused requests (401, 403, 404, 429).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import anyio.to_thread
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingest.domain import ScoredChunk
from ingest.store import Provenance
from service.db import Database
from service.db.models import AuditHead, AuditRecord

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    principal: str
    endpoint: str
    query: str | None
    doc_id: str | None
    points: tuple[tuple[str, str], ...]
    outcome: str


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    records: int
    problem: str | None = None  # what is wrong and at which sequence number


def _digest(
    seq: int,
    at: str,
    principal: str,
    endpoint: str,
    query: str | None,
    doc_id: str | None,
    points: str,
    outcome: str,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        [seq, at, principal, endpoint, query, doc_id, points, outcome, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _row_digest(row: AuditRecord) -> str:
    return _digest(
        row.seq,
        row.at,
        row.principal,
        row.endpoint,
        row.query,
        row.doc_id,
        row.points,
        row.outcome,
        row.prev_hash,
    )


@dataclass(frozen=True)
class AuditLog:
    db: Database
    query_text: Literal["full", "hash"] = "hash"

    def append(
        self,
        *,
        principal: str,
        endpoint: str,
        outcome: str,
        query: str | None = None,
        doc_id: str | None = None,
        points: Iterable[tuple[str, str]] = (),
        at: datetime | None = None,
    ) -> AuditEntry:
        stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        if query is not None and self.query_text == "hash":
            query = "sha256:" + hashlib.sha256(query.encode()).hexdigest()
        point_list = [[p, r] for p, r in points]
        points_json = json.dumps(point_list, ensure_ascii=False, separators=(",", ":"))
        with self.db.serialized() as s:
            head = s.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()
            seq = head.seq + 1
            digest = _digest(seq, stamp, principal, endpoint, query, doc_id, points_json, outcome, head.hash)
            s.add(
                AuditRecord(
                    seq=seq,
                    at=stamp,
                    principal=principal,
                    endpoint=endpoint,
                    query=query,
                    doc_id=doc_id,
                    points=points_json,
                    outcome=outcome,
                    prev_hash=head.hash,
                    hash=digest,
                )
            )
            head.seq, head.hash = seq, digest
        points_t = tuple((p, r) for p, r in point_list)
        return AuditEntry(seq, stamp, principal, endpoint, query, doc_id, points_t, outcome)

    def verify(self) -> ChainCheck:
        """Walk the chain from the first record; the first broken link is reported."""
        previous, expected_seq, count = GENESIS, 1, 0
        with self.db.session() as s:
            for row in s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).yield_per(1000):
                if row.seq != expected_seq:
                    return ChainCheck(False, count, f"record {expected_seq} is missing (next is {row.seq})")
                if row.prev_hash != previous:
                    return ChainCheck(False, count, f"record {row.seq} does not link to record {row.seq - 1}")
                if _row_digest(row) != row.hash:
                    return ChainCheck(False, count, f"record {row.seq} was changed after it was written")
                previous, expected_seq, count = row.hash, row.seq + 1, count + 1
            head = s.get(AuditHead, 1)
            if head is None or head.seq != count or head.hash != previous:
                last = head.seq if head is not None else "?"
                return ChainCheck(
                    False, count, f"the chain ends at record {count}, the head names record {last}"
                )
        return ChainCheck(True, count)

    def entries(
        self, *, user: str | None = None, since: datetime | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        stmt = select(AuditRecord).order_by(AuditRecord.seq)
        if user is not None:
            stmt = stmt.where(AuditRecord.principal == user)
        if since is not None:
            stmt = stmt.where(AuditRecord.at >= since.astimezone(UTC).isoformat(timespec="microseconds"))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.db.session() as s:
            return [
                AuditEntry(
                    r.seq,
                    r.at,
                    r.principal,
                    r.endpoint,
                    r.query,
                    r.doc_id,
                    tuple((str(p), str(v)) for p, v in json.loads(r.points)),
                    r.outcome,
                )
                for r in s.scalars(stmt)
            ]


# -- per request ---------------------------------------------------------------------------------------------
@dataclass
class AuditContext:
    """What one request did, filled in by dependencies and the route while it runs."""

    endpoint: str
    audited: bool = False
    principal: str | None = None
    query: str | None = None
    doc_id: str | None = None
    points: list[tuple[str, str]] = field(default_factory=list)


# The request's context. A ContextVar rather than an argument so that a route reports with one call and without
# an extra parameter; the middleware sets it per request, and worker threads and SSE tasks inherit it.
_current: ContextVar[AuditContext | None] = ContextVar("kb_audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


def note(
    *,
    query: str | None = None,
    doc_id: str | None = None,
    hits: Iterable[ScoredChunk] = (),
    points: Iterable[tuple[str, str]] = (),
) -> None:
    """Report what the current request returned or changed: `hits`, or (point id, revision) pairs."""
    context = _current.get()
    if context is None:
        return
    if query is not None:
        context.query = query
    if doc_id is not None:
        context.doc_id = doc_id
    context.points.extend((h.point_id, Provenance.from_payload(h.payload).revision) for h in hits)
    context.points.extend(points)


def noted(hits: Iterable[ScoredChunk]) -> list[ScoredChunk]:
    """`hits` as a list, reported as returned by the current request (for a route that loops over them)."""
    listed = list(hits)
    note(hits=listed)
    return listed


def audited() -> None:
    """Router dependency: requests to this router are written to the audit log."""
    context = _current.get()
    if context is not None:
        context.audited = True


def name_principal(user: str) -> None:
    context = _current.get()
    if context is not None:
        context.principal = user


class AuditMiddleware:
    """Opens the request's `AuditContext`, and appends its record after the response (see module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = AuditContext(endpoint=f"{scope['method']} {scope['path']}")
        token = _current.set(context)
        status: dict[str, Any] = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            _current.reset(token)
            if context.audited:
                # The log lives in the services the lifespan built (the middleware exists before them).
                log: AuditLog = scope["app"].state.services.audit_log
                await anyio.to_thread.run_sync(self._append, log, context, str(status["code"]))

    @staticmethod
    def _append(log: AuditLog, context: AuditContext, outcome: str) -> None:
        log.append(
            principal=context.principal or "-",
            endpoint=context.endpoint,
            outcome=outcome,
            query=context.query,
            doc_id=context.doc_id,
            points=context.points,
        )
