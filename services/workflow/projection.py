"""Mirror an instance's engine state into queryable rows after every step.

The serialized instance is the source of truth; `tasks` and `timers` rows exist so
inboxes and the timer worker can query with indexes instead of loading instances.
They are rewritten in the same transaction as the state they mirror.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from engine.model import ProcessModel
from engine.steps import StepOutcome
from services.notify import events as notify_events
from services.notify import follow_ups
from services.org.directory import Directory
from services.persistence import step_store
from services.persistence.models import Task
from services.persistence.statuses import TaskStatus, TimerStatus
from services.persistence.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Mirrored:
    """What the rows mirror before a step: the engine's ready tasks and pending timers.

    Rows change only in the transaction that changes the state they mirror, so the
    state before a step says which rows are open: no query needed to find them.
    """

    ready: frozenset[str] = frozenset()
    timers: frozenset[str] = frozenset()

    @classmethod
    def before(cls, outcome: StepOutcome) -> "Mirrored":
        return cls(outcome.ready_before, outcome.timers_before)

    def closing(self, task_id: str | None = None, timer_id: str | None = None) -> "Mirrored":
        """Without the row the use case closes itself (completed task, fired timer)."""
        return Mirrored(self.ready - {task_id}, self.timers - {timer_id})


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
    return rows


def stored_state(outcome: StepOutcome) -> dict[str, Any]:
    """An instance's columns as stored after a step: status, error and data (the state
    goes in as the text the worker wrote)."""
    return {"status": outcome.status, "error": outcome.error, "data": outcome.data}


def save_state(uow: UnitOfWork, instance_id: int, seen_version: int, outcome: StepOutcome,
               now: dt.datetime) -> dict[str, Any]:
    """Store the instance's state after a step (Conflict if someone else stored one first).

    Returns the columns stored."""
    stored = stored_state(outcome)
    step_store.save_state(uow, instance_id, seen_version, state_json=outcome.state_json, at=now,
                          **stored)
    return stored


def _project_tasks(uow, instance_id, process_key, model, outcome, now, was_ready,
                   org_revision) -> list[Task]:
    ready = {task.id: task for task in outcome.ready}
    withdrawn = was_ready - ready.keys()  # by the engine: the process ended or was interrupted
    if withdrawn:
        step_store.cancel_tasks(uow, withdrawn)
    kept = was_ready & ready.keys()
    rows = list(uow.session.scalars(select(Task).where(Task.id.in_(kept)))) if kept else []
    new_rows, duties = [], []
    directory = None
    for task_id, task in ready.items():
        if task_id in kept:
            continue
        # Routing as of this step's org revision: a re-imported org moves duties at once.
        directory = directory or Directory.at_revision(uow, org_revision)
        duty = model.duties[task.element_id]
        department_key, candidates = directory.inbox_of(duty)
        new_rows.append(dict(
            id=task_id, process_instance_id=instance_id, process_key=process_key,
            element_id=duty.element_id, name=duty.name, lane=duty.lane,
            department_key=department_key, candidate_departments=candidates, assignee=None, claimed_at=None,
            completed_by=None, completed_at=None, status=TaskStatus.READY, created_at=now,
            due_at=task.due_at))
        duties.append(duty)
    if new_rows:
        step_store.add_tasks(uow, new_rows)
        notify_events.tasks_ready(uow, new_rows, directory.departments, now)  # same transaction
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
