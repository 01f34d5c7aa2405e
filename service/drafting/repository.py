"""Drafts in the service database: one row per draft, rewritten after every section (the resume point)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from service.db import Database
from service.db.models import DraftRecord
from service.drafting.errors import DraftNotFound
from service.drafting.model import DraftState


def new_draft_id() -> str:
    return uuid.uuid4().hex[:16]


class DraftRepository:
    def __init__(self, database: Database) -> None:
        self.database = database

    def save(self, draft: DraftState) -> None:
        now = datetime.now(UTC)
        with self.database.session() as session:
            row = session.get(DraftRecord, draft.id)
            if row is None:
                row = DraftRecord(id=draft.id, created_at=now)
                session.add(row)
            row.owner = draft.owner
            row.working_group = draft.working_group
            row.topic = draft.topic
            row.template = draft.template
            row.status = draft.status
            row.state = draft.model_dump_json()
            row.updated_at = now

    def load(self, draft_id: str, *, owner: str | None = None) -> DraftState:
        """The draft; with `owner`, only if it is theirs (another user's draft is "not found")."""
        with self.database.session() as session:
            row = session.get(DraftRecord, draft_id)
            if row is None or (owner is not None and row.owner != owner):
                raise DraftNotFound(f"Entwurf {draft_id!r} nicht gefunden")
            return DraftState.model_validate_json(row.state)

    def list(self, owner: str | None) -> list[DraftState]:
        with self.database.session() as session:
            query = select(DraftRecord).order_by(DraftRecord.created_at.desc())
            if owner is not None:
                query = query.where(DraftRecord.owner == owner)
            return [DraftState.model_validate_json(row.state) for row in session.scalars(query)]
