"""`kb users`, `kb tokens`, `kb audit`: the typer sub-apps on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from service.accounts import authenticate_token
from service.admin_cli import audit_app, tokens_app, users_app
from service.audit import AuditLog
from service.db import open_database
from service.principal import Membership, Role

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'kb.sqlite3'}"


def _run(app: object, url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env={"KB_DATABASE__URL": url})  # type: ignore[arg-type]
    assert result.exit_code == code, result.output
    return result.output


def test_users_add_list_remove(url: str) -> None:
    out = _run(users_app, url, "add", "anna", "--member", "AK KI:editor", "--member", "AK Recht:reader")
    assert "AK KI:editor" in out
    _run(users_app, url, "add", "root", "--admin")
    listing = _run(users_app, url, "list")
    assert "anna\t-\tAK KI:editor, AK Recht:reader" in listing and "root\tadmin" in listing
    assert "already" in _run(users_app, url, "add", "anna", code=1)
    assert "unknown role" in _run(users_app, url, "add", "bob", "--member", "AK KI:chef", code=1)
    _run(users_app, url, "remove", "anna")
    assert "anna" not in _run(users_app, url, "list")
    assert "no user" in _run(users_app, url, "remove", "anna", code=1)


def test_token_printed_alone_on_the_last_line_authenticates_until_revoked(url: str) -> None:
    _run(users_app, url, "add", "Anna Schmidt", "--member", "AK KI:editor")
    out = _run(tokens_app, url, "create", "Anna Schmidt", "--expires-days", "30")
    token = out.strip().splitlines()[-1]
    db = open_database(url)
    try:
        principal = authenticate_token(db, token)
        assert principal is not None and principal.user == "Anna Schmidt"
        assert principal.memberships == (Membership("AK KI", Role.EDITOR),)
        token_id = principal.token_id
        assert token_id is not None
        listing = _run(tokens_app, url, "list")
        assert f"{token_id}\tAnna Schmidt\tactive" in listing and token not in listing
        _run(tokens_app, url, "revoke", token_id)
        assert f"{token_id}\tAnna Schmidt\trevoked" in _run(tokens_app, url, "list")
        assert authenticate_token(db, token) is None
    finally:
        db.close()
    assert "no user" in _run(tokens_app, url, "create", "nobody", code=1)
    assert "no token" in _run(tokens_app, url, "revoke", "ffff", code=1)


def test_audit_verify_and_show(url: str) -> None:
    db = open_database(url)
    try:
        log = AuditLog(db, "full")
        log.append(
            principal="anna",
            endpoint="POST /v1/search",
            outcome="200",
            query="Pilotbudget",
            points=[("p1", "a" * 64)],
        )
        log.append(principal="bob", endpoint="DELETE /v1/documents/x.md", outcome="404", doc_id="x.md")
        assert "intact: 2 records" in _run(audit_app, url, "verify")
        shown = _run(audit_app, url, "show", "--user", "anna")
        assert "POST /v1/search" in shown and "Pilotbudget" in shown and "bob" not in shown
        assert "doc x.md" in _run(audit_app, url, "show", "--since", "2000-01-01")
        assert _run(audit_app, url, "show", "--since", "2999-01-01").strip() == ""
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE audit_log SET outcome = '200' WHERE seq = 2"))
    finally:
        db.close()
    assert "BROKEN" in _run(audit_app, url, "verify", code=1)
