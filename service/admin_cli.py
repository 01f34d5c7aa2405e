"""Operator commands on the service database: `kb users`, `kb tokens`, `kb audit`.

Like PostgreSQL's `createuser`, these run on the server and work on the database directly (the URL from
`KB_DATABASE__URL`, default a SQLite file beside the store), not through the HTTP API: whoever can run them
can read the database anyway, and there must be a way to create the first admin before any token exists.
A running service sees changes at once (it reads users and tokens on every request).

The lead's `kb` entry point mounts `users_app`, `tokens_app` and `audit_app` as sub-commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer

from ingest.errors import AccountError
from service.db import Database

users_app = typer.Typer(
    help="Users and their working-group roles (reader, editor, admin).", no_args_is_help=True
)
tokens_app = typer.Typer(help="API tokens (shown once, stored only as a hash).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of document access.", no_args_is_help=True)


@contextmanager
def _database() -> Iterator[Database]:
    """The service database of the current settings, or one clear error line and exit 1."""
    from service.config import Settings
    from service.db import open_database

    settings = Settings()
    db = open_database(settings.database_url(), echo=settings.database.echo)
    try:
        yield db
    except AccountError as exc:
        typer.echo(f"error [{exc.code}] {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.close()


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


# -- users ---------------------------------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (as sent by the proxy in trusted_proxy mode).")],
    member: Annotated[
        list[str] | None,
        typer.Option(
            "--member", help='Membership "WORKING GROUP:ROLE" (role reader, editor or admin); repeatable.'
        ),
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="Global admin: reads and writes everything.")
    ] = False,
) -> None:
    """Create a user with memberships."""
    from service.accounts import add_user
    from service.principal import Membership

    with _database() as db:
        info = add_user(db, name, [Membership.parse(m) for m in member or []], is_admin=admin)
    roles = ", ".join(str(m) for m in info.memberships) or "no working group"
    typer.echo(f"user {info.name}: {roles}{' (global admin)' if info.is_admin else ''}")


@users_app.command("list")
def users_list() -> None:
    """Users, their memberships and the admin flag."""
    from service.accounts import list_users

    with _database() as db:
        users = list_users(db)
    for u in users:
        roles = ", ".join(str(m) for m in u.memberships) or "-"
        typer.echo(f"{u.name}\t{'admin' if u.is_admin else '-'}\t{roles}")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Delete a user with memberships and tokens (their tokens stop working at once)."""
    from service.accounts import remove_user

    with _database() as db:
        remove_user(db, name)
    typer.echo(f"removed user {name}")


# -- tokens --------------------------------------------------------------------------------------------------
@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    expires_days: Annotated[
        int | None,
        typer.Option("--expires-days", min=1, help="Valid for this many days (default: no expiry)."),
    ] = None,
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is stored."""
    from service.accounts import create_token

    with _database() as db:
        info, token = create_token(db, name, expires_days=expires_days)
    typer.echo(
        f"token {info.id} for {info.user}, expires {_when(info.expires_at) if info.expires_at else 'never'}"
    )
    typer.echo("Store it now; it cannot be shown again:")
    typer.echo(token)


@tokens_app.command("list")
def tokens_list() -> None:
    """Tokens: id, user, state (active, revoked, expired), created, expires, last used."""
    from service.accounts import list_tokens, now_utc

    with _database() as db:
        tokens = list_tokens(db)
    now = now_utc()
    for t in tokens:
        typer.echo(
            f"{t.id}\t{t.user}\t{t.state(now)}\tcreated {_when(t.created_at)}\texpires {_when(t.expires_at)}"
            f"\tlast used {_when(t.last_used_at)}"
        )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id as shown by `kb tokens list`.")],
) -> None:
    """Revoke a token; requests with it are refused from now on."""
    from service.accounts import revoke_token

    with _database() as db:
        revoke_token(db, token_id)
    typer.echo(f"revoked token {token_id}")


# -- audit ---------------------------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 if a record was edited, removed or inserted."""
    from service.audit import AuditLog

    with _database() as db:
        check = AuditLog(db).verify()
    if not check.ok:
        typer.echo(f"audit log BROKEN after {check.records} intact records: {check.problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {check.records} records")


@audit_app.command("show")
def audit_show(
    user: Annotated[str | None, typer.Option("--user", help="Only requests of this user.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option("--since", help="Only records from this time on (UTC), e.g. 2026-11-30."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many records.")] = 200,
) -> None:
    """Audit records: time, user, endpoint, query (or its hash) or document id, points returned, outcome."""
    from service.audit import AuditLog

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with _database() as db:
        entries = AuditLog(db).entries(user=user, since=since, limit=limit)
    for e in entries:
        subject = e.query if e.query is not None else (f"doc {e.doc_id}" if e.doc_id else "-")
        revisions = sorted({r[:12] for _, r in e.points if r})
        typer.echo(
            f"{e.seq}\t{e.at}\t{e.principal}\t{e.endpoint}\t{e.outcome}\t{subject}\t"
            f"{len(e.points)} points\t{','.join(revisions) or '-'}"
        )
