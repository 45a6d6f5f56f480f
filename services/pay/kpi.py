"""KPI schemes per department (versioned) and the KPI report for a period."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from payroll.aggregation import measure
from payroll.periods import Period, PeriodError
from payroll.schemes import Scheme, SchemeError, parse_scheme
from payroll.scoring import score_kpi
from services.errors import InvalidInput, NotFound
from services.identity import audit
from services.identity.actor import Actor
from services.org.roster import payees_at
from services.persistence.models import Department, KpiScheme, Task, TaskEvent
from services.persistence.unit_of_work import UnitOfWork


def parse_period(text: str, timezone: str) -> Period:
    try:
        return Period.parse(text, timezone)
    except PeriodError as err:
        raise InvalidInput(str(err), {"period": [str(err)]}) from None


def set_scheme(uow: UnitOfWork, actor: Actor, department_key: str, document: Any) -> KpiScheme:
    """Store a new version when the scheme changed; identical content keeps the version."""
    actor.require("hr", "admin")
    if uow.session.scalars(select(Department).where(Department.key == department_key)).first() is None:
        raise NotFound(f"no department {department_key!r}")
    try:
        scheme = parse_scheme(document)
    except SchemeError as err:
        raise InvalidInput(f"the KPI scheme is invalid: {err}", err.errors) from None
    current = latest_scheme_row(uow, department_key)
    if current is not None and current.document == scheme.as_dict():
        return current
    row = KpiScheme(department_key=department_key, version=(current.version + 1) if current else 1,
                    document=scheme.as_dict(), created_by=actor.username)
    uow.session.add(row)
    audit.record(uow, actor.username, "kpi_scheme", department_key, f"version {row.version}",
                 current.document if current else None, row.document)
    uow.commit()
    return row


def latest_scheme_row(uow: UnitOfWork, department_key: str) -> KpiScheme | None:
    return uow.session.scalars(select(KpiScheme).where(KpiScheme.department_key == department_key)
                               .order_by(KpiScheme.version.desc()).limit(1)).first()


def scheme_rows(uow: UnitOfWork, versions: dict[str, int] | None = None,
                period: Period | None = None) -> dict[str, KpiScheme]:
    """The scheme of each department: the given `versions`; else, for `period`, the newest
    version in effect for it (see Scheme.effective_from); else the newest version."""
    rows = uow.session.scalars(select(KpiScheme).order_by(KpiScheme.version)).all()
    if versions is not None:
        return {row.department_key: row for row in rows
                if versions.get(row.department_key) == row.version}
    chosen = {}
    for row in rows:  # by ascending version: a newer one in effect replaces an older
        start = row.document.get("effective_from")
        if period is None or start is None or start <= str(period):
            chosen[row.department_key] = row
    return chosen


def get_scheme(uow: UnitOfWork, actor: Actor, department_key: str) -> KpiScheme:
    actor.require("hr", "admin")
    row = latest_scheme_row(uow, department_key)
    if row is None:
        raise NotFound(f"department {department_key!r} has no KPI scheme")
    return row


def scheme_view(row: KpiScheme) -> dict[str, Any]:
    return {"department": row.department_key, "version": row.version, **row.document,
            "created_at": row.created_at.isoformat(), "created_by": row.created_by}


def measure_period(uow: UnitOfWork, period: Period, schemes: dict[str, Scheme],
                   usernames: list[str] | None = None):
    indicators = [indicator for scheme in schemes.values() for indicator in scheme.indicators]
    return measure(uow.connection(), TaskEvent.__table__, Task.__table__, period,
                   indicators, usernames)


def kpi_report(uow: UnitOfWork, actor: Actor, period: Period,
               department_key: str | None) -> list[dict[str, Any]]:
    actor.require("hr", "admin")
    rows = scheme_rows(uow, period=period)
    schemes = {key: parse_scheme(row.document) for key, row in rows.items()}
    employees = payees_at(uow, period.end, department_key)
    actuals = measure_period(uow, period, schemes)
    report = []
    for employee in employees:
        scheme = schemes.get(employee.department_key)
        entry: dict[str, Any] = {"username": employee.username, "name": employee.name,
                                 "department": employee.department_key}
        if scheme is None:
            entry.update(scheme_version=None, kpi_score="0.0000", indicators=[],
                         flags=["no_scheme"])
        else:
            result = score_kpi(scheme, actuals.get(employee.username, {}))
            entry.update(scheme_version=rows[employee.department_key].version,
                         kpi_score=str(result.kpi_score),
                         indicators=[r.as_dict() for r in result.indicators], flags=list(result.flags))
        report.append(entry)
    return report
