"""Withdraw or cancel, suspend and resume a process instance: people changing where an
instance stands, without running its diagram.

Each is one unit of work that locks the instance row first (as every step does), so
it queues behind a racing completion or timer and then sees its outcome: a completion
that finished the instance makes a cancel a 409, a cancel that committed first makes
the completion a 409. The engine's state stays as it was; the stored status says
suspended or cancelled, open tasks are withdrawn and timers cancelled (cancel) or held
(suspend: the timer worker skips them, and those due fire once the instance resumes).
Every action is appended to the instance_actions log in the same commit.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Row, select

from engine.model import InstanceStatus, ProcessModel
from services.errors import Conflict, NotFound, PermissionDenied
from services.identity.actor import Actor
from services.org.directory import Directory
from services.persistence import step_store
from services.persistence.models import ProcessDefinition, ProcessInstance, Task, utcnow
from services.persistence.statuses import InstanceActionKind, TaskStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import actions, calls, engine_steps
from services.workflow.definitions import model_of
from services.workflow.instances import visible_instance
from services.workflow.participation import handed_off_to, may_govern


@dataclass(frozen=True)
class Held:
    """An instance locked for a lifecycle action: its step columns, row and model."""

    found: Row
    row: ProcessInstance
    model: ProcessModel
    directory: Directory

    @property
    def status(self) -> InstanceStatus:
        return InstanceStatus(self.found.instance_status)


def hold(uow: UnitOfWork, instance_id: int) -> Held:
    """Lock the instance (NotFound if there is none) and read what the rules need."""
    found = step_store.instance_step(uow, instance_id)
    if found is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    row = uow.session.get(ProcessInstance, instance_id)
    model = model_of(uow, uow.session.get(ProcessDefinition, found.definition_id))
    return Held(found, row, model, Directory.at_revision(uow, found.org_revision))


def refuse(uow: UnitOfWork, actor: Actor, held: Held, why: str) -> PermissionDenied | NotFound:
    """403 saying why for someone who sees the instance; 404 for anyone else (its
    existence is not revealed)."""
    try:
        visible_instance(uow, actor, held.row.id)
    except NotFound as hidden:
        return hidden
    return PermissionDenied(why)


def require_governs(uow: UnitOfWork, actor: Actor, held: Held, verb: str) -> None:
    if not may_govern(actor, held.model, held.directory):
        raise refuse(uow, actor, held, f"only the heads of the departments that own "
                                       f"{held.row.process_key}'s duties or an admin may "
                                       f"{verb} it")


def cancel(uow: UnitOfWork, actor: Actor, instance_id: int, reason: str,
           now: dt.datetime | None = None) -> ProcessInstance:
    """Cancel (a supervisor, any time) or withdraw (its starter, 撤销, until another
    department has completed a step): open tasks become withdrawn, timers cancelled."""
    now = now or utcnow()
    reason = actions.reason_given(reason)
    held = hold(uow, instance_id)
    kind = InstanceActionKind.CANCEL
    if not may_govern(actor, held.model, held.directory):
        if held.row.started_by != actor.username:
            raise refuse(uow, actor, held, f"only its starter (until another department has "
                                           f"acted), the heads of the departments that own "
                                           f"{held.row.process_key}'s duties or an admin may "
                                           f"cancel it")
        other = handed_off_to(uow, instance_id, actor.department_key)
        if other is not None:
            raise PermissionDenied(f"{other} has already completed a step of process instance "
                                   f"{instance_id}: its starter can no longer withdraw it; the "
                                   f"heads of its departments or an admin may cancel it")
        kind = InstanceActionKind.WITHDRAW
    if held.status.finished:
        raise Conflict(f"process instance {instance_id} is already {held.status}")
    withdrawn = list(uow.session.scalars(select(Task.element_id).where(
        Task.process_instance_id == instance_id, Task.status == TaskStatus.READY)
        .order_by(Task.created_at, Task.id)))
    step_store.withdraw_instance_work(uow, instance_id)
    step_store.set_status(uow, instance_id, held.found.lock_version, InstanceStatus.CANCELLED, now)
    engine_steps.resolve_incidents(uow, instance_id, now)
    children = calls.cancel_children(uow, instance_id, actor.username, reason, now)
    calls.child_cancelled(uow, held.row, now)
    actions.record(uow, instance_id, kind, actor, reason, held.status, InstanceStatus.CANCELLED,
                   now, {"withdrawn_tasks": withdrawn, **({"cancelled_children": children}
                                                          if children else {})})
    uow.commit()
    return reloaded(uow, instance_id)


def suspend(uow: UnitOfWork, actor: Actor, instance_id: int, reason: str,
            now: dt.datetime | None = None) -> ProcessInstance:
    """Hold a running instance: its tasks stay listed but take no work, timers wait."""
    return _switch(uow, actor, instance_id, reason, now, InstanceActionKind.SUSPEND,
                   InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)


def resume(uow: UnitOfWork, actor: Actor, instance_id: int, reason: str,
           now: dt.datetime | None = None) -> ProcessInstance:
    """Let a suspended instance run on; timers that fell due meanwhile fire at the timer
    worker's next round."""
    return _switch(uow, actor, instance_id, reason, now, InstanceActionKind.RESUME,
                   InstanceStatus.SUSPENDED, InstanceStatus.RUNNING)


def _switch(uow: UnitOfWork, actor: Actor, instance_id: int, reason: str,
            now: dt.datetime | None, kind: InstanceActionKind, before: InstanceStatus,
            after: InstanceStatus) -> ProcessInstance:
    now = now or utcnow()
    reason = actions.reason_given(reason)
    held = hold(uow, instance_id)
    require_governs(uow, actor, held, kind.value)
    if held.status != before:
        done = "suspended" if kind == InstanceActionKind.SUSPEND else "resumed"
        raise Conflict(f"process instance {instance_id} is {held.status}; only a {before} "
                       f"instance can be {done}")
    step_store.set_status(uow, instance_id, held.found.lock_version, after, now)
    actions.record(uow, instance_id, kind, actor, reason, before, after, now)
    uow.commit()
    return reloaded(uow, instance_id)


def reloaded(uow: UnitOfWork, instance_id: int) -> ProcessInstance:
    """The instance as just committed (the statements bypassed the session's copy)."""
    row = uow.session.get(ProcessInstance, instance_id)
    uow.session.refresh(row)
    return row

