"""My performance: each employee's own KPI for a month, computed as payroll computes it.

The figures come from `payroll_runs.bonuses`, the function a payroll run calls, over the
same roster (the org as it stood at the period's end) and the same scheme versions (the
run's, once the month has a run; else the newest in effect): a month's page and its run
agree by construction, not by a second implementation kept in step.

"If I complete my open work" is computed by the same function as well: in a transaction
that is always rolled back, each ready task the employee holds is completed now (an
event as a completion writes it, with an empty form: field rates count it as not
matching) and the month is measured again. A task already overdue counts late.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from payroll.periods import Period
from services.errors import NotFound
from services.identity.actor import Actor
from services.org.roster import payees_at
from services.pay.kpi import parse_period, scheme_rows
from services.pay.payroll_runs import Bonus, bonuses
from services.pay.payslips import counted_evidence
from services.persistence import step_store
from services.persistence.models import (Employee, PayrollLine, PayrollRun, ProcessInstance, Task,
                                         utcnow)
from services.persistence.statuses import RunStatus, TaskStatus
from services.persistence.unit_of_work import Store, UnitOfWork
from services.workflow.events import completion_event
from services.workflow.views import iso


def my_kpi(store: Store, actor: Actor, period_text: str | None, timezone: str,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """The signed-in employee's KPI for `period_text` (default: this month), with the events
    that count, the projection for their open work (this month only) and their payslips."""
    now = now or utcnow()
    period = parse_period(period_text, timezone) if period_text else Period.of(now, timezone)
    with store.reading() as uow:
        person, run, rows = _basis(uow, actor, period)
        result = bonuses(uow, period, rows, {actor.username: person}, None)[actor.username]
        line = SimpleNamespace(indicators=result.indicators, department_key=person.department_key)
        evidence = counted_evidence(uow, actor.username, period, line)
        open_tasks = _open_tasks(uow, actor)
        payslips = _final_payslips(uow, actor)
    projected = None
    if open_tasks and period.start <= now < period.end:
        projected = _if_completed(store, actor, period, person, rows, open_tasks, now)
    return {"username": actor.username, "period": str(period),
            "department": person.department_key,
            "scheme_version": rows[person.department_key].version
            if person.department_key in rows else None,
            "run": {"id": run.id, "status": run.status} if run else None,
            **_figures(result), "events": evidence,
            "open_tasks": [{"id": task.id, "name": task.name, "process_key": task.process_key,
                            "process_instance_id": task.process_instance_id,
                            "due_at": iso(task.due_at),
                            "overdue": task.due_at is not None and task.due_at < now}
                           for task in open_tasks],
            "if_open_work_completed": _figures(projected) if projected else None,
            "payslips": payslips}


def _figures(result: Bonus) -> dict[str, Any]:
    return {"kpi_score": str(result.kpi_score), "indicators": result.indicators,
            "flags": result.flags}


def _basis(uow: UnitOfWork, actor: Actor, period: Period):
    """(the person as payroll sees them that month, the month's run or None, the schemes)."""
    person = next((payee for payee in payees_at(uow, period.end)
                   if payee.username == actor.username), None)
    if person is None:  # joined after the month, or left: today's row, as payroll lists it
        person = uow.session.scalars(select(Employee).where(
            Employee.username == actor.username)).first()
        if person is None:
            raise NotFound(f"{actor.username} is not an employee")
    run = uow.session.scalars(select(PayrollRun).where(PayrollRun.period == str(period))).first()
    # A final run's schemes; a draft is recalculated with the newest in effect, as here.
    rows = scheme_rows(uow, run.scheme_versions) if run and run.status == RunStatus.FINAL \
        else scheme_rows(uow, period=period)
    return person, run, rows


def _open_tasks(uow: UnitOfWork, actor: Actor) -> list[Task]:
    """The ready tasks the employee holds (assigned or claimed), oldest due first."""
    return list(uow.session.scalars(select(Task).where(
        Task.assignee == actor.username, Task.status == TaskStatus.READY)
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)))


def _if_completed(store: Store, actor: Actor, period: Period, person, rows,
                  open_tasks: list[Task], now: dt.datetime) -> Bonus:
    """The month measured as if each open task were completed now; never committed."""
    with store.writing() as uow:
        versions = dict(uow.session.execute(
            select(ProcessInstance.id, ProcessInstance.process_version).where(
                ProcessInstance.id.in_({task.process_instance_id for task in open_tasks}))).all())
        for task in open_tasks:
            row = SimpleNamespace(**{column.key: getattr(task, column.key)
                                     for column in Task.__table__.columns},
                                  process_version=versions[task.process_instance_id])
            step_store.close_task(uow, task.id, actor.username, now)
            step_store.append_event(uow, completion_event(row, actor, {}, now))
        try:
            return bonuses(uow, period, rows, {actor.username: person}, None)[actor.username]
        finally:
            uow.session.rollback()


def _final_payslips(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """The employee's lines in final runs, newest month first (drafts are HR's until final)."""
    rows = uow.session.execute(
        select(PayrollRun.id, PayrollRun.period, PayrollLine.kpi_score, PayrollLine.gross)
        .join(PayrollLine, PayrollLine.run_id == PayrollRun.id)
        .where(PayrollRun.status == RunStatus.FINAL, PayrollLine.username == actor.username)
        .order_by(PayrollRun.period.desc()))
    return [{"run_id": run_id, "period": period, "kpi_score": str(score), "gross": str(gross)}
            for run_id, period, score, gross in rows]
