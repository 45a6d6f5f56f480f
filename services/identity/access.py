"""Who may see and do what. Every rule lives here; web/ only asks.

Staff act on their own department's duties. A department head, or a `manager` of a
department, also oversees its whole subtree. Designers deploy; HR reads people and
pay; admins see everything but, like everyone, can only do the duties of their own
department: the point of DutyFlow is that duties stay with their owners. Who may start
a process is a workflow rule (services.workflow.participation); a person's duty report
is read by managers only within the departments they oversee.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.errors import PermissionDenied
from services.identity.actor import Actor
from services.persistence.models import Department, Employee, Task
from services.persistence.unit_of_work import UnitOfWork

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


def may_take(actor: Actor, task: Task, covered: frozenset[str] = frozenset()) -> bool:
    """Whether a task of the actor's department (see `may_do`) is theirs to claim or
    complete: assigned to them, or to an absent person they stand in for (`covered`,
    services.org.absences); or unassigned and either open to its whole department or
    naming them (or whom they stand in for) among its candidate users.

    Department heads and admins do not take others' assigned tasks: they hand them on
    (assign, transfer), so the work stays with the people it was routed to.
    """
    if task.assignee:
        return task.assignee == actor.username or task.assignee in covered
    candidates = task.candidate_users or []
    return not candidates or actor.username in candidates or not covered.isdisjoint(candidates)


def stands_in_for(actor: Actor, task: Task, covered: frozenset[str]) -> str | None:
    """The absent person whose task `actor` takes as their substitute, else None."""
    if task.assignee:
        return task.assignee if task.assignee != actor.username and task.assignee in covered \
            else None
    candidates = task.candidate_users or []
    if candidates and actor.username not in candidates:
        return next((name for name in candidates if name in covered), None)
    return None


def may_hand_on(actor: Actor, task: Task) -> bool:
    """Transfer: the person the task is for, the head of an owning department (or a
    manager above it) or an admin."""
    return task.assignee == actor.username or may_reassign(actor, task)


def may_set_absence(actor: Actor, username: str, department_key: str) -> bool:
    """A person's absence and substitute: the person, the head of their department (or a
    manager above it), HR or admins."""
    return actor.username == username or actor.has("hr", "admin") or \
        department_key in actor.supervised


def may_see_task(actor: Actor, task: Task) -> bool:
    if actor.is_admin or task.assignee == actor.username or task.completed_by == actor.username:
        return True
    owners = {task.department_key, *(task.candidate_departments or [])}
    return bool(owners & actor.overseen)


def may_reassign(actor: Actor, task: Task) -> bool:
    """The head of the task's department, a manager above it, or an admin."""
    owners = {task.department_key, *(task.candidate_departments or [])}
    return actor.is_admin or bool(owners & actor.supervised)


def may_read_report(actor: Actor, username: str, department_key: str | None) -> bool:
    """A person's duty report (`department_key`: theirs): their own, anyone's for HR and
    admins, and for managers only people in departments they oversee, the same people
    whose tasks they see."""
    if actor.username == username or actor.has("hr", "admin"):
        return True
    return actor.has("manager") and department_key in actor.overseen
