"""Users, memberships and API tokens in the service database.

A token reads `kb_<id>_<secret>`: `id` (public, shown by `kb tokens list`) finds the row, the 32-byte secret
is checked against its stored sha256 in constant time. The plain token exists only in `create_token`'s answer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.errors import AccountError
from service.db import Database
from service.db.models import ApiToken, User
from service.db.models import Membership as MembershipRow
from service.principal import Membership, Principal, Role

TOKEN_PREFIX = "kb_"
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class UserInfo:
    name: str
    memberships: tuple[Membership, ...]
    is_admin: bool


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def now_utc() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without zone; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user named {name!r}")
    return user


def _info(user: User) -> UserInfo:
    memberships = tuple(
        sorted((Membership(m.working_group, Role(m.role)) for m in user.memberships), key=str)
    )
    return UserInfo(user.name, memberships, user.is_admin)


def add_user(
    db: Database, name: str, memberships: Iterable[Membership], *, is_admin: bool = False
) -> UserInfo:
    name = name.strip()
    if not name:
        raise AccountError("a user needs a name")
    by_group: dict[str, Membership] = {}
    for m in memberships:
        if m.working_group in by_group and by_group[m.working_group] != m:
            raise AccountError(f"two roles for working group {m.working_group!r}")
        by_group[m.working_group] = m
    with db.session() as s:
        if s.scalar(select(User.id).where(User.name == name)) is not None:
            raise AccountError(f"user {name!r} exists already")
        user = User(name=name, is_admin=is_admin, created_at=now_utc())
        user.memberships = [MembershipRow(working_group=g, role=m.role.value) for g, m in by_group.items()]
        s.add(user)
        s.flush()
        return _info(user)


def remove_user(db: Database, name: str) -> None:
    """Delete the user with memberships and tokens (their tokens stop working at once)."""
    with db.session() as s:
        s.delete(_user(s, name))


def list_users(db: Database) -> list[UserInfo]:
    with db.session() as s:
        return [_info(u) for u in s.scalars(select(User).order_by(User.name))]


def find_principal(db: Database, name: str) -> Principal | None:
    """The principal of a known user (trusted-proxy mode), or None."""
    with db.session() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            return None
        info = _info(user)
    return Principal(info.name, info.memberships, info.is_admin)


def create_token(db: Database, user_name: str, *, expires_days: int | None = None) -> tuple[TokenInfo, str]:
    """A new token for `user_name`: its listing entry and the plain token (shown once, never stored)."""
    if expires_days is not None and expires_days < 1:
        raise AccountError("--expires-days must be at least 1")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    created = now_utc()
    expires = created + timedelta(days=expires_days) if expires_days else None
    with db.session() as s:
        user = _user(s, user_name)
        s.add(
            ApiToken(
                id=token_id,
                user_id=user.id,
                secret_sha256=_sha256(secret),
                created_at=created,
                expires_at=expires,
            )
        )
    info = TokenInfo(token_id, user_name, created, expires, None, None)
    return info, f"{TOKEN_PREFIX}{token_id}_{secret}"


def list_tokens(db: Database) -> list[TokenInfo]:
    with db.session() as s:
        rows = s.execute(select(ApiToken, User.name).join(User).order_by(User.name, ApiToken.created_at))
        return [
            TokenInfo(
                t.id,
                name,
                _utc(t.created_at) or now_utc(),
                _utc(t.expires_at),
                _utc(t.revoked_at),
                _utc(t.last_used_at),
            )
            for t, name in rows
        ]


def revoke_token(db: Database, token_id: str) -> None:
    with db.session() as s:
        token = s.get(ApiToken, token_id)
        if token is None:
            raise AccountError(f"no token with id {token_id!r}")
        if token.revoked_at is None:
            token.revoked_at = now_utc()


def authenticate_token(db: Database, token: str, *, now: datetime | None = None) -> Principal | None:
    """The principal of a valid token (known, not revoked, not expired), else None. Records its last use."""
    now = now or now_utc()
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not token_id or not secret:
        return None
    with db.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or not hmac.compare_digest(row.secret_sha256, _sha256(secret)):
            return None
        expires = _utc(row.expires_at)
        if row.revoked_at is not None or (expires is not None and expires <= now):
            return None
        last_used = _utc(row.last_used_at)
        if last_used is None or now - last_used > LAST_USED_PRECISION:
            row.last_used_at = now  # not on every request: a write per request would be the cost of a read
        info = _info(row.user)
    return Principal(info.name, info.memberships, info.is_admin, token_id=token_id)
