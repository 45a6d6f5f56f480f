"""Read models for the management dashboard and the HR pages.

Everything is aggregated in SQL from completion events, the task table and payroll
lines. A manager sees the departments they oversee; HR and admins see all of them.
Rates with nothing to measure are null (not applicable), never 0.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from payroll.aggregation import completed_within
from payroll.money import money
from payroll.periods import Period
from payroll.schemes import METRICS, PARAMETERS
from services.errors import NotFound
from services.identity.access import may_see_task
from services.identity.actor import Actor
from services.notify import follow_ups
from services.pay.kpi import latest_scheme_row, scheme_rows
from services.persistence.models import (
    Department,
    Employee,
    PayrollLine,
    PayrollRun,
    Task,
    TaskEvent,
    utcnow,
)
from services.persistence.unit_of_work import UnitOfWork
from services.reporting import reports
from services.reporting.org_queries import latest_duties
from services.reporting.rates import rate

TREND_WEEKS = 10


def scope(actor: Actor) -> frozenset[str] | None:
    """Departments whose figures this person may see on the dashboard; None means all."""
    actor.require("manager", "hr", "admin")
    return None if actor.has("hr", "admin") else actor.overseen


def department_rates(uow: UnitOfWork, actor: Actor, period: Period) -> list[dict[str, Any]]:
    """The department ranking, limited to the caller's departments and ranked among them."""
    departments = scope(actor)
    rows = [row for row in reports.department_ranking(uow, actor, period)
            if departments is None or row["department"] in departments]
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def person_rates(uow: UnitOfWork, actor: Actor, period: Period) -> list[dict[str, Any]]:
    """Per active employee of the caller's departments: completions and on-time rate."""
    departments = scope(actor)
    people = select(Employee).where(Employee.active)
    if departments is not None:
        people = people.where(Employee.department_key.in_(departments))
    employees = list(uow.session.scalars(people.order_by(Employee.department_key,
                                                         Employee.username)))
    usernames = [employee.username for employee in employees]
    figures = {username: (count, on_time, with_due)
               for username, count, on_time, with_due in uow.session.execute(
                   select(TaskEvent.completed_by, func.count(), *reports.ON_TIME_COUNTS)
                   .where(completed_within(TaskEvent.__table__, period.start, period.end),
                          TaskEvent.completed_by.in_(usernames))
                   .group_by(TaskEvent.completed_by))} if usernames else {}
    out = []
    for employee in employees:
        count, on_time, with_due = figures.get(employee.username, (0, 0, 0))
        out.append({"username": employee.username, "name": employee.name,
                    "department": employee.department_key, "completed": int(count or 0),
                    "with_due": int(with_due or 0),
                    "on_time_rate": rate(on_time, with_due)})
    return out


def overdue_tasks(uow: UnitOfWork, actor: Actor, now: dt.datetime | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """Ready tasks of the caller's departments whose deadline has passed, oldest first, each
    with its escalations so far (level, the department whose head was told, who, when)."""
    departments = scope(actor)
    now = now or utcnow()
    statement = select(Task).where(Task.overdue(now))
    if departments is not None:
        statement = statement.where(Task.department_key.in_(departments))
    rows = list(uow.session.scalars(statement.order_by(Task.due_at, Task.id).limit(limit)))
    escalated = follow_ups.escalations_of(uow, [task.id for task in rows])
    return [{"id": task.id, "name": task.name, "element_id": task.element_id,
             "process_key": task.process_key, "process_instance_id": task.process_instance_id,
             "department": task.department_key, "lane": task.lane, "assignee": task.assignee,
             "due_at": task.due_at, "late_by": now - task.due_at,
             "may_open": may_see_task(actor, task),
             "escalations": [follow_ups.escalation_view(escalation)
                             for escalation in escalated[task.id]]} for task in rows]


def trend_window(period: Period, weeks: int = TREND_WEEKS,
                 now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """`weeks` whole weeks (Monday to Sunday, in the period's time zone) ending with the
    period's last week, or with this week when the period is still running."""
    now = now or utcnow()
    end = period.end if period.end <= now else now
    end = end.astimezone(ZoneInfo(period.timezone))
    last_day = (end - dt.timedelta(microseconds=1)).date()
    last_monday = last_day - dt.timedelta(days=last_day.weekday())
    return last_monday - dt.timedelta(weeks=weeks - 1), last_monday + dt.timedelta(days=7)


def weekly_trend(uow: UnitOfWork, actor: Actor, period: Period, weeks: int = TREND_WEEKS,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """Completions and on-time rate per department and week, one series per department
    with completions in the window; weeks without completions count 0 and rate null."""
    departments = scope(actor)
    start, end = trend_window(period, weeks, now)
    mondays = [start + dt.timedelta(weeks=index) for index in range(weeks)]
    labels = [monday.isoformat() for monday in mondays]
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for row in reports.trend(uow, actor, start, end, "week", period.timezone):
        if departments is None or row["department"] in departments:
            cells.setdefault(row["department"], {})[row["bucket"]] = row
    names = dict(uow.session.execute(select(Department.key, Department.name)).all())
    series = []
    for key in sorted(cells, key=lambda k: (k is None, k or "")):
        by_week = cells[key]
        series.append({"department": key, "name": names.get(key, key or "-"),
                       "completed": [by_week[label]["completed"] if label in by_week else 0
                                     for label in labels],
                       "on_time_rate": [by_week[label]["on_time_rate"] if label in by_week else None
                                        for label in labels]})
    return {"from": start, "to": end, "until": end - dt.timedelta(days=1), "weeks": mondays,
            "timezone": period.timezone, "series": series}


def payroll_run_list(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Every payroll run, newest period first, with the sums of its rounded lines."""
    actor.require("hr", "admin")
    sums = (select(PayrollLine.run_id, func.count().label("employees"),
                   func.sum(PayrollLine.base_salary).label("base_salary"),
                   func.sum(PayrollLine.bonus).label("bonus"),
                   func.sum(PayrollLine.adjustments).label("adjustments"),
                   func.sum(PayrollLine.gross).label("gross"))
            .group_by(PayrollLine.run_id).subquery())
    rows = uow.session.execute(
        select(PayrollRun, sums.c.employees, sums.c.base_salary, sums.c.bonus, sums.c.adjustments,
               sums.c.gross)
        .outerjoin(sums, sums.c.run_id == PayrollRun.id)
        .order_by(PayrollRun.period.desc(), PayrollRun.id.desc()))
    return [{"id": run.id, "period": run.period, "status": run.status,
             "created_at": run.created_at, "created_by": run.created_by,
             "calculated_at": run.calculated_at, "finalized_at": run.finalized_at,
             "finalized_by": run.finalized_by, "employees": int(employees or 0),
             "base_salary": money(Decimal(base or 0)), "bonus": money(Decimal(bonus or 0)),
             "adjustments": money(Decimal(adjustments or 0)), "gross": money(Decimal(gross or 0))}
            for run, employees, base, bonus, adjustments, gross in rows]


def employee_names(uow: UnitOfWork, usernames: list[str] | None = None) -> dict[str, str]:
    statement = select(Employee.username, Employee.name)
    if usernames is not None:
        statement = statement.where(Employee.username.in_(usernames))
    return dict(uow.session.execute(statement).all())


def scheme_overview(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """Each active department with the version of its latest KPI scheme (None: no scheme)."""
    actor.require("hr", "admin")
    latest = scheme_rows(uow)
    out = []
    for department in uow.session.scalars(select(Department).where(Department.active)
                                          .order_by(Department.key)):
        row = latest.get(department.key)
        out.append({"key": department.key, "name": department.name,
                    "version": row.version if row else None,
                    "created_at": row.created_at if row else None,
                    "created_by": row.created_by if row else None,
                    "indicators": len(row.document.get("indicators", [])) if row else 0})
    return out


def scheme_for_editing(uow: UnitOfWork, actor: Actor, department_key: str) -> dict[str, Any]:
    """A department, its latest scheme (or None) and the duties its indicators may name."""
    actor.require("hr", "admin")
    department = uow.session.scalars(select(Department).where(
        Department.key == department_key)).first()
    if department is None:
        raise NotFound(f"no department {department_key!r}")
    row = latest_scheme_row(uow, department_key)
    return {"department": {"key": department.key, "name": department.name},
            "scheme": None if row is None else {
                "version": row.version, "created_at": row.created_at,
                "created_by": row.created_by, "document": row.document},
            "duties": department_duties(uow, department_key)}


def department_duties(uow: UnitOfWork, department_key: str) -> list[dict[str, Any]]:
    """User tasks of the latest deployed processes that this department owns, with form fields."""
    return [{"process_key": model.key, "task": duty.element_id, "name": duty.name,
             "fields": [field["id"] for field in duty.form.as_dict()["fields"]]}
            for model, duty, owners in latest_duties(uow) if department_key in owners]


def metric_catalogue() -> list[dict[str, Any]]:
    """The metrics a scheme may use and the parameters each takes."""
    return [{"name": metric.name, "higher_is_better": metric.higher_is_better,
             "required": list(metric.required), "optional": list(metric.optional),
             "parameters": [name for name in PARAMETERS
                            if name in metric.required or name in metric.optional]}
            for metric in METRICS.values()]
