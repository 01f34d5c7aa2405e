"""Principal → read scope and write permission: the one place where roles become access."""

from __future__ import annotations

import pytest

from ingest.domain import AccessScope, Visibility
from ingest.errors import AccountError, Forbidden, Unauthenticated
from service.principal import Membership, Principal, Role, may_write, read_scope, require_write

GROUPS = ("AK KI", "AK RZ")


def _readable(principal: Principal) -> set[tuple[str, str]]:
    scope = read_scope(principal)
    return {(g, v.value) for g in GROUPS for v in Visibility if scope.may_read(g, v.value)}


def _p(*memberships: str, admin: bool = False) -> Principal:
    return Principal("u", tuple(Membership.parse(m) for m in memberships), is_admin=admin)


def test_no_principal_has_no_scope() -> None:
    with pytest.raises(Unauthenticated):
        read_scope(None)


def test_signed_in_without_group_reads_only_public() -> None:
    assert _readable(_p()) == {("AK KI", "public"), ("AK RZ", "public")}


def test_reader_reads_internal_everywhere_and_group_of_own_group_not_confidential() -> None:
    assert _readable(_p("AK KI:reader")) == {
        ("AK KI", "public"),
        ("AK RZ", "public"),
        ("AK KI", "internal"),
        ("AK RZ", "internal"),
        ("AK KI", "group"),
    }


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editor_and_group_admin_also_read_confidential_of_their_group(role: str) -> None:
    readable = _readable(_p(f"AK KI:{role}"))
    assert ("AK KI", "confidential") in readable and ("AK KI", "group") in readable
    assert ("AK RZ", "confidential") not in readable and ("AK RZ", "group") not in readable


def test_mixed_roles_apply_per_group() -> None:
    readable = _readable(_p("AK KI:reader", "AK RZ:editor"))
    assert ("AK KI", "confidential") not in readable
    assert ("AK RZ", "confidential") in readable and ("AK KI", "group") in readable


def test_global_admin_and_local_default_read_everything() -> None:
    assert read_scope(_p(admin=True)) == AccessScope.everything()
    local = Principal.local_admin("local")
    assert local.is_admin and read_scope(local).read_all
    assert len(_readable(local)) == 8


def test_write_needs_editor_or_admin_of_that_group() -> None:
    assert may_write(_p("AK KI:editor"), "AK KI")
    assert may_write(_p("AK KI:admin"), "AK KI")
    assert not may_write(_p("AK KI:reader"), "AK KI")
    assert not may_write(_p("AK KI:editor"), "AK RZ")
    assert may_write(_p(admin=True), "AK RZ")
    with pytest.raises(Forbidden):
        require_write(_p("AK KI:reader"), "AK KI")
    with pytest.raises(Unauthenticated):
        require_write(None, "AK KI")


def test_membership_parses_group_names_with_spaces_and_colons() -> None:
    assert Membership.parse("AK KI:editor") == Membership("AK KI", Role.EDITOR)
    assert Membership.parse("AK Recht: Datenschutz:admin") == Membership("AK Recht: Datenschutz", Role.ADMIN)
    assert Membership.parse("AK KI") == Membership("AK KI", Role.READER)
    with pytest.raises(AccountError):
        Membership.parse("AK KI:owner")
    with pytest.raises(AccountError):
        Membership.parse(":editor")
