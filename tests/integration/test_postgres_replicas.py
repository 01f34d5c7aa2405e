"""The service database on a real PostgreSQL (a throw-away cluster): migrations, and two service processes
sharing it — the audit hash chain stays whole and the rate limit counts across both replicas.

Each replica is a real `create_app` served by uvicorn in its own process with its own embedded store (Qdrant is
not what is shared here); the embedder is faked (`HashEmbedder`): this is about the database, not the model.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from service.accounts import add_user, create_token
from service.audit import AuditLog
from service.db import open_database
from service.db.models import Base
from service.principal import Membership, Role
from tests.integration.postgres import _free_port, postgres_cluster

ROOT = Path(__file__).resolve().parents[2]
REPLICA = """
import sys, uvicorn
from service.app import create_app
from service.config import Settings
from tests.fakes import HashEmbedder
uvicorn.run(create_app(Settings(), embedder=HashEmbedder()), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_cluster() as url:
        yield url


def test_migrations_on_postgresql_create_the_schema_and_rerun_cleanly(pg_url: str) -> None:
    db = open_database(pg_url)
    try:
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "memberships", "api_tokens", "audit_log", "audit_head", "rate_windows"} <= tables
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        db.migrate()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == version
    finally:
        db.close()


def _start_replica(pg_url: str, store: Path, per_minute: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KB_DATABASE__URL": pg_url,
        "KB_STORE__PATH": str(store),
        "KB_AUTH__MODE": "token",
        "KB_AUTH__RATE_LIMIT_PER_MIN": str(per_minute),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", REPLICA, str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "replica exited")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("replica did not start")


async def _searches(urls: list[str], token: str, n: int) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:

        async def one(i: int) -> int:
            body = {"query": f"Haushalt {i}"}
            return (await client.post(f"{urls[i % len(urls)]}/v1/search", json=body)).status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_two_replicas_on_one_postgresql_keep_one_audit_chain_and_one_rate_limit(
    pg_url: str, tmp_path: Path
) -> None:
    per_minute, requests = 30, 48
    admin_db = open_database(pg_url)
    add_user(admin_db, "anna", [Membership("AK KI", Role.READER)])
    _, token = create_token(admin_db, "anna")
    before = AuditLog(admin_db).verify().records
    # Both replicas start (and migrate) at the same moment; the advisory lock lets one migrate at a time.
    replicas = [_start_replica(pg_url, tmp_path / f"store-{i}", per_minute) for i in (1, 2)]
    try:
        for proc, url in replicas:
            _wait_up(url, proc)
        if time.time() % 60 > 45:  # all requests must fall into one rate-limit minute
            time.sleep(61 - time.time() % 60)
        statuses = asyncio.run(_searches([url for _, url in replicas], token, requests))
    finally:
        for proc, _ in replicas:
            proc.terminate()
            proc.wait(timeout=30)
    assert Counter(statuses) == {200: per_minute, 429: requests - per_minute}
    check = AuditLog(admin_db).verify()
    assert check.ok, check.problem
    assert check.records - before == requests
    # A refused request is recorded too (its principal is not named: authentication raised first).
    outcomes = Counter(e.outcome for e in AuditLog(admin_db).entries()[before:])
    assert outcomes == {"200": per_minute, "429": requests - per_minute}
    admin_db.close()
