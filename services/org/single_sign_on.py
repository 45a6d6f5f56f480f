"""Who the identity provider says someone is, and what DutyFlow lets them do.

Single sign-on proves identity; it does not make anyone an employee. The person must be
an active employee in the org (their department owns their duties, as for everyone), and
their groups at the provider, mapped by the operator's settings, give their roles. With
a mapping configured the provider is the source of roles: each sign-in stores the mapped
roles on the employee (audited when they change), so pages, API tokens and reports all
see the same roles. Someone whose groups map to no role is refused: signing in without
any role would show an empty service and hide a configuration mistake.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from services.errors import NotAuthenticated, PermissionDenied
from services.identity import audit
from services.org.org_document import ROLES
from services.persistence.models import Employee
from services.persistence.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ClaimRules:
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    group_roles: Mapping[str, frozenset[str]] | None = None  # None: roles stay the org file's


def parse_group_roles(text: str) -> dict[str, frozenset[str]]:
    """`group=role,group=role,...` (a group may be named again for another role)."""
    mapping: dict[str, set[str]] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        group, equals, role = (part.strip() for part in pair.rpartition("="))
        if not equals or not group or role not in ROLES:
            raise ValueError(f"{pair!r}: expected group=role with role one of {', '.join(ROLES)}")
        mapping.setdefault(group, set()).add(role)
    return {group: frozenset(roles) for group, roles in mapping.items()}


def sign_in(uow: UnitOfWork, claims: Mapping[str, Any], rules: ClaimRules) -> Employee:
    """The employee the provider's verified claims name, with their roles brought up to date."""
    username = claims.get(rules.username_claim)
    if not isinstance(username, str) or not username.strip():
        raise NotAuthenticated(f"the identity provider sent no {rules.username_claim!r} claim")
    employee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    if employee is None or not employee.active:
        raise PermissionDenied(f"{username!r} is not an active employee in DutyFlow's org")
    if rules.group_roles is not None:
        groups = claims.get(rules.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        roles = sorted({role for group in groups if isinstance(group, str)
                        for role in rules.group_roles.get(group, ())})
        if not roles:
            raise PermissionDenied(f"none of {username}'s groups is mapped to a DutyFlow role")
        if roles != sorted(employee.roles or []):
            audit.record(uow, username, "employee", username, "roles from sign-on",
                         sorted(employee.roles or []), roles)
            employee.roles = roles
    uow.commit()
    return employee
