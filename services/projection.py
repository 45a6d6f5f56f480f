"""Mirror an instance's engine state into queryable rows after every step.

The serialized instance is the source of truth; `tasks` and `timers` rows exist so
inboxes and the timer worker can query with indexes instead of loading instances.
They are rewritten in the same transaction as the state they mirror.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from engine.deadlines import resolve_due_at
from engine.runtime import Instance

from .models import ProcessInstance, Task, Timer
from .org import Directory
from .unit_of_work import UnitOfWork


def project(uow: UnitOfWork, row: ProcessInstance, instance: Instance, directory: Directory,
            now: dt.datetime) -> None:
    """Store the instance's state on its row and bring its task and timer rows up to date."""
    row.state = instance.dump()
    row.status = instance.status
    row.error = str(instance.error) if instance.error else None
    row.data = json_safe(instance.data)
    row.updated_at = now
    _project_tasks(uow, row, instance, directory, now)
    _project_timers(uow, row, instance)


def _project_tasks(uow, row, instance, directory, now) -> None:
    ready = {task.id: task for task in instance.ready_tasks()}
    open_rows = uow.session.scalars(select(Task).where(
        Task.process_instance_id == row.id, Task.status == "ready")).all()
    for task_row in open_rows:
        if task_row.id not in ready:
            task_row.status = "cancelled"  # withdrawn by the engine (process ended or interrupted)
    known = {task_row.id for task_row in open_rows}
    for task_id, task in ready.items():
        if task_id in known:
            continue
        duty = task.duty
        owner = directory.department_for(duty.lane)
        candidates = sorted({department.key for name in duty.candidate_groups
                             if (department := directory.department_for(name)) is not None})
        uow.session.add(Task(
            id=task_id, process_instance_id=row.id, process_key=row.process_key,
            element_id=duty.element_id, name=duty.name, lane=duty.lane,
            # Inboxes index department_key: a task owned only by candidate groups is
            # listed under the first of them; all of them may still do it.
            department_key=owner.key if owner else (candidates[0] if candidates else None),
            candidate_departments=candidates,
            status="ready", created_at=now,
            due_at=resolve_due_at(duty.due_date, instance.task_data(task_id), now)))


def _project_timers(uow, row, instance) -> None:
    pending = {timer.id: timer for timer in instance.pending_timers()}
    timer_rows = uow.session.scalars(select(Timer).where(
        Timer.process_instance_id == row.id, Timer.status == "pending")).all()
    for timer_row in timer_rows:
        if timer_row.id not in pending:
            timer_row.status = "cancelled"
    known = {timer_row.id for timer_row in timer_rows}
    for timer_id, timer in pending.items():
        if timer_id not in known and uow.session.get(Timer, timer_id) is None:
            uow.session.add(Timer(id=timer_id, process_instance_id=row.id,
                                  element_id=timer.element_id, name=timer.name,
                                  due_at=timer.due_at, status="pending"))


def json_safe(value: Any) -> Any:
    """Process data as JSON: Decimals as strings (never floats), dates as ISO text."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value
