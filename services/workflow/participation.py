"""Who takes part in a process: who may start it, govern or withdraw its instances,
which departments share one.

These rules read the deployed diagrams (lanes, candidate groups, starter attributes)
and route their names through the org's directory, so they sit above both.
"""
from __future__ import annotations

from sqlalchemy import select

from engine.model import ProcessModel
from services.errors import PermissionDenied
from services.identity.actor import Actor
from services.org.directory import Directory
from services.persistence.models import TaskEvent
from payroll.ledger import EventKind
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.definitions import latest_definition, list_latest, model_of


def may_start(actor: Actor, model: ProcessModel, directory: Directory) -> bool:
    """Admins, the users and members of the departments the process names as starters."""
    departments, users = _starters(model, directory)
    return actor.is_admin or actor.username in users or actor.department_key in departments


def require_may_start(uow: UnitOfWork, actor: Actor, process_key: str) -> None:
    """NotFound without such a process; PermissionDenied, naming who may, unless `actor`
    may start its latest version."""
    model = model_of(uow, latest_definition(uow, process_key))
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
    return directory.departments_of(names), frozenset(model.starter_users)


def owning_departments(model: ProcessModel, directory: Directory) -> set[str]:
    """The departments that own a duty in the process (its lanes and candidate groups)."""
    return directory.departments_of(model.duty_owners)


def may_govern(actor: Actor, model: ProcessModel, directory: Directory) -> bool:
    """Cancel, suspend or resume an instance at any time: admins, and the heads of the
    departments that own its duties (or managers above them, as for corrections)."""
    return actor.is_admin or bool(owning_departments(model, directory) & actor.supervised)


def handed_off_to(uow: UnitOfWork, instance_id: int, department_key: str) -> str | None:
    """A department other than `department_key` that has completed a step of the
    instance (the handoff after which its starter may no longer withdraw it), or None."""
    return uow.session.scalars(select(TaskEvent.actor_department_key).where(
        TaskEvent.process_instance_id == instance_id, TaskEvent.kind == EventKind.COMPLETED,
        TaskEvent.actor_department_key != department_key).limit(1)).first()


def may_operate(actor: Actor) -> bool:
    """See incidents, fix an errored instance's data and retry it: admins and designers
    (who deploy the fixed diagram)."""
    return actor.has("admin", "designer")


def may_move(actor: Actor) -> bool:
    """Move an instance's token from one activity to another: admins only. A move decides
    which departments' duties are done and which are skipped, across departments."""
    return actor.is_admin


def may_send_events(actor: Actor) -> bool:
    """Send messages and signals into running instances: admins (the accounts external
    systems use), as a message moves instances across every department."""
    return actor.is_admin


def collaborating_departments(uow: UnitOfWork, department_key: str) -> set[str]:
    """Departments that share a deployed process with this one."""
    directory = Directory.load(uow)
    related: set[str] = set()
    for definition in list_latest(uow):
        model = model_of(uow, definition)
        owners = directory.departments_of(model.duty_owners)
        if department_key in owners:
            related |= owners
    return related - {department_key}


def visible_departments(uow: UnitOfWork, actor: Actor) -> set[str] | None:
    """Department keys this person may see in the org chart; None means all."""
    if actor.has("admin", "hr"):
        return None
    return set(actor.overseen) | collaborating_departments(uow, actor.department_key)
