"""Management reports: department ranking, an employee's duty detail, trends over time.

All figures come from completion events and the task table, aggregated in SQL.
Rates with nothing to measure are null (not applicable), never 0.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, column, func, select, values

from payroll.aggregation import (
    completed_within,
    done_in_time,
    due_count,
    due_within,
    on_time_count,
)
from payroll.periods import FIRST_YEAR, LAST_YEAR, Period, PeriodError, time_zone
from services.errors import InvalidInput, PermissionDenied
from services.identity.access import may_read_report
from services.identity.actor import Actor
from services.pay.payslips import evidence_row
from services.persistence.models import Department, Employee, Task, TaskEvent, UTCDateTime
from services.persistence.unit_of_work import UnitOfWork
from services.reporting.rates import rate
from services.workflow.corrections import corrected_data

# (completed by the due time, completed with a due time), as the events stored them.
ON_TIME_COUNTS = (on_time_count(TaskEvent.on_time), due_count(TaskEvent.on_time))


def department_ranking(uow: UnitOfWork, actor: Actor, period: Period) -> list[dict[str, Any]]:
    actor.require("manager", "hr", "admin")
    session = uow.session
    completion = dict((key, (done, total)) for key, done, total in session.execute(
        select(Task.department_key, done_in_time(Task.__table__, period.end), func.count())
        .where(due_within(Task.__table__, period.start, period.end))
        .group_by(Task.department_key)))
    timeliness = dict((key, (on_time, due, count)) for key, on_time, due, count in session.execute(
        select(TaskEvent.department_key, *ON_TIME_COUNTS, func.count())
        .where(completed_within(TaskEvent.__table__, period.start, period.end))
        .group_by(TaskEvent.department_key)))
    rows = []
    for department in session.scalars(select(Department).where(Department.active)):
        done, total = completion.get(department.key, (0, 0))
        on_time, with_due, completions = timeliness.get(department.key, (0, 0, 0))
        rows.append({"department": department.key, "name": department.name,
                     "tasks_due": int(total or 0), "completed": int(completions or 0),
                     "completion_rate": rate(done, total), "on_time_rate": rate(on_time, with_due)})
    rows.sort(key=lambda r: (r["completion_rate"] is None, -Decimal(r["completion_rate"] or 0),
                             r["on_time_rate"] is None, -Decimal(r["on_time_rate"] or 0),
                             r["department"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def employee_report(uow: UnitOfWork, actor: Actor, username: str, period: Period) -> dict[str, Any]:
    department_key = uow.session.scalar(select(Employee.department_key)
                                        .where(Employee.username == username))
    if not may_read_report(actor, username, department_key):
        raise PermissionDenied("duty detail is for the employee themself, HR, admins, and "
                               "managers of the departments they oversee")
    events = uow.session.scalars(select(TaskEvent).where(
        completed_within(TaskEvent.__table__, period.start, period.end),
        TaskEvent.completed_by == username)
        .order_by(TaskEvent.completed_at, TaskEvent.id)).all()
    corrections = corrected_data(uow, [event.id for event in events])
    with_due = [event for event in events if event.on_time is not None]
    on_time = [event for event in with_due if event.on_time]
    return {"username": username, "period": str(period), "completed": len(events),
            "on_time_rate": rate(len(on_time), len(with_due)),
            "events": [evidence_row(event, corrections.get(event.id)) for event in events]}


def trend(uow: UnitOfWork, actor: Actor, start: dt.date, end: dt.date, granularity: str,
          timezone: str = "UTC") -> list[dict[str, Any]]:
    """Completions and on-time rate per department and week (from Monday) or month, for
    days `start` up to `end` (exclusive); buckets without completions are left out.

    Days, weeks and months are the configured time zone's, like pay periods: a month's
    trend then counts what its payroll counts. The bucket boundaries are computed here
    (SQLite knows no time zones) and joined as a VALUES list (a CTE, whose columns SQLite
    can name), so each bucket is one range read on the completion-time index.
    """
    actor.require("manager", "hr", "admin")
    if granularity not in ("week", "month"):
        raise InvalidInput("granularity is week or month", {"granularity": ["Invalid value."]})
    if end <= start or (end - start).days > 3 * 366:
        raise InvalidInput("'to' must be after 'from', at most three years later",
                           {"to": ["Invalid range."]})
    if start.year < FIRST_YEAR or end.year > LAST_YEAR:
        raise InvalidInput(f"dates must lie in the years {FIRST_YEAR}-{LAST_YEAR}",
                           {"from": ["Out of range."]})
    try:
        zone = time_zone(timezone)
    except PeriodError as err:
        raise InvalidInput(str(err)) from None
    buckets = values(column("label", String), column("lower", UTCDateTime),
                     column("upper", UTCDateTime), name="buckets").data(
        _buckets(start, end, granularity, zone)).cte("buckets")
    rows = uow.session.execute(
        select(buckets.c.label, TaskEvent.department_key, func.count(), *ON_TIME_COUNTS)
        .select_from(buckets.join(TaskEvent, completed_within(TaskEvent.__table__,
                                                              buckets.c.lower, buckets.c.upper)))
        .group_by(buckets.c.label, TaskEvent.department_key)
        .order_by(buckets.c.label, TaskEvent.department_key))
    return [{"department": key, "bucket": label, "completed": int(count),
             "on_time_rate": rate(on_time, with_due)}
            for label, key, count, on_time, with_due in rows]


def _buckets(start: dt.date, end: dt.date, granularity: str, zone: ZoneInfo
             ) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(label, first instant, first instant after) per week or month touching [start, end),
    clipped to it; labels sort in time order (a week's Monday, or YYYY-MM)."""
    def instant(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.timezone.utc)

    out = []
    day = start
    while day < end:
        if granularity == "week":
            first = day - dt.timedelta(days=day.weekday())
            label, following = first.isoformat(), first + dt.timedelta(weeks=1)
        else:
            first = day.replace(day=1)
            label = str(Period(first.year, first.month))
            following = (first + dt.timedelta(days=32)).replace(day=1)
        upper = min(following, end)
        out.append((label, instant(day), instant(upper)))
        day = upper
    return out
