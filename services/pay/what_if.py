"""What-if: a proposed KPI scheme scored on past months, beside what was paid (or would be).

Per employee of the department and period: the KPI score and bonus under the proposed
scheme, and the actual ones: the final run's line where the period has a final run (its
people, bonus bases and figures, to the cent), else the scheme then in force scored on the
org as it stood at the period's end, exactly as a draft run would. Both sides are scored by
payroll's own code (payroll.aggregation.measure through measure_period, payroll.scoring):
the events are aggregated in SQL once per period, for the indicators of both schemes at
once, then each scheme is scored in Python. Nothing is written.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Iterable, NamedTuple

from sqlalchemy import select

from payroll.money import money
from payroll.periods import Period
from payroll.schemes import Scheme, SchemeError, parse_scheme
from payroll.scoring import ZERO_SCORE, score_kpi
from payroll.scoring import bonus as bonus_for
from services.errors import InvalidInput, NotFound
from services.identity.actor import Actor
from services.org.roster import payees_at_each
from services.pay.kpi import measure_period, parse_period, scheme_rows
from services.persistence.models import Department, Employee, PayrollLine, PayrollRun
from services.persistence.statuses import RunStatus
from services.persistence.unit_of_work import Store, UnitOfWork

MAX_PERIODS = 36
# Periods aggregated at once, each on a connection of its own, while this thread scores
# those already read: one overlaps the SQL with the scoring; more pay only on a machine
# with cores to spare (bench/what_if.py on two busy cores was slower with two).
READERS = 1
BY_NAME_UP_TO = 200
ZERO = Decimal("0.00")
# Upper bounds (fractions of the actual bonus) of the buckets a change falls in; a change
# above the last bound, or any rise from a bonus of 0, is in the last bucket.
BUCKETS = ((Decimal("-0.20"), "< -20%"), (Decimal("-0.10"), "-20% .. -10%"),
           (Decimal("-0.05"), "-10% .. -5%"), (Decimal("0"), "-5% .. 0%"))
RISES = ((Decimal("0.05"), "0% .. +5%"), (Decimal("0.10"), "+5% .. +10%"),
         (Decimal("0.20"), "+10% .. +20%"))


class _Actual(NamedTuple):
    source: str  # final_run, scheme (then in force) or no_scheme
    bonus_base: Decimal
    kpi_score: Decimal
    bonus: Decimal
    run_id: int | None
    scheme_version: int | None


class _Month(NamedTuple):
    """One period to compare: who, what they got, and the scheme to score it by (when the
    period has no final run)."""

    period: Period
    actual: dict[str, _Actual]
    in_force: Scheme | None


def what_if(store: Store, actor: Actor, department_key: str, body: Any,
            timezone: str) -> dict[str, Any]:
    """The comparison for `body` = {"scheme": {...as PUT takes...}, "periods": [YYYY-MM...]}.

    The periods' events are aggregated in another thread, each period in a reading unit
    of work of its own (the database does that work, and sqlite3 and psycopg release the
    GIL meanwhile), while this thread scores the periods already read."""
    with store.reading() as uow:
        actor.require("hr", "admin")
        if uow.session.scalars(select(Department.key)
                               .where(Department.key == department_key)).first() is None:
            raise NotFound(f"no department {department_key!r}")
        proposed, periods = _read(body, timezone)
        months = _months(uow, department_key, periods)
        names = dict(uow.session.execute(select(Employee.username, Employee.name).where(
            Employee.username.in_({name for month in months for name in month.actual}))).all())

    def measured(month: _Month) -> dict[str, dict]:
        if not month.actual:
            return {}
        schemes = {"proposed": proposed, **({"in_force": month.in_force} if month.in_force else {})}
        # Named, a few people's events are read by the index on (completed_by, completed_at);
        # past a few hundred names that IN list costs more than reading the whole month.
        names = list(month.actual) if len(month.actual) <= BY_NAME_UP_TO else None
        with store.reading() as uow:
            return measure_period(uow, month.period, schemes, names)

    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for month, values in zip(months, pool.map(measured, months)):
            rows += _scored(month, proposed, values, names)
    return {"department": department_key, "periods": [str(period) for period in periods],
            "scheme": proposed.as_dict(), "rows": rows, **_summaries(rows)}


def _read(body: Any, timezone: str) -> tuple[Scheme, list[Period]]:
    if not isinstance(body, dict):
        raise InvalidInput("send {\"scheme\": {...}, \"periods\": [\"YYYY-MM\", ...]}",
                           {"_schema": ["Must be an object with scheme and periods."]})
    errors: dict[str, list[str]] = {}
    scheme = None
    try:
        scheme = parse_scheme(body.get("scheme"))
    except SchemeError as err:
        errors.update({f"scheme.{path}" if path != "_schema" else "scheme": messages
                       for path, messages in err.errors.items()})
    texts = body.get("periods")
    periods: list[Period] = []
    if not isinstance(texts, list) or not texts or len(texts) > MAX_PERIODS:
        errors["periods"] = [f"Must be a list of 1 to {MAX_PERIODS} periods YYYY-MM."]
    else:
        for index, text in enumerate(texts):
            try:
                periods.append(parse_period(text if isinstance(text, str) else "", timezone))
            except InvalidInput as err:
                errors[f"periods[{index}]"] = [str(err)]
    unknown = sorted(set(body) - {"scheme", "periods"})
    if unknown:
        errors.update({name: ["Unknown field."] for name in unknown})
    if errors:
        raise InvalidInput("the what-if request is invalid: " + "; ".join(
            f"{path}: {' '.join(messages)}" for path, messages in errors.items()), errors)
    return scheme, sorted(set(periods), key=str)


def _months(uow: UnitOfWork, department_key: str, periods: list[Period]) -> list[_Month]:
    """Who is compared in each period and what they got: the final run's lines of the
    department (people paid only adjustments left out), else the people as the org stood
    at the period's end with the scheme then in force (scored later), else no scheme."""
    finals = {run.period: run for run in uow.session.scalars(select(PayrollRun).where(
        PayrollRun.period.in_([str(period) for period in periods]),
        PayrollRun.status == RunStatus.FINAL))}
    open_periods = [period for period in periods if str(period) not in finals]
    payees = payees_at_each(uow, [period.end for period in open_periods], department_key)
    months = []
    for period in periods:
        final = finals.get(str(period))
        if final is not None:
            lines = uow.session.execute(select(
                PayrollLine.username, PayrollLine.bonus_base, PayrollLine.kpi_score,
                PayrollLine.bonus, PayrollLine.scheme_version, PayrollLine.flags)
                .where(PayrollLine.run_id == final.id,
                       PayrollLine.department_key == department_key)
                .order_by(PayrollLine.username)).all()
            months.append(_Month(period, {
                line.username: _Actual("final_run", money(line.bonus_base), line.kpi_score,
                                       money(line.bonus), final.id, line.scheme_version)
                for line in lines if "adjustments_only" not in (line.flags or [])}, None))
            continue
        row = scheme_rows(uow, period=period).get(department_key)
        source, version = ("scheme", row.version) if row is not None else ("no_scheme", None)
        months.append(_Month(period, {
            payee.username: _Actual(source, money(payee.bonus_base), ZERO_SCORE, ZERO, None,
                                    version)
            for payee in payees[period.end]},
            parse_scheme(row.document) if row is not None else None))
    return months


def _scored(month: _Month, proposed: Scheme, measured: dict[str, dict],
            names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for username, was in month.actual.items():
        values = measured.get(username, {})
        if month.in_force is not None:
            result = score_kpi(month.in_force, values)
            was = was._replace(kpi_score=result.kpi_score,
                               bonus=bonus_for(was.bonus_base, result.kpi_score))
        result = score_kpi(proposed, values)
        bonus = bonus_for(was.bonus_base, result.kpi_score)
        out.append({"period": str(month.period), "username": username,
                    "name": names.get(username, ""), "source": was.source,
                    "run_id": was.run_id, "scheme_version": was.scheme_version,
                    "bonus_base": str(was.bonus_base),
                    "actual_kpi_score": str(was.kpi_score), "actual_bonus": str(was.bonus),
                    "proposed_kpi_score": str(result.kpi_score), "proposed_bonus": str(bonus),
                    "kpi_score_delta": str(result.kpi_score - was.kpi_score),
                    "bonus_delta": str(bonus - was.bonus), "flags": list(result.flags)})
    return out


def _summaries(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals per period and overall, each employee's change over all the periods (winners
    and losers), and how many employees fall in each bucket of relative change."""
    by_period: dict[str, list[dict]] = {}
    by_employee: dict[str, list[dict]] = {}
    for row in rows:
        by_period.setdefault(row["period"], []).append(row)
        by_employee.setdefault(row["username"], []).append(row)
    employees = []
    for username, own in by_employee.items():
        employees.append({"username": username, "name": own[0]["name"], "periods": len(own),
                          **_sums(own)})
    employees.sort(key=lambda item: (Decimal(item["bonus_delta"]), item["username"]))
    counts = dict.fromkeys([label for _, label in BUCKETS] + ["unchanged"]
                           + [label for _, label in RISES] + ["> +20%"], 0)
    for item in employees:
        counts[_bucket(Decimal(item["actual_bonus"]), Decimal(item["bonus_delta"]))] += 1
    return {"totals": {"employees": len(employees), **_sums(rows)},
            "period_totals": [{"period": period, "employees": len(own), **_sums(own)}
                              for period, own in by_period.items()],
            "employees": employees,
            "distribution": [{"change": label, "employees": count}
                             for label, count in counts.items()]}


def _sums(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    actual = proposed = ZERO
    raised = lowered = unchanged = 0
    for row in rows:
        actual += Decimal(row["actual_bonus"])
        proposed += Decimal(row["proposed_bonus"])
        delta = Decimal(row["bonus_delta"])
        raised, lowered = raised + (delta > 0), lowered + (delta < 0)
        unchanged += delta == 0
    return {"actual_bonus": str(actual), "proposed_bonus": str(proposed),
            "bonus_delta": str(proposed - actual), "raised": raised, "lowered": lowered,
            "unchanged": unchanged}


def _bucket(actual: Decimal, delta: Decimal) -> str:
    if delta == 0:
        return "unchanged"
    if actual <= 0:
        return "> +20%"
    share = delta / actual
    for bound, label in (BUCKETS if delta < 0 else RISES):
        if share < bound if delta < 0 else share <= bound:
            return label
    return "-5% .. 0%" if delta < 0 else "> +20%"
