"""Requests per minute per key (API token, or user behind a proxy), counted in the service database.

A fixed one-minute window in one atomic upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so several
service replicas sharing a PostgreSQL database share the count; SQLite serialises the statement itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import case
from sqlalchemy.dialects import postgresql, sqlite

from ingest.errors import RateLimited
from service.db import Database
from service.db.models import RateWindow


@dataclass(frozen=True)
class RateLimiter:
    db: Database
    per_minute: int

    def hit(self, key: str, *, now: float | None = None) -> None:
        """Count one request of `key`; RateLimited (with the seconds until the window ends) beyond the limit."""
        if self.per_minute <= 0:
            return
        now = time.time() if now is None else now
        window = int(now // 60)
        insert = postgresql.insert if self.db.engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(RateWindow).values(key=key, window_minute=window, hits=1)
        same_window = stmt.excluded.window_minute == RateWindow.window_minute
        upsert = stmt.on_conflict_do_update(
            index_elements=[RateWindow.key],
            set_={
                "window_minute": stmt.excluded.window_minute,
                "hits": case((same_window, RateWindow.hits + 1), else_=1),
            },
        ).returning(RateWindow.hits)
        with self.db.session() as s:
            count = int(s.execute(upsert).scalar_one())
        if count > self.per_minute:
            retry_after = max(1, int((window + 1) * 60 - now + 0.999))
            raise RateLimited(
                f"mehr als {self.per_minute} Anfragen pro Minute; bitte später erneut versuchen",
                retry_after_s=retry_after,
            )
