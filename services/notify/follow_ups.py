"""Reminders and escalation of tasks left open.

A user task may say when to remind and when to escalate (`dutyflow:remindAfter`,
`dutyflow:escalateAfter`: ISO durations from when it became ready); a department's
`remind_after` / `escalate_after` in the org file are the defaults for its tasks. The
times are written with the task (`schedule`, in the step's transaction). The worker
(`run_due`) then, each task in its own transaction: reminds whoever may take it, once;
escalates to the head of the task's department, and after each further interval to the
head of the department above, up to the top, recording each escalation. A department
without an active head is passed over for the one above it. Each change is claimed with
a conditional UPDATE on the time it was due at, so two workers never act twice.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from engine.deadlines import add_duration
from engine.model import DutySpec
from services.errors import Conflict
from services.notify import events
from services.persistence.models import Department, Employee, Escalation, Task, TaskFollowUp, utcnow
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import Store, UnitOfWork

log = logging.getLogger(__name__)
_follow_ups = TaskFollowUp.__table__


def schedule(uow: UnitOfWork, tasks: Iterable[tuple[Mapping[str, Any], DutySpec]],
             departments: Mapping[str, Any]) -> None:
    """Follow-up times of new ready tasks: the duty's own intervals, else its department's."""
    rows = []
    for task, duty in tasks:
        department = departments.get(task["department_key"])
        remind = duty.remind_after or getattr(department, "remind_after", None)
        escalate = duty.escalate_after or getattr(department, "escalate_after", None)
        if not (remind or escalate):
            continue
        ready = task["created_at"]
        rows.append(dict(task_id=task["id"], level=0, escalate_after=escalate,
                         remind_at=add_duration(ready, remind) if remind else None,
                         escalate_at=add_duration(ready, escalate) if escalate else None,
                         next_department=task["department_key"] if escalate else None))
    if rows:
        uow.core(insert(_follow_ups), rows)


def due_task_ids(uow: UnitOfWork, now: dt.datetime, limit: int = 100) -> list[str]:
    return list(uow.session.scalars(
        select(TaskFollowUp.task_id).where(or_(TaskFollowUp.remind_at <= now,
                                               TaskFollowUp.escalate_at <= now))
        .order_by(TaskFollowUp.task_id).limit(limit)))


def follow_up(uow: UnitOfWork, task_id: str, now: dt.datetime) -> list[str]:
    """Remind and escalate one task as due at `now`; commits. Returns what was done."""
    row = uow.session.get(TaskFollowUp, task_id)
    task = uow.session.get(Task, task_id)
    if row is None or task is None:
        return []
    if task.status != TaskStatus.READY:  # done or withdrawn: nothing more to follow up
        uow.session.execute(delete(TaskFollowUp).where(TaskFollowUp.task_id == task_id))
        uow.commit()
        return []
    done = []
    if row.remind_at is not None and row.remind_at <= now and _claim(
            uow, task_id, "remind_at", row.remind_at, remind_at=None):
        events.task_reminder(uow, task, now)
        done.append("reminded")
    if row.escalate_at is not None and row.escalate_at <= now:
        done += _escalate(uow, row, task, now)
    uow.commit()
    return done


def _claim(uow: UnitOfWork, task_id: str, column: str, seen: dt.datetime, **values) -> bool:
    """Take one due follow-up: only one worker's UPDATE finds it still due at `seen`."""
    return uow.session.execute(
        update(_follow_ups).where(_follow_ups.c.task_id == task_id,
                                  _follow_ups.c[column] == seen).values(**values)
    ).rowcount == 1


def _escalate(uow: UnitOfWork, row: TaskFollowUp, task: Task, now: dt.datetime) -> list[str]:
    tree = {key: (parent, head) for key, parent, head in uow.session.execute(
        select(Department.key, Department.parent_key, Department.head_username)
        .where(Department.active))}
    active = set(uow.session.scalars(select(Employee.username).where(Employee.active)))
    department, head = row.next_department, None
    while department in tree:  # pass over departments without an active head
        head = tree[department][1] if tree[department][1] in active else None
        if head:
            break
        department = tree[department][0]
    above = tree[department][0] if head else None
    next_at = add_duration(row.escalate_at, row.escalate_after) \
        if above is not None and row.escalate_after else None
    if not _claim(uow, row.task_id, "escalate_at", row.escalate_at, escalate_at=next_at,
                  next_department=above, level=row.level + (1 if head else 0)):
        return []
    if not head:
        return []  # nobody above is left to tell
    level = row.level + 1
    uow.session.add(Escalation(task_id=row.task_id, level=level, department_key=department,
                               notified=head, at=now))
    if task.escalated_at is None:
        task.escalated_at = now
    events.task_escalated(uow, task, head, department, level, now)
    return [f"escalated to {head}"]


def escalations_of(uow: UnitOfWork, task_ids: Iterable[str]) -> dict[str, list[Escalation]]:
    """The recorded escalations of these tasks, level by level: who was told each task was
    late, and when (the task page and the dashboard's overdue list show them)."""
    wanted = sorted(set(task_ids))
    found: dict[str, list[Escalation]] = {task_id: [] for task_id in wanted}
    if wanted:
        for escalation in uow.session.scalars(
                select(Escalation).where(Escalation.task_id.in_(wanted))
                .order_by(Escalation.task_id, Escalation.level, Escalation.id)):
            found[escalation.task_id].append(escalation)
    return found


def escalation_view(escalation: Escalation) -> dict[str, Any]:
    """One escalation as the read models show it (dashboard, payslip evidence)."""
    return {"level": escalation.level, "department": escalation.department_key,
            "notified": escalation.notified, "at": escalation.at}


def run_due(store: Store, now: dt.datetime | None = None, batch: int = 100) -> int:
    """Every reminder and escalation due at `now`; returns how many tasks were acted on."""
    now = now or utcnow()
    acted = 0
    with store.reading() as uow:
        task_ids = due_task_ids(uow, now, batch)
    while task_ids:
        for task_id in task_ids:
            try:
                with store.writing() as uow:
                    acted += bool(follow_up(uow, task_id, now))
            except Conflict:
                log.info("follow-up of task %s was handled concurrently; skipping", task_id)
        if len(task_ids) < batch:
            break
        with store.reading() as uow:
            following = due_task_ids(uow, now, batch)
        if following == task_ids:
            break
        task_ids = following
    return acted
