"""Who is calling, and what that allows: the one place where scopes and write permissions are derived.

Routes never build an `AccessScope` themselves; they get it through `ScopeDep` (service.deps), which calls
`read_scope` on the authenticated principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ingest.domain import AccessScope
from ingest.errors import AccountError, Forbidden, Unauthenticated, WorkingGroupRequired
from ingest.pipeline import Uploader


class Role(StrEnum):
    READER = "reader"
    EDITOR = "editor"
    ADMIN = "admin"  # of one working group: reads and writes like an editor there


WRITING_ROLES = frozenset({Role.EDITOR, Role.ADMIN})


@dataclass(frozen=True)
class Membership:
    working_group: str
    role: Role

    @classmethod
    def parse(cls, text: str) -> Membership:
        """`"AK KI:editor"` → editor of "AK KI"; without `:ROLE` a reader. Group names may contain spaces."""
        group, sep, role = text.rpartition(":")
        if not sep:
            group, role = text, Role.READER.value
        group, role = group.strip(), role.strip().lower()
        if not group:
            raise AccountError(f"membership {text!r} names no working group")
        try:
            return cls(group, Role(role))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise AccountError(f"unknown role {role!r} in {text!r} (known: {known})") from None

    def __str__(self) -> str:
        return f"{self.working_group}:{self.role.value}"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `token_id` names the API token used, if any (the rate-limit key)."""

    user: str
    memberships: tuple[Membership, ...] = ()
    is_admin: bool = False
    token_id: str | None = None

    @classmethod
    def local_admin(cls, name: str) -> Principal:
        """The single-user default (`KB_AUTH__MODE=none`): an explicit admin, not a bypass."""
        return cls(user=name, is_admin=True)

    def role_in(self, working_group: str) -> Role | None:
        for m in self.memberships:
            if m.working_group == working_group:
                return m.role
        return None

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(m.working_group for m in self.memberships)

    @property
    def editor_of(self) -> frozenset[str]:
        return frozenset(m.working_group for m in self.memberships if m.role in WRITING_ROLES)


def read_scope(principal: Principal | None) -> AccessScope:
    """What `principal` may read. Fail-closed: no principal, no scope."""
    if principal is None:
        raise Unauthenticated("Anmeldung erforderlich")
    if principal.is_admin:
        return AccessScope.everything()
    return AccessScope(member_of=principal.groups, editor_of=principal.editor_of)


def may_write(principal: Principal, working_group: str) -> bool:
    """Upload into, replace in and delete from `working_group`: its editors and admins, and global admins."""
    return principal.is_admin or principal.role_in(working_group) in WRITING_ROLES


def require_write(principal: Principal | None, working_group: str) -> Principal:
    """`principal` if it may write into `working_group`, else Unauthenticated (none) or Forbidden."""
    if principal is None:
        raise Unauthenticated("Anmeldung erforderlich")
    if not may_write(principal, working_group):
        raise Forbidden(f"Schreibrechte im Arbeitskreis {working_group!r} fehlen (Rolle editor nötig)")
    return principal


def may_write_somewhere(principal: Principal) -> bool:
    return principal.is_admin or bool(principal.editor_of)


def upload_group(principal: Principal, requested: str | None) -> str | None:
    """The working group an upload goes into: the one requested (editor or admin there, else Forbidden); without
    one, the principal's only editor group — a global admin may leave it to the documents' metadata (None)."""
    if requested:
        require_write(principal, requested)
        return requested
    if principal.is_admin:
        return None
    groups = sorted(principal.editor_of)
    if len(groups) == 1:
        return groups[0]
    if not groups:
        raise Forbidden("Schreibrechte fehlen: Hochladen braucht die Rolle editor in einem Arbeitskreis")
    raise WorkingGroupRequired(
        "Arbeitskreis angeben (working_group): Schreibrechte bestehen in "
        + ", ".join(repr(g) for g in groups)
    )


def uploader(principal: Principal) -> Uploader:
    """What an upload by `principal` may replace and where its duplicates are looked for."""
    return Uploader(read_scope(principal), editor_of=principal.editor_of, writes_all=principal.is_admin)
