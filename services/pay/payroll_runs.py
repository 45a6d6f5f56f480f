"""Payroll runs: calculate a period's pay from KPI scores, review, finalise, export.

A draft can be recalculated at will (same inputs, same lines). A final run is
frozen: any change is refused with Conflict. Corrections that touch a finalised
period never reopen it; the difference lands as an adjustment line, with its reason,
in the next run that is calculated.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import delete, func, select

from payroll.money import money
from payroll.periods import Period
from payroll.schemes import parse_scheme
from payroll.scoring import ZERO_SCORE, score_kpi
from payroll.scoring import bonus as bonus_for
from services.errors import N_, Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity import audit
from services.identity.actor import Actor
from services.notify import events as notify_events
from services.org.roster import payees_at
from services.pay.kpi import measure_period, parse_period, scheme_rows
from services.persistence.bulk import insert_rows
from services.persistence.models import (
    Employee,
    KpiScheme,
    PayrollAdjustment,
    PayrollLine,
    PayrollRun,
    TaskEvent,
    utcnow,
)
from payroll.ledger import EventKind
from services.persistence.statuses import RunStatus
from services.persistence.unit_of_work import UnitOfWork

Progress = Callable[[int, int], None]
ZERO = Decimal("0.00")
MONEY_COLUMNS = ("base_salary", "bonus", "adjustments", "gross")


@dataclass(frozen=True)
class Bonus:
    kpi_score: Decimal
    bonus: Decimal
    indicators: list[dict[str, Any]]
    flags: list[str]


def create_run(uow: UnitOfWork, actor: Actor, period_text: str, timezone: str,
               progress: Progress | None = None) -> PayrollRun:
    actor.require("hr", "admin")
    period = parse_period(period_text, timezone)
    existing = uow.session.scalars(select(PayrollRun).where(PayrollRun.period == str(period))).first()
    if existing is not None:
        raise Conflict(text=N_("period %(period)s already has run %(run)s (%(status)s); "
                               "recalculate that draft instead"),
                       params={"period": period, "run": existing.id, "status": existing.status})
    run = PayrollRun(period=str(period), status=RunStatus.DRAFT, created_by=actor.username)
    _prepared(run, actor)
    uow.session.add(run)
    uow.flush()
    _calculate(uow, run, period, progress)
    audit.record(uow, actor.username, "payroll_run", str(run.id), "created", None,
                 {"period": run.period, "status": run.status})
    uow.commit()
    return run


def recalculate(uow: UnitOfWork, actor: Actor, run_id: int, timezone: str) -> PayrollRun:
    actor.require("hr", "admin")
    run = _run_for_change(uow, run_id)
    before = totals(uow, run)
    after = _calculate(uow, run, parse_period(run.period, timezone), None)
    run.calculated_at = utcnow()
    if run.approved_by is not None:
        after = {**after, "approval_cleared": run.approved_by}
    _prepared(run, actor)
    audit.record(uow, actor.username, "payroll_run", str(run.id), "recalculated", before, after)
    uow.commit()
    return run


def _prepared(run: PayrollRun, actor: Actor) -> None:
    """`actor` calculated the run: what anyone approved or rejected before no longer holds."""
    run.prepared_by, run.prepared_at = actor.username, utcnow()
    run.approved_by = run.approved_at = None
    run.rejected_by = run.rejected_at = run.rejection_reason = None


def approve(uow: UnitOfWork, actor: Actor, run_id: int) -> PayrollRun:
    """Four eyes: someone other than whoever prepared the draft approves it for finalising."""
    run = _reviewable(uow, actor, run_id)
    if run.approved_by is not None:
        raise Conflict(text=N_("payroll run %(run)s is already approved by %(user)s"),
                       params={"run": run_id, "user": run.approved_by})
    before = _review_state(run)
    run.approved_by, run.approved_at = actor.username, utcnow()
    run.rejected_by = run.rejected_at = run.rejection_reason = None
    audit.record(uow, actor.username, "payroll_run", str(run.id), "approved", before,
                 _review_state(run))
    uow.commit()
    return run


def reject(uow: UnitOfWork, actor: Actor, run_id: int, reason: str) -> PayrollRun:
    """Four eyes: someone other than the preparer sends the draft back, saying why; it
    cannot be finalised until it is approved (after a recalculation, or by another look)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(errors={"reason": ["Must not be blank."]},
                           text=N_("say why the run is rejected"))
    run = _reviewable(uow, actor, run_id)
    before = _review_state(run)
    run.rejected_by, run.rejected_at, run.rejection_reason = actor.username, utcnow(), reason
    run.approved_by = run.approved_at = None
    audit.record(uow, actor.username, "payroll_run", str(run.id), "rejected", before,
                 _review_state(run))
    uow.commit()
    return run


def _reviewable(uow: UnitOfWork, actor: Actor, run_id: int) -> PayrollRun:
    actor.require("hr", "admin")
    run = _run_for_change(uow, run_id)
    if run.prepared_by == actor.username:
        raise PermissionDenied(text=N_("you prepared payroll run %(run)s: another HR user must "
                                       "approve or reject it"), params={"run": run_id})
    return run


def _review_state(run: PayrollRun) -> dict[str, Any]:
    return {"prepared_by": run.prepared_by, "approved_by": run.approved_by,
            "rejected_by": run.rejected_by, "rejection_reason": run.rejection_reason}


def finalize(uow: UnitOfWork, actor: Actor, run_id: int) -> PayrollRun:
    actor.require("hr", "admin")
    run = _run_for_change(uow, run_id)
    if run.approved_by is None:
        raise Conflict(text=N_("payroll run %(run)s is not approved: someone other than %(user)s "
                               "must approve it before it is finalised"),
                       params={"run": run_id, "user": run.prepared_by or "its preparer"})
    run.status, run.finalized_at, run.finalized_by = RunStatus.FINAL, utcnow(), actor.username
    audit.record(uow, actor.username, "payroll_run", str(run.id), "finalized",
                 {"status": RunStatus.DRAFT}, {"status": RunStatus.FINAL})
    notify_events.payslips_ready(uow, run.id, run.period, uow.session.scalars(
        select(PayrollLine.username).where(PayrollLine.run_id == run.id)), run.finalized_at)
    uow.commit()
    return run


def get_run(uow: UnitOfWork, actor: Actor, run_id: int) -> PayrollRun:
    actor.require("hr", "admin")
    return load_run(uow, run_id)


def load_run(uow: UnitOfWork, run_id: int) -> PayrollRun:
    run = uow.session.get(PayrollRun, run_id)
    if run is None:
        raise NotFound(text=N_("no payroll run %(run)s"), params={"run": run_id})
    return run


def _run_for_change(uow: UnitOfWork, run_id: int) -> PayrollRun:
    run = load_run(uow, run_id)
    if run.status != RunStatus.DRAFT:
        raise Conflict(text=N_("payroll run %(run)s is final and can no longer change"),
                       params={"run": run_id})
    return run


def _calculate(uow: UnitOfWork, run: PayrollRun, period: Period,
               progress: Progress | None) -> dict[str, str]:
    """Write the run's lines and adjustments afresh; returns their totals."""
    uow.session.execute(delete(PayrollLine).where(PayrollLine.run_id == run.id))
    uow.session.execute(delete(PayrollAdjustment).where(PayrollAdjustment.run_id == run.id))
    rows = scheme_rows(uow, period=period)
    run.scheme_versions = {key: row.version for key, row in rows.items()}
    employees = payees_at(uow, period.end)
    scored = bonuses(uow, period, rows, {e.username: e for e in employees}, progress)
    adjustments = _adjustments(uow, run, period)
    for adjustment in adjustments:
        uow.session.add(adjustment)
    owed: dict[str, Decimal] = {}
    for adjustment in adjustments:
        owed[adjustment.username] = owed.get(adjustment.username, ZERO) + adjustment.amount
    line_rows = []
    for employee in employees:
        result = scored[employee.username]
        base = money(employee.base_salary)
        extra = money(owed.get(employee.username, ZERO))
        line_rows.append(dict(
            run_id=run.id, username=employee.username, department_key=employee.department_key,
            scheme_version=run.scheme_versions.get(employee.department_key),
            base_salary=base, bonus_base=money(employee.bonus_base), kpi_score=result.kpi_score,
            bonus=result.bonus, adjustments=extra, gross=base + result.bonus + extra,
            indicators=result.indicators, flags=result.flags))
    line_rows += _settlements(uow, run, {username: amount for username, amount in owed.items()
                                         if username not in scored})
    insert_rows(uow, PayrollLine.__table__, line_rows)  # a line per employee: no objects needed
    uow.flush()
    return _totals([[row[name] for name in MONEY_COLUMNS] for row in line_rows])


def _settlements(uow: UnitOfWork, run: PayrollRun, owed: dict[str, Decimal]) -> list[dict]:
    """Lines paying only adjustments, to people no longer on the payroll: a correction to a
    month they worked is owed to (or by) them all the same, and a run's totals must carry it."""
    if not owed:
        return []
    departments = dict(uow.session.execute(select(Employee.username, Employee.department_key)
                                           .where(Employee.username.in_(owed))).all())
    return [dict(run_id=run.id, username=username, department_key=departments.get(username, ""),
                 scheme_version=None, base_salary=ZERO, bonus_base=ZERO,
                 kpi_score=ZERO_SCORE, bonus=ZERO, adjustments=money(amount),
                 gross=money(amount), indicators=[], flags=["adjustments_only"])
            for username, amount in sorted(owed.items())]


def bonuses(uow: UnitOfWork, period: Period, rows: dict[str, KpiScheme],
             people: dict[str, Any], progress: Progress | None) -> dict[str, Bonus]:
    """KPI score and bonus per person under the departments' scheme `rows`; `people` maps
    username -> object with department_key and bonus_base (an employee's row, or a past line).
    The one scoring path: runs, adjustments and each person's own KPI page use it."""
    schemes = {key: parse_scheme(row.document) for key, row in rows.items()}
    actuals = measure_period(uow, period, schemes)
    out = {}
    for done, (username, person) in enumerate(people.items(), 1):
        scheme = schemes.get(person.department_key)
        if scheme is None:
            out[username] = Bonus(ZERO_SCORE, ZERO, [], ["no_scheme"])
        else:
            result = score_kpi(scheme, actuals.get(username, {}))
            out[username] = Bonus(result.kpi_score, bonus_for(person.bonus_base, result.kpi_score),
                                   [r.as_dict() for r in result.indicators], list(result.flags))
        if progress:
            progress(done, len(people))
    return out


def _adjustments(uow: UnitOfWork, run: PayrollRun, period: Period) -> list[PayrollAdjustment]:
    """What corrections since each earlier final run changed, less what was already settled."""
    out = []
    finals = uow.session.scalars(select(PayrollRun).where(
        PayrollRun.status == RunStatus.FINAL, PayrollRun.period < run.period)
        .order_by(PayrollRun.period)).all()
    for final in finals:
        past = Period.parse(final.period, period.timezone)
        corrections = uow.session.scalars(select(TaskEvent).where(
            TaskEvent.kind == EventKind.CORRECTION, TaskEvent.completed_at >= past.start,
            TaskEvent.completed_at < past.end, TaskEvent.recorded_at > final.finalized_at)
            .order_by(TaskEvent.id)).all()
        if not corrections:
            continue
        lines = {line.username: line for line in uow.session.scalars(
            select(PayrollLine).where(PayrollLine.run_id == final.id))}
        now = bonuses(uow, past, scheme_rows(uow, final.scheme_versions), lines, None)
        settled = dict(uow.session.execute(
            select(PayrollAdjustment.username, func.sum(PayrollAdjustment.amount))
            .join(PayrollRun, PayrollRun.id == PayrollAdjustment.run_id)
            .where(PayrollRun.status == RunStatus.FINAL,
                   PayrollAdjustment.source_period == final.period)
            .group_by(PayrollAdjustment.username)).all())
        for username, line in lines.items():
            delta = now[username].bonus - line.bonus - money(settled.get(username) or ZERO)
            if delta == 0:
                continue
            reasons = "; ".join(f"event #{c.corrects_event_id} corrected by {c.recorded_by}: {c.reason}"
                                for c in corrections if c.completed_by == username)
            out.append(PayrollAdjustment(
                run_id=run.id, username=username, source_period=final.period, amount=money(delta),
                reason=f"corrections to {final.period} (finalised run {final.id}): {reasons}"))
    return out


def lines(uow: UnitOfWork, run: PayrollRun) -> list[PayrollLine]:
    return list(uow.session.scalars(select(PayrollLine).where(PayrollLine.run_id == run.id)
                                    .order_by(PayrollLine.department_key, PayrollLine.username)))


def totals(uow: UnitOfWork, run: PayrollRun) -> dict[str, str]:
    """The run's totals, from the money columns alone (whole lines would also decode
    every line's indicators)."""
    columns = [getattr(PayrollLine, name) for name in MONEY_COLUMNS]
    return _totals(uow.session.execute(select(*columns).where(PayrollLine.run_id == run.id)).all())


def _totals(amounts: list) -> dict[str, str]:
    """Sums of the rounded lines (never a re-rounded total), given each line's MONEY_COLUMNS;
    added up as Decimal here, as SQL sum() is floating point on SQLite."""
    sums = [sum(column, ZERO) for column in zip(*amounts)] or [ZERO] * len(MONEY_COLUMNS)
    return {"employees": len(amounts),
            **{name: str(money(value)) for name, value in zip(MONEY_COLUMNS, sums)}}


def line_view(line: PayrollLine) -> dict[str, Any]:
    return {"username": line.username, "department": line.department_key,
            "base_salary": str(line.base_salary), "kpi_score": str(line.kpi_score),
            "bonus": str(line.bonus), "adjustments": str(line.adjustments),
            "gross": str(line.gross), "scheme_version": line.scheme_version, "flags": line.flags}


def run_view(uow: UnitOfWork, run: PayrollRun) -> dict[str, Any]:
    return {"id": run.id, "period": run.period, "status": run.status,
            "scheme_versions": run.scheme_versions,
            "created_by": run.created_by, "finalized_at": run.finalized_at.isoformat()
            if run.finalized_at else None, "finalized_by": run.finalized_by,
            "prepared_by": run.prepared_by, "prepared_at": _iso(run.prepared_at),
            "approved_by": run.approved_by, "approved_at": _iso(run.approved_at),
            "rejected_by": run.rejected_by, "rejected_at": _iso(run.rejected_at),
            "rejection_reason": run.rejection_reason,
            "lines": [line_view(line) for line in lines(uow, run)], "totals": totals(uow, run)}


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def adjustments_for(uow: UnitOfWork, run: PayrollRun, username: str) -> list[PayrollAdjustment]:
    return list(uow.session.scalars(select(PayrollAdjustment).where(
        PayrollAdjustment.run_id == run.id, PayrollAdjustment.username == username)))

