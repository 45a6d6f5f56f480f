"""Who may see and do what. Every rule lives here; web/ only asks.

Staff act on their own department's duties. A department head, or a `manager` of a
department, also oversees its whole subtree. Designers deploy; HR reads people and
pay; admins see everything but, like everyone, can only do the duties of their own
department: the point of DutyFlow is that duties stay with their owners.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .definitions import MODEL_CACHE, list_latest
from .errors import PermissionDenied
from .models import Department, Employee, Task
from .org import Directory
from .unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Actor:
    username: str
    department_key: str
    roles: frozenset[str]
    supervised: frozenset[str]  # departments this person heads or manages, with their subtrees

    @property
    def overseen(self) -> frozenset[str]:
        """Departments whose tasks this person may see."""
        return self.supervised | {self.department_key}

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise PermissionDenied(f"this needs one of the roles: {', '.join(roles)}")


_DEPARTMENT_TREE = select(Department.__table__.c.key, Department.__table__.c.parent_key,
                          Department.__table__.c.head_username).where(Department.__table__.c.active)


def active_employee(uow: UnitOfWork, username: str) -> Employee:
    employee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    if employee is None or not employee.active:
        raise PermissionDenied(f"{username!r} is not an active employee")
    return employee


def actor_named(uow: UnitOfWork, username: str) -> Actor:
    """The actor for an active employee (the CLI's `--as`, a signed-in page user)."""
    return actor_for(uow, active_employee(uow, username))


def actor_for(uow: UnitOfWork, employee: Employee | Any, heads_a_department: bool = True) -> Actor:
    """The actor for an employee (an Employee, or a row with username, department_key, roles).

    Only heads and managers supervise anyone: for the rest (`heads_a_department=False`,
    known from the caller's own query) the department tree is not read at all.
    """
    roles = frozenset(employee.roles or [])
    if not heads_a_department and "manager" not in roles:
        return Actor(employee.username, employee.department_key, roles, frozenset())
    departments = uow.core(_DEPARTMENT_TREE).all()
    children: dict[str | None, list[str]] = {}
    for key, parent_key, _ in departments:
        children.setdefault(parent_key, []).append(key)
    roots = {key for key, _, head in departments if head == employee.username}
    if "manager" in roles:
        roots.add(employee.department_key)
    supervised: set[str] = set()
    stack = list(roots)
    while stack:
        key = stack.pop()
        if key not in supervised:
            supervised.add(key)
            stack.extend(children.get(key, []))
    return Actor(employee.username, employee.department_key, roles, frozenset(supervised))


def may_do(actor_department: str, task: Task) -> bool:
    return actor_department == task.department_key or \
        actor_department in (task.candidate_departments or [])


def may_see_task(actor: Actor, task: Task) -> bool:
    if actor.is_admin or task.assignee == actor.username or task.completed_by == actor.username:
        return True
    owners = {task.department_key, *(task.candidate_departments or [])}
    return bool(owners & actor.overseen)


def may_reassign(actor: Actor, task: Task) -> bool:
    """The head of the task's department, a manager above it, or an admin."""
    owners = {task.department_key, *(task.candidate_departments or [])}
    return actor.is_admin or bool(owners & actor.supervised)


def collaborating_departments(uow: UnitOfWork, department_key: str) -> set[str]:
    """Departments that share a deployed process with this one."""
    directory = Directory.load(uow)
    related: set[str] = set()
    for definition in list_latest(uow):
        model = MODEL_CACHE.get(definition)
        owners = {department.key for duty in model.duties.values() for name in duty.owners
                  if (department := directory.department_for(name)) is not None}
        if department_key in owners:
            related |= owners
    return related - {department_key}


def visible_departments(uow: UnitOfWork, actor: Actor) -> set[str] | None:
    """Department keys this person may see in the org chart; None means all."""
    if actor.has("admin", "hr"):
        return None
    return set(actor.overseen) | collaborating_departments(uow, actor.department_key)
