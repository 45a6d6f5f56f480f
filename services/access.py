"""Who may see and do what. Every rule lives here; web/ only asks.

Staff act on their own department's duties. A department head, or a `manager` of a
department, also oversees its whole subtree. Designers deploy; HR reads people and
pay; admins see everything but, like everyone, can only do the duties of their own
department: the point of DutyFlow is that duties stay with their owners. A process is
started by those its diagram names (see may_start), and a person's duty report is read
by managers only within the departments they oversee.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from engine.model import ProcessModel

from .definitions import MODEL_CACHE, latest_definition, list_latest
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


def may_read_report(actor: Actor, username: str, department_key: str | None) -> bool:
    """A person's duty report (`department_key`: theirs): their own, anyone's for HR and
    admins, and for managers only people in departments they oversee, the same people
    whose tasks they see."""
    if actor.username == username or actor.has("hr", "admin"):
        return True
    return actor.has("manager") and department_key in actor.overseen


def may_start(actor: Actor, model: ProcessModel, directory: Directory) -> bool:
    """Admins, the users and members of the departments the process names as starters."""
    departments, users = _starters(model, directory)
    return actor.is_admin or actor.username in users or actor.department_key in departments


def require_may_start(uow: UnitOfWork, actor: Actor, process_key: str) -> None:
    """NotFound without such a process; PermissionDenied, naming who may, unless `actor`
    may start its latest version."""
    model = MODEL_CACHE.get(latest_definition(uow, process_key))
    directory = Directory.load(uow)
    if not may_start(actor, model, directory):
        departments, users = _starters(model, directory)
        starters = ", ".join([*sorted(departments), *sorted(users)]) or "admins only"
        raise PermissionDenied(f"{actor.username} may not start {process_key!r}; "
                               f"it is started by: {starters}")


def _starters(model: ProcessModel, directory: Directory) -> tuple[set[str], frozenset[str]]:
    """(department keys, usernames) who may start a process, besides admins.

    Camunda's candidateStarterGroups/-Users when the diagram sets either; else the
    department of the start event's lane; a start event in no lane leaves starting to
    the departments with duties in the process (those who work on it anyway).
    """
    if model.starter_groups or model.starter_users:
        names = model.starter_groups
    elif model.start_lanes:
        names = model.start_lanes
    else:
        names = model.duty_owners
    return _department_keys(names, directory), frozenset(model.starter_users)


def _department_keys(names, directory: Directory) -> set[str]:
    """The active departments that lane or group names route to."""
    return {department.key for name in names
            if (department := directory.department_for(name)) is not None}


def collaborating_departments(uow: UnitOfWork, department_key: str) -> set[str]:
    """Departments that share a deployed process with this one."""
    directory = Directory.load(uow)
    related: set[str] = set()
    for definition in list_latest(uow):
        model = MODEL_CACHE.get(definition)
        owners = _department_keys(model.duty_owners, directory)
        if department_key in owners:
            related |= owners
    return related - {department_key}


def visible_departments(uow: UnitOfWork, actor: Actor) -> set[str] | None:
    """Department keys this person may see in the org chart; None means all."""
    if actor.has("admin", "hr"):
        return None
    return set(actor.overseen) | collaborating_departments(uow, actor.department_key)
