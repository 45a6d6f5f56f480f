"""A payslip with its evidence: every completion behind every figure."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from payroll.aggregation import completed_within
from services.errors import NotFound, PermissionDenied
from services.identity.actor import Actor
from services.notify import follow_ups
from services.pay.kpi import parse_period
from services.pay.payroll_runs import adjustments_for, line_view, load_run
from services.persistence.models import PayrollLine, PayrollRun, TaskEvent
from services.persistence.statuses import RunStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.corrections import corrected_data
from services.workflow.views import iso


def payslip(uow: UnitOfWork, actor: Actor, run_id: int, username: str, timezone: str,
            page: tuple[int, int] | None = None) -> dict[str, Any]:
    """The line, its indicators, adjustments and evidence.

    Without `page` the evidence lists every completion (the API's payslip). With
    `page=(limit, offset)` it holds one page of the employee's own department's
    completions (a screen), `other_departments` the first `limit` done for others, and
    `evidence_total` / `other_total` count them all.
    """
    if actor.username != username and not actor.has("hr", "admin"):
        raise PermissionDenied("payslips are for HR, admins and the employee themself")
    run = load_run(uow, run_id)
    line = uow.session.scalars(select(PayrollLine).where(
        PayrollLine.run_id == run.id, PayrollLine.username == username)).first()
    if line is None:
        raise NotFound(f"run {run_id} has no line for {username!r}")
    period = parse_period(run.period, timezone)
    mine = completions_of(username, period)
    ordered = (TaskEvent.completed_at, TaskEvent.id)
    if page is None:
        evidence = _rows(uow, mine.order_by(*ordered), line)
        others = [item for item in evidence if item["for_other_department"]]
        totals = {"evidence_total": len(evidence), "other_total": len(others)}
    else:
        limit, offset = page
        own = mine.where(TaskEvent.department_key == line.department_key)
        other = mine.where(or_(TaskEvent.department_key.is_(None),
                               TaskEvent.department_key != line.department_key))
        evidence = _rows(uow, own.order_by(*ordered).limit(limit).offset(offset), line)
        others = _rows(uow, other.order_by(*ordered).limit(limit), line)
        totals = {"evidence_total": _count(uow, own), "other_total": _count(uow, other)}
    return {"run": {"id": run.id, "period": run.period, "status": run.status},
            "line": line_view(line), "bonus_base": str(line.bonus_base),
            "indicators": line.indicators,
            "evidence": evidence, **totals,
            "other_departments": others,
            "adjustments": [{"amount": str(a.amount), "source_period": a.source_period,
                             "reason": a.reason} for a in adjustments_for(uow, run, username)]}


def _rows(uow: UnitOfWork, statement, line: Any) -> list[dict[str, Any]]:
    """Evidence rows of the events `statement` selects, each with the indicators it counts
    for; `line` is a payroll line or anything with its `indicators` and `department_key`."""
    events = uow.session.scalars(statement).all()
    corrections = corrected_data(uow, [event.id for event in events])
    escalated = follow_ups.escalations_of(uow, [event.task_id for event in events
                                                if event.escalated])
    return [{**_evidence(event, corrections.get(event.id), line),
             "escalations": [{**follow_ups.escalation_view(escalation),
                              "at": iso(escalation.at)}
                             for escalation in escalated.get(event.task_id, ())]}
            for event in events]


def _count(uow: UnitOfWork, statement) -> int:
    return uow.session.scalar(select(func.count()).select_from(statement.subquery()))


def evidence_row(event: TaskEvent, corrected: dict[str, Any] | None) -> dict[str, Any]:
    """One completion as evidence: when, against which deadline, with what (corrected) data."""
    data = dict(corrected if corrected is not None else event.data)
    return {"event_id": event.id, "process_instance_id": event.process_instance_id,
            "process_key": event.process_key, "task_id": event.task_id,
            "task": event.element_id, "name": event.task_name,
            "department": event.department_key, "ready_at": iso(event.ready_at),
            "completed_at": iso(event.completed_at), "due_at": iso(event.due_at),
            "on_time": event.on_time, "escalated": event.escalated,
            "data": data, "corrected": data != event.data}


def completions_of(username: str, period) -> Any:
    """The statement selecting a person's completions that count for `period`."""
    return select(TaskEvent).where(completed_within(TaskEvent.__table__, period.start, period.end),
                                   TaskEvent.completed_by == username)


def counted_evidence(uow: UnitOfWork, username: str, period, line: Any) -> list[dict[str, Any]]:
    """Every completion of `username` in `period`, as on the payslip (see _rows)."""
    return _rows(uow, completions_of(username, period)
                 .order_by(TaskEvent.completed_at, TaskEvent.id), line)


def _evidence(event: TaskEvent, corrected: dict[str, Any] | None, line: Any) -> dict[str, Any]:
    counts_for = []
    for indicator in line.indicators:
        metric = indicator["metric"]
        if metric == "completed_count" and indicator.get("task") not in (None, event.element_id):
            continue
        if metric == "completed_count" and indicator.get("process_key") not in (None, event.process_key):
            continue
        if metric == "field_rate" and indicator.get("task") != event.element_id:
            continue
        if metric == "on_time_rate" and event.on_time is None:
            continue
        if metric == "completion_rate":
            continue
        counts_for.append(indicator["key"])
    return {**evidence_row(event, corrected), "counts_for": counts_for,
            "for_other_department": event.department_key != line.department_key}


def my_payslips(uow: UnitOfWork, actor: Actor) -> list[dict[str, Any]]:
    """The signed-in person's payslips of final runs, newest period first."""
    rows = uow.session.execute(
        select(PayrollRun.id, PayrollRun.period, PayrollRun.finalized_at, PayrollLine.gross)
        .join(PayrollLine, PayrollLine.run_id == PayrollRun.id)
        .where(PayrollLine.username == actor.username, PayrollRun.status == RunStatus.FINAL)
        .order_by(PayrollRun.period.desc(), PayrollRun.id.desc())).all()
    return [{"run_id": row.id, "period": row.period, "finalized_at": row.finalized_at,
             "gross": str(row.gross)} for row in rows]
