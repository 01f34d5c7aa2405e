"""Engine, sessions and migrations of the service database.

SQLite (the default, a file beside the store) runs in WAL mode with SQLAlchemy emitting BEGIN itself, so a
transaction that must serialise appends (the audit chain) can ask for `BEGIN IMMEDIATE`. On PostgreSQL the same
code takes row locks (`SELECT … FOR UPDATE`) instead; SQLite ignores those.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_BEGIN_OPTION = "kb_sqlite_begin"


@dataclass(frozen=True)
class Database:
    engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def serialized(self) -> Iterator[Session]:
        """A unit of work that holds the write lock from its start (SQLite: BEGIN IMMEDIATE)."""
        bind = self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic `upgrade head`), configured in code."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        # Alembic reports every plugin and step at INFO; a start-up shows a user none of that.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                # Replicas starting together: one migrates, the others wait for it (lock ends with the txn).
                connection.execute(text("SELECT pg_advisory_xact_lock(74823001)"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, echo: bool = False, migrate: bool = True) -> Database:
    """Build the engine for `url` (creating the SQLite file's folder) and apply pending migrations."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, echo=echo, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        _sqlite_transactions(engine)
    db = Database(engine)
    if migrate:
        db.migrate()
    return db


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, emit BEGIN, so that BEGIN IMMEDIATE is possible."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL stays consistent on power loss (only the newest commits may be lost) and spares an
        # fsync per commit: every signed-in request commits (rate window, audit record).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
