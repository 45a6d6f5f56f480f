"""Management reports: department ranking, an employee's duty detail, trends over time.

All figures come from completion events and the task table, aggregated in SQL.
Rates with nothing to measure are null (not applicable), never 0.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, select

from payroll.money import score
from payroll.periods import Period

from .access import Actor
from .errors import InvalidInput, PermissionDenied
from .models import Department, Task, TaskEvent
from .corrections import corrected_data
from .payslips import evidence_row
from .unit_of_work import UnitOfWork

ONE, ZERO = literal(1), literal(0)


def _rate(numerator, denominator) -> str | None:
    return str(score(Decimal(int(numerator or 0)) / Decimal(int(denominator)))) if denominator else None


def department_ranking(uow: UnitOfWork, actor: Actor, period: Period) -> list[dict[str, Any]]:
    actor.require("manager", "hr", "admin")
    session = uow.session
    completion = dict((key, (done, total)) for key, done, total in session.execute(
        select(Task.department_key,
               func.sum(case((and_(Task.status == "completed", Task.completed_at < period.end), ONE),
                             else_=ZERO)), func.count())
        .where(Task.due_at >= period.start, Task.due_at < period.end)
        .group_by(Task.department_key)))
    timeliness = dict((key, (on_time, due, count)) for key, on_time, due, count in session.execute(
        select(TaskEvent.department_key,
               func.sum(case((and_(TaskEvent.due_at.is_not(None),
                                   TaskEvent.completed_at <= TaskEvent.due_at), ONE), else_=ZERO)),
               func.sum(case((TaskEvent.due_at.is_not(None), ONE), else_=ZERO)), func.count())
        .where(TaskEvent.kind == "completed", TaskEvent.completed_at >= period.start,
               TaskEvent.completed_at < period.end)
        .group_by(TaskEvent.department_key)))
    rows = []
    for department in session.scalars(select(Department).where(Department.active)):
        done, total = completion.get(department.key, (0, 0))
        on_time, with_due, completions = timeliness.get(department.key, (0, 0, 0))
        rows.append({"department": department.key, "name": department.name,
                     "tasks_due": int(total or 0), "completed": int(completions or 0),
                     "completion_rate": _rate(done, total), "on_time_rate": _rate(on_time, with_due)})
    rows.sort(key=lambda r: (r["completion_rate"] is None, -Decimal(r["completion_rate"] or 0),
                             r["on_time_rate"] is None, -Decimal(r["on_time_rate"] or 0),
                             r["department"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def employee_report(uow: UnitOfWork, actor: Actor, username: str, period: Period) -> dict[str, Any]:
    if actor.username != username and not actor.has("manager", "hr", "admin"):
        raise PermissionDenied("duty detail is for managers, HR, admins and the employee themself")
    events = uow.session.scalars(select(TaskEvent).where(
        TaskEvent.kind == "completed", TaskEvent.completed_by == username,
        TaskEvent.completed_at >= period.start, TaskEvent.completed_at < period.end)
        .order_by(TaskEvent.completed_at, TaskEvent.id)).all()
    corrections = corrected_data(uow, [event.id for event in events])
    with_due = [event for event in events if event.due_at is not None]
    on_time = [event for event in with_due if event.completed_at <= event.due_at]
    return {"username": username, "period": str(period), "completed": len(events),
            "on_time_rate": _rate(len(on_time), len(with_due)),
            "events": [evidence_row(event, corrections.get(event.id)) for event in events]}


def trend(uow: UnitOfWork, actor: Actor, start: dt.date, end: dt.date,
          granularity: str) -> list[dict[str, Any]]:
    """Completions and on-time rate per department and week (Monday) or month, in UTC."""
    actor.require("manager", "hr", "admin")
    if granularity not in ("week", "month"):
        raise InvalidInput("granularity is week or month", {"granularity": ["Invalid value."]})
    if end <= start or (end - start).days > 3 * 366:
        raise InvalidInput("'to' must be after 'from', at most three years later",
                           {"to": ["Invalid range."]})
    bucket = _bucket(TaskEvent.completed_at, granularity, uow.session.bind.dialect.name)
    lower = dt.datetime.combine(start, dt.time(), dt.timezone.utc)
    upper = dt.datetime.combine(end, dt.time(), dt.timezone.utc)
    rows = uow.session.execute(
        select(TaskEvent.department_key, bucket.label("bucket"), func.count(),
               func.sum(case((and_(TaskEvent.due_at.is_not(None),
                                   TaskEvent.completed_at <= TaskEvent.due_at), ONE), else_=ZERO)),
               func.sum(case((TaskEvent.due_at.is_not(None), ONE), else_=ZERO)))
        .where(TaskEvent.kind == "completed", TaskEvent.completed_at >= lower,
               TaskEvent.completed_at < upper)
        .group_by(TaskEvent.department_key, bucket).order_by(bucket, TaskEvent.department_key))
    return [{"department": key, "bucket": str(label), "completed": int(count),
             "on_time_rate": _rate(on_time, with_due)}
            for key, label, count, on_time, with_due in rows]


def _bucket(column, granularity: str, dialect: str):
    if dialect == "postgresql":
        utc = func.timezone("UTC", column)
        if granularity == "month":
            return func.to_char(utc, "YYYY-MM")
        return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
    if granularity == "month":
        return func.strftime("%Y-%m", column)
    return func.date(column, "weekday 0", "-6 days")
