"""Use cases that move process instances: start, complete a duty, fire a timer.

Each runs in one unit of work: lock the instance, let a sandbox worker process take the
engine step (engine/sandbox_pool.py: diagram code never runs in the service), project
the outcome, append the event, commit. A racing step on the same instance
waits for the lock (PostgreSQL) or the write transaction (SQLite); if it still finds the
instance changed under it, it fails with `Conflict` and nothing of the loser remains.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select

from engine.errors import FormValidationError
from engine.model import InstanceStatus
from engine.runtime import check_start_data
from engine.sandbox_pool import StepAborted
from engine.steps import COMPLETE, COMPLETE_EXTERNAL, FIRE_TIMER, START, StepRefused
from services.errors import N_, Conflict, InvalidInput, NotFound, PermissionDenied, StepFailed
from services.identity.access import may_do, may_see_task, may_take, stands_in_for
from services.identity.actor import Actor
from services.org.absences import cover_for
from services.persistence import step_store
from services.persistence.models import (ExternalTask, ProcessInstance, Task,
                                         Timer, utcnow)
from services.persistence.statuses import ExternalTaskStatus, TaskStatus, TimerStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import calls, engine_steps, external_tasks
from services.workflow.definitions import latest_definition, model_of
from services.workflow.events import completion_event, external_event
from services.workflow.projection import Mirrored, announce_end, project, save_state, stored_state
from services.workflow.standing import require_takes_work
# Re-exported: the steps' common parts live in stepping (services.workflow.calls takes
# steps too, and instances starts calls).
from services.workflow.stepping import model_for, note_new_error, take_step  # noqa: F401


def start_process(uow: UnitOfWork, process_key: str, data: dict[str, Any] | None,
                  started_by: str | None, business_key: str | None = None,
                  now: dt.datetime | None = None) -> ProcessInstance:
    now = now or utcnow()
    definition = latest_definition(uow, process_key)
    model = model_of(uow, definition)
    try:
        check_start_data(model, data)
    except FormValidationError as err:
        raise InvalidInput(errors=err.errors,
                           text=N_("the start data does not match the process's start form")) from None
    org_revision = step_store.org_revision(uow)
    try:
        outcome = engine_steps.run(uow, definition.checksum, definition.key, definition.id,
                                   None, {"kind": START, "data": data or {},
                                          "started_by": started_by}, now, org_revision)
    except StepRefused as err:
        raise InvalidInput(errors=err.errors,
                           text=N_("the start data does not match the process's start form")) from None
    except StepAborted as err:
        # Nothing to keep: the instance never reached a state that could be stored.
        engine_steps.record_incident(uow, instance_id=None, process_key=definition.key,
                                     element_id=None, kind="aborted", message=str(err),
                                     data=None, at=now)
        uow.commit()
        raise StepFailed(f"{definition.key} could not start: {err}") from None
    row = ProcessInstance(definition=definition, definition_id=definition.id,
                          process_key=definition.key, process_version=definition.version,
                          business_key=business_key, started_by=started_by, created_at=now,
                          updated_at=now, state=json.loads(outcome.state_json),
                          **stored_state(outcome))
    uow.session.add(row)
    uow.flush()
    project(uow, row.id, row.process_key, model, outcome, now, org_revision=org_revision)
    note_new_error(uow, row.id, row.process_key, None, outcome, now)
    announce_end(uow, row.id, outcome, now)
    calls.follow(uow, row.id, outcome, now)
    uow.commit()
    return row


@dataclass(frozen=True)
class Completion:
    """An instance right after a completion, as the caller answers with it."""
    instance_id: int
    status: str
    error: str | None
    ready: list[Task]  # the instance's ready tasks, oldest first


def complete_task(uow: UnitOfWork, actor: Actor, task_id: str, data: dict[str, Any],
                  now: dt.datetime | None = None,
                  alongside: Callable[[UnitOfWork, Any], None] | None = None,
                  attached: frozenset[str] = frozenset()) -> Completion:
    """Complete a ready duty as `actor`; the event and the new state commit together.

    A task the actor may not even see does not exist for them (404, as when reading it);
    one they see but whose department they are not in is refused (403), as is one offered
    to other candidate users; one assigned to someone else is a conflict (409) unless the
    actor stands in for that absent person, which the event then records. `alongside(uow,
    task)` writes what belongs to the completion (its attachments) in its transaction.
    File fields hold only the files this completion sent (`attached`: the fields whose
    values services.workflow.attachments made from them); data naming a file is refused.
    """
    now = now or utcnow()
    task = step_store.task_step(uow, task_id)
    if task is None or not may_see_task(actor, task):
        # The same answer whether or not it exists: others' work stays unrevealed.
        raise NotFound(text=N_("task %(task)s does not exist or is not visible to %(user)s"),
                       params={"task": task_id, "user": actor.username})
    if not may_do(actor.department_key, task):
        owner = task.department_key or ", ".join(task.candidate_departments) or "no department"
        raise PermissionDenied(text=N_("'%(name)s' is a duty of %(owner)s; %(user)s belongs "
                                       "to %(department)s"),
                               params={"name": task.name, "owner": owner,
                                       "user": actor.username,
                                       "department": actor.department_key})
    # Read with the instance locked: a suspend or cancel that committed first wins.
    require_takes_work(task.instance_id, task.instance_status)
    if task.status != TaskStatus.READY:
        if task.completed_by:
            raise Conflict(text=N_("task %(task)s is already %(status)s by %(by)s"),
                           params={"task": task_id, "status": task.status,
                                   "by": task.completed_by})
        raise Conflict(text=N_("task %(task)s is already %(status)s"),
                       params={"task": task_id, "status": task.status})
    covered = cover_for(uow, actor, task, now)
    if not may_take(actor, task, covered):
        if task.assignee:
            raise Conflict(text=N_("task %(task)s is claimed by %(holder)s"),
                           params={"task": task_id, "holder": task.assignee})
        raise PermissionDenied(text=N_("'%(name)s' is offered to %(people)s only"),
                               params={"name": task.name,
                                       "people": ", ".join(task.candidate_users)})
    on_behalf_of = stands_in_for(actor, task, covered)
    model = model_for(uow, task)
    duty = model.duties.get(task.element_id)
    cited = sorted(name for name in (duty.form.file_fields if duty else {})
                   if name in (data if isinstance(data, dict) else {}) and name not in attached)
    if cited:
        raise InvalidInput("files are sent with the completion, never cited by their hash",
                           {name: ["Files are sent as multipart parts named after the field, "
                                   "not as data."] for name in cited})
    try:
        outcome = take_step(uow, task, {"kind": COMPLETE, "task_id": task_id, "data": data}, now)
    except StepRefused as err:
        if err.kind == "form":
            raise InvalidInput(errors=err.errors,
                               text=N_("the form data is invalid")) from None
        # The task row was read before a concurrent commit, the instance after it.
        raise Conflict(text=N_("task %(task)s is no longer waiting: the process instance "
                               "was changed by someone else; reload and retry"),
                       params={"task": task_id}) from None
    step_store.close_task(uow, task_id, actor.username, now, task.assignee, conflict=Conflict(
        text=N_("task %(task)s was taken by someone else; reload and retry"),
        params={"task": task_id}))
    step_store.append_event(uow, completion_event(task, actor, outcome.cleaned, now,
                                                  on_behalf_of))
    ready = project(uow, task.instance_id, task.process_key, model, outcome, now,
                    Mirrored.before(outcome).closing(task_id=task_id), task.org_revision)
    stored = save_state(uow, task.instance_id, task.lock_version, outcome, now)
    note_new_error(uow, task.instance_id, task.process_key, task.instance_status, outcome, now)
    if alongside is not None:
        alongside(uow, task)
    uow.commit()
    return Completion(task.instance_id, stored["status"], stored["error"], ready)


def fire_timer(uow: UnitOfWork, timer_id: str, now: dt.datetime | None = None) -> bool:
    """Fire one due timer; False when it is no longer pending (another worker or a completion won)."""
    now = now or utcnow()
    timer = uow.session.get(Timer, timer_id)
    if timer is None or timer.status != TimerStatus.PENDING:
        return False
    # Instance first, as complete_task locks it: the same lock order cannot deadlock.
    found = step_store.instance_step(uow, timer.process_instance_id)
    uow.session.refresh(timer)  # a completion may have cancelled it while we waited
    if timer.status != TimerStatus.PENDING or found.instance_status == InstanceStatus.SUSPENDED:
        return False  # a suspended instance's timers wait for its resumption
    try:
        outcome = take_step(uow, found, {"kind": FIRE_TIMER, "timer_id": timer_id}, now)
    except StepFailed:
        return False
    if outcome.timer_fired:
        timer.status, timer.fired_at = TimerStatus.FIRED, now
    else:
        # The projection was behind the engine: nothing to fire.
        timer.status = TimerStatus.CANCELLED
    project(uow, found.instance_id, found.instance_process_key, model_for(uow, found), outcome,
            now, Mirrored.before(outcome).closing(timer_id=timer_id), found.org_revision)
    save_state(uow, found.instance_id, found.lock_version, outcome, now)
    note_new_error(uow, found.instance_id, found.instance_process_key, found.instance_status,
                    outcome, now)
    uow.commit()
    return timer.status == TimerStatus.FIRED


def complete_external_task(uow: UnitOfWork, actor: Actor, task_id: str, worker_id: str,
                           variables: dict[str, Any], now: dt.datetime | None = None
                           ) -> Completion:
    """A worker's result for a task it holds the lock on: the variables join the process
    data, an `external` event records them, and the instance runs on."""
    now = now or utcnow()
    actor.require(external_tasks.ROLE)
    row = uow.session.get(ExternalTask, task_id)
    if row is None:
        raise NotFound(f"external task {task_id} does not exist")
    # Instance first, as every step locks it: the same lock order cannot deadlock.
    found = step_store.instance_step(uow, row.process_instance_id)
    task = external_tasks.locked_task(uow, actor, task_id, worker_id, now)
    require_takes_work(found.instance_id, found.instance_status)
    try:
        outcome = take_step(uow, found, {"kind": COMPLETE_EXTERNAL, "task_id": task_id,
                                         "data": variables}, now)
    except StepRefused as err:
        if err.kind == "form":
            raise InvalidInput("the variables are invalid", err.errors) from None
        raise Conflict(f"external task {task_id} is no longer waiting: the process instance "
                       "was changed by someone else; reload and retry") from None
    task.status, task.completed_at = ExternalTaskStatus.COMPLETED, now
    task.worker_id, task.lock_expires_at = None, None
    step_store.append_event(uow, external_event(task, found.process_version, actor, worker_id,
                                                outcome.cleaned, now))
    ready = project(uow, found.instance_id, found.instance_process_key, model_for(uow, found),
                    outcome, now, Mirrored.before(outcome).closing(external_task_id=task_id),
                    found.org_revision)
    stored = save_state(uow, found.instance_id, found.lock_version, outcome, now)
    note_new_error(uow, found.instance_id, found.instance_process_key, found.instance_status,
                   outcome, now)
    uow.commit()
    return Completion(found.instance_id, stored["status"], stored["error"], ready)


def due_timer_ids(uow: UnitOfWork, now: dt.datetime, limit: int = 100) -> list[str]:
    """Pending timers due by `now`, but not those of suspended instances: they wait."""
    return list(uow.session.scalars(select(Timer.id).join(
        ProcessInstance, ProcessInstance.id == Timer.process_instance_id).where(
        Timer.status == TimerStatus.PENDING, Timer.due_at <= now,
        ProcessInstance.status != InstanceStatus.SUSPENDED)
        .order_by(Timer.due_at).limit(limit)))


def get_instance(uow: UnitOfWork, instance_id: int) -> ProcessInstance:
    row = uow.session.get(ProcessInstance, instance_id)
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return row


def _visible_to(actor: Actor):
    """Instances this person started, or in which their departments have duties."""
    if actor.is_admin:
        return None
    has_duty = select(Task.id).where(Task.process_instance_id == ProcessInstance.id,
                                     Task.department_key.in_(actor.overseen)).exists()
    return or_(ProcessInstance.started_by == actor.username, has_duty)


def visible_instance(uow: UnitOfWork, actor: Actor, instance_id: int) -> ProcessInstance:
    statement = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    condition = _visible_to(actor)
    if condition is not None:
        statement = statement.where(condition)
    row = uow.session.scalars(statement).first()
    if row is None:
        raise NotFound(f"process instance {instance_id} does not exist")
    return row


def list_instances(uow: UnitOfWork, actor: Actor, status: str | None, process_key: str | None,
                   limit: int, offset: int) -> list[ProcessInstance]:
    statement = select(ProcessInstance)
    condition = _visible_to(actor)
    if condition is not None:
        statement = statement.where(condition)
    if status:
        statement = statement.where(ProcessInstance.status == status)
    if process_key:
        statement = statement.where(ProcessInstance.process_key == process_key)
    return list(uow.session.scalars(statement.order_by(ProcessInstance.id.desc())
                                    .limit(limit).offset(offset)))
