"""Mirror an instance's engine state into queryable rows after every step.

The serialized instance is the source of truth; `tasks`, `timers` and `external_tasks`
rows exist so inboxes, the timer worker and external workers can query with indexes
instead of loading instances.
They are rewritten in the same transaction as the state they mirror.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from engine.model import InstanceStatus, ProcessModel
from engine.steps import StepOutcome
from services.notify import events as notify_events
from services.notify import follow_ups
from services.org.directory import Directory
from services.persistence import step_store
from services.persistence.models import ExternalTask, ProcessInstance, Task
from services.persistence.statuses import ExternalTaskStatus, TaskStatus, TimerStatus
from services.persistence.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Mirrored:
    """What the rows mirror before a step: the engine's ready tasks, pending timers and
    tasks waiting for external workers.

    Rows change only in the transaction that changes the state they mirror, so the
    state before a step says which rows are open: no query needed to find them.
    """

    ready: frozenset[str] = frozenset()
    timers: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    external: frozenset[str] = frozenset()

    @classmethod
    def before(cls, outcome: StepOutcome) -> "Mirrored":
        return cls(outcome.ready_before, outcome.timers_before, outcome.events_before,
                   outcome.external_before)

    def closing(self, task_id: str | None = None, timer_id: str | None = None,
                external_task_id: str | None = None) -> "Mirrored":
        """Without the row the use case closes itself (completed task, fired timer, a
        worker's completed task)."""
        return Mirrored(self.ready - {task_id}, self.timers - {timer_id}, self.events,
                        self.external - {external_task_id})


def project(uow: UnitOfWork, instance_id: int, process_key: str, model: ProcessModel,
            outcome: StepOutcome, now: dt.datetime, before: Mirrored = Mirrored(),
            org_revision: str | None = None) -> list[Task]:
    """Bring an instance's task and timer rows up to date after a step.

    `before` is what the rows mirrored before the step; `org_revision`, when the caller
    read it, lets new tasks be routed with the cached directory of that revision.
    Returns the instance's ready tasks, oldest first (the new ones as unsaved Task
    objects, for the caller's answer).
    """
    rows = _project_tasks(uow, instance_id, process_key, model, outcome, now, before.ready,
                          org_revision)
    _project_timers(uow, instance_id, outcome.timers, before.timers)
    _project_subscriptions(uow, instance_id, outcome, before.events)
    if outcome.external or before.external:
        _project_external(uow, instance_id, process_key, model, outcome, before.external, now)
    return rows


def stored_state(outcome: StepOutcome) -> dict[str, Any]:
    """An instance's columns as stored after a step: status, error and data (the state
    goes in as the text the worker wrote)."""
    return {"status": outcome.status, "error": outcome.error, "data": outcome.data}


def save_state(uow: UnitOfWork, instance_id: int, seen_version: int, outcome: StepOutcome,
               now: dt.datetime) -> dict[str, Any]:
    """Store the instance's state after a step (Conflict if someone else stored one first);
    an instance the step ended tells its initiator (`announce_end`), whichever step it was:
    a completion, a timer, an external worker, a message or signal, a move, a retry; and
    its call activities start, cancel or complete child instances (services.workflow.calls).

    Returns the columns stored."""
    stored = stored_state(outcome)
    step_store.save_state(uow, instance_id, seen_version, state_json=outcome.state_json, at=now,
                          **stored)
    announce_end(uow, instance_id, outcome, now)
    for follower in _FOLLOWERS:
        follower(uow, instance_id, outcome, now)
    return stored


Follower = Callable[[UnitOfWork, int, StepOutcome, dt.datetime], None]
_FOLLOWERS: list[Follower] = []


def follow_steps(follower: Follower) -> None:
    """Have `follower` see every stored step's outcome (services.workflow.calls registers
    itself: it takes steps of its own with this module's functions, so it cannot be
    imported here)."""
    if follower not in _FOLLOWERS:
        _FOLLOWERS.append(follower)


def announce_end(uow: UnitOfWork, instance_id: int, outcome: StepOutcome,
                 now: dt.datetime) -> None:
    """The one rule for an instance that ended in a step (no step runs on a completed
    instance, so a completed outcome is a new end): its initiator hears that it finished,
    or was rejected, in the step's transaction (services.notify.events.instance_ended)."""
    if outcome.status != InstanceStatus.COMPLETED:
        return
    row = uow.session.execute(
        select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key,
               ProcessInstance.started_by).where(ProcessInstance.id == instance_id)).one()
    notify_events.instance_ended(uow, row._asdict(), outcome.data, now)


def _project_tasks(uow, instance_id, process_key, model, outcome, now, was_ready,
                   org_revision) -> list[Task]:
    ready = {task.id: task for task in outcome.ready}
    # Gone by the engine: a countersign's instances no longer needed are withdrawn; the
    # rest are cancelled (the process ended or was interrupted).
    gone = was_ready - ready.keys()
    if gone & outcome.withdrawn:
        step_store.cancel_tasks(uow, gone & outcome.withdrawn, TaskStatus.WITHDRAWN)
    if gone - outcome.withdrawn:
        step_store.cancel_tasks(uow, gone - outcome.withdrawn)
    kept = was_ready & ready.keys()
    rows = list(uow.session.scalars(select(Task).where(Task.id.in_(kept)))) if kept else []
    new_rows, candidate_rows, duties = [], [], []
    directory = None
    for task_id, task in ready.items():
        if task_id in kept:
            continue
        # Routing as of this step's org revision: a re-imported org moves duties at once.
        directory = directory or Directory.at_revision(uow, org_revision)
        duty = model.duties[task.element_id]
        # The persons the worker resolved (engine.people), checked there against the same
        # org revision: a duty owned by no lane or group belongs to their departments.
        # Groups its candidateGroups expression gave own it like literal ones.
        named = ((task.assignee,) if task.assignee else ()) + task.candidate_users
        department_key, candidates = directory.inbox_of(
            duty, named, directory.snapshot(uow) if named and not duty.owners else None,
            task.candidate_groups)
        new_rows.append(dict(
            id=task_id, process_instance_id=instance_id, process_key=process_key,
            element_id=duty.element_id, name=duty.name, lane=duty.lane,
            department_key=department_key, candidate_departments=candidates,
            assignee=task.assignee, claimed_at=None, candidate_users=list(task.candidate_users),
            completed_by=None, completed_at=None, status=TaskStatus.READY, created_at=now,
            due_at=task.due_at, local_data=task.locals))
        candidate_rows += [{"task_id": task_id, "username": username}
                           for username in task.candidate_users]
        duties.append(duty)
    if new_rows:
        step_store.add_tasks(uow, new_rows)
        if candidate_rows:
            step_store.add_candidates(uow, candidate_rows)
        notify_events.tasks_ready(uow, new_rows, directory.departments, now,  # same transaction
                                  model.labels)
        follow_ups.schedule(uow, zip(new_rows, duties), directory.departments)
        rows += [Task(**values) for values in new_rows]
    return sorted(rows, key=lambda task_row: (task_row.created_at, task_row.id))


def _project_timers(uow, instance_id, timers, were_pending) -> None:
    pending = {timer.id: timer for timer in timers}
    dropped = were_pending - pending.keys()
    if dropped:
        step_store.cancel_timers(uow, dropped)
    new_rows = [dict(id=timer_id, process_instance_id=instance_id, element_id=timer.element_id,
                     name=timer.name, due_at=timer.due_at, status=TimerStatus.PENDING,
                     fired_at=None)
                for timer_id, timer in pending.items() if timer_id not in were_pending]
    if new_rows:
        step_store.add_timers(uow, new_rows)


def _project_external(uow, instance_id, process_key, model, outcome, were_waiting, now) -> None:
    waiting = {task.id: task for task in outcome.external}
    dropped = were_waiting - waiting.keys()
    if dropped:
        uow.session.execute(update(ExternalTask).where(
            ExternalTask.id.in_(dropped), ExternalTask.status == ExternalTaskStatus.OPEN)
            .values(status=ExternalTaskStatus.CANCELLED, worker_id=None, lock_expires_at=None))
    for task_id, task in waiting.items():
        if task_id not in were_waiting:
            uow.session.add(ExternalTask(
                id=task_id, process_instance_id=instance_id, process_key=process_key,
                element_id=task.element_id, name=model.external[task.element_id].name,
                topic=task.topic, status=ExternalTaskStatus.OPEN, created_at=now,
                local_variables=task.variables))


def _project_subscriptions(uow, instance_id, outcome, were_waiting) -> None:
    waiting = {event.id: event for event in outcome.events}
    ended = were_waiting - waiting.keys()
    if ended:
        step_store.drop_subscriptions(uow, ended)
    new_rows = [dict(id=event.id, process_instance_id=instance_id, element_id=event.element_id,
                     kind=event.kind, name=event.name)
                for event_id, event in waiting.items() if event_id not in were_waiting]
    if new_rows:
        step_store.add_subscriptions(uow, new_rows)
