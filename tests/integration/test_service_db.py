"""The service database on a real SQLite file: migrations, accounts and tokens, the audit chain, rate limits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from ingest.errors import AccountError, RateLimited
from service.accounts import (
    add_user,
    authenticate_token,
    create_token,
    list_tokens,
    list_users,
    remove_user,
    revoke_token,
)
from service.audit import AuditLog
from service.db import Database, open_database
from service.db.models import Base
from service.principal import Membership, Role
from service.ratelimit import RateLimiter


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = open_database(f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    yield database
    database.close()


def test_migrations_create_the_schema_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "kb.sqlite3"
    db = open_database(f"sqlite:///{path}")
    try:
        assert path.is_file()
        tables = set(inspect(db.engine).get_table_names())
        assert {
            "users",
            "memberships",
            "api_tokens",
            "audit_log",
            "audit_head",
            "rate_windows",
            "drafts",
        } <= tables
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            assert (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                == "0004_turn_short_answer"
            )
        db.migrate()  # a second start changes nothing
    finally:
        db.close()


def test_users_with_memberships_are_added_listed_and_removed(db: Database) -> None:
    add_user(db, "anna", [Membership("AK KI", Role.EDITOR), Membership("AK RZ", Role.READER)])
    add_user(db, "root", [], is_admin=True)
    users = {u.name: u for u in list_users(db)}
    assert users["anna"].memberships == (Membership("AK KI", Role.EDITOR), Membership("AK RZ", Role.READER))
    assert users["root"].is_admin and not users["anna"].is_admin
    with pytest.raises(AccountError):
        add_user(db, "anna", [])
    remove_user(db, "anna")
    assert [u.name for u in list_users(db)] == ["root"]
    with pytest.raises(AccountError):
        remove_user(db, "anna")


def test_token_is_stored_only_as_hash_and_authenticates_its_user(db: Database) -> None:
    add_user(db, "anna", [Membership("AK KI", Role.EDITOR)])
    info, token = create_token(db, "anna")
    secret = token.rsplit("_", 1)[1]
    with db.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.execute(text("SELECT * FROM api_tokens")))
    assert secret not in dump and info.id in dump
    principal = authenticate_token(db, token)
    assert principal is not None and principal.user == "anna" and principal.token_id == info.id
    assert principal.memberships == (Membership("AK KI", Role.EDITOR),)
    assert list_tokens(db)[0].last_used_at is not None
    assert authenticate_token(db, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert authenticate_token(db, "kb_unknown_secret") is None
    assert authenticate_token(db, "") is None


def test_revoked_expired_and_orphaned_tokens_are_refused(db: Database) -> None:
    add_user(db, "anna", [])
    revoked_info, revoked = create_token(db, "anna")
    _, expiring = create_token(db, "anna", expires_days=1)
    revoke_token(db, revoked_info.id)
    assert authenticate_token(db, revoked) is None
    assert authenticate_token(db, expiring) is not None
    assert authenticate_token(db, expiring, now=datetime.now(UTC) + timedelta(days=2)) is None
    states = {t.id: t.state(datetime.now(UTC)) for t in list_tokens(db)}
    assert states[revoked_info.id] == "revoked"
    _, kept = create_token(db, "anna")
    remove_user(db, "anna")
    assert authenticate_token(db, kept) is None
    with pytest.raises(AccountError):
        create_token(db, "nobody")


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(
            principal="anna",
            endpoint="POST /v1/search",
            outcome="200",
            query=f"Frage {i}",
            points=[(f"p{i}", "rev")],
        )


def test_audit_chain_verifies_and_hashes_queries_by_default(db: Database) -> None:
    log = AuditLog(db)
    _fill(log, 5)
    assert log.verify().ok and log.verify().records == 5
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].query is not None and entries[0].query.startswith("sha256:")
    assert "Frage" not in str(entries)
    full = AuditLog(db, "full").append(
        principal="bob", endpoint="GET /v1/decisions", outcome="200", query="Q"
    )
    assert full.query == "Q" and [e.seq for e in log.entries(user="bob")] == [6]


def test_audit_verify_detects_an_edited_record(db: Database) -> None:
    log = AuditLog(db)
    _fill(log, 4)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET principal = 'mallory' WHERE seq = 2"))
    check = log.verify()
    assert not check.ok and "record 2" in (check.problem or "")


def test_audit_verify_detects_a_removed_record_in_the_middle_and_at_the_end(db: Database) -> None:
    log = AuditLog(db)
    _fill(log, 4)
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    assert not log.verify().ok  # the head still names record 4
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    check = log.verify()
    assert not check.ok and "record 2 is missing" in (check.problem or "")


def test_audit_verify_detects_a_recomputed_record_that_no_longer_links(db: Database) -> None:
    """Rewriting a record together with its own hash still breaks the next record's link."""
    log = AuditLog(db)
    _fill(log, 3)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 1"), {"h": "f" * 64})
    assert not log.verify().ok


def test_concurrent_appends_form_one_chain(db: Database) -> None:
    log = AuditLog(db)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _fill(log, 10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = log.verify()
    assert check.ok and check.records == 40


def test_rate_limit_counts_per_key_and_window(db: Database) -> None:
    limiter = RateLimiter(db, per_minute=3)
    start = 60 * 1000 + 10.0
    for _ in range(3):
        limiter.hit("token:a", now=start)
    with pytest.raises(RateLimited) as info:
        limiter.hit("token:a", now=start + 5)
    assert info.value.retry_after_s == 45 and info.value.headers()["Retry-After"] == "45"
    limiter.hit("token:b", now=start + 5)  # another token has its own budget
    limiter.hit("token:a", now=start + 60)  # the next minute starts afresh
    RateLimiter(db, per_minute=0).hit("token:a", now=start + 61)  # 0 turns the limit off


def test_appends_from_two_processes_form_one_chain(db: Database, tmp_path: Path) -> None:
    """Two service processes on one database file: the locked chain head keeps the chain whole."""
    script = (
        "import pathlib, sys, time\n"
        "from service.audit import AuditLog\n"
        "from service.db import open_database\n"
        "log = AuditLog(open_database(sys.argv[1]))\n"
        "barrier = pathlib.Path(sys.argv[3])\n"  # both start appending at the same moment
        "(barrier / sys.argv[2]).touch()\n"
        "while len(list(barrier.iterdir())) < 2:\n"
        "    time.sleep(0.002)\n"
        "for i in range(100):\n"
        "    log.append(principal=sys.argv[2], endpoint='POST /v1/search', outcome='200', query=str(i))\n"
    )
    url = str(db.engine.url)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, name, str(barrier)], env=env, stderr=subprocess.PIPE
        )
        for name in ("replica-1", "replica-2")
    ]
    for w in workers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err.decode()
    check = AuditLog(db).verify()
    assert check.ok and check.records == 200
    assert {e.principal for e in AuditLog(db).entries()} == {"replica-1", "replica-2"}
