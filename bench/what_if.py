"""What-if of a KPI scheme change: 12 months x 1,000 employees over 1,000,000 events.

Target (issue 18): `services.pay.what_if.what_if` for one department of 1,000 employees,
twelve periods and 1,000,000 completion events takes <= 5 s, on SQLite and on PostgreSQL.

Fixture: bench/payroll_fixture.py with one department (dept00) over the twelve months of
2024 (about 83,000 events a month; 1,000 corrections; 30,000 assigned tasks), bulk-inserted
(executemany on SQLite, COPY on PostgreSQL) into a temporary database migrated with
init_db. The first six months are paid by final runs (created, approved by a second HR
user, finalised), so half the periods compare with final runs' lines and half with the
scheme then in force, as a real year would.

Timed (medians of --repeat, after one untimed warm-up), interleaved so each ratio compares
times taken moments apart:

- floor:   for each of the twelve months, SELECT completed_by, count(*) FROM task_events
           WHERE completed_at in the month GROUP BY completed_by (the least any per-person
           figure over the events costs)
- what-if: what_if(...) for the twelve months with the department's scheme with raised
           targets, as the API runs it

Checks: the what-if writes nothing (row counts before and after), and a what-if of the
scheme in force equals the final runs' bonuses in every final month.

    .venv/bin/python bench/what_if.py [--backend sqlite|postgresql] [--employees 1000]
        [--events 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import temporary_database  # noqa: E402
from payroll_fixture import HR, Sizes, build, department_key, scheme_document  # noqa: E402
from sqlalchemy import bindparam, func, select, text  # noqa: E402

from payroll.periods import Period  # noqa: E402
from services.identity.actor import Actor  # noqa: E402
from services.pay import payroll_runs, what_if  # noqa: E402
from services.persistence.models import Base, PayrollLine, UTCDateTime  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402

TARGET_SECONDS = 5.0
FINAL_MONTHS = 6
SECOND_HR = Actor("bench-hr-2", "dept00", frozenset({"hr"}), frozenset())
DEPARTMENT = department_key(0)
FLOOR_SQL = text("SELECT completed_by, count(*) FROM task_events "
                 "WHERE completed_at >= :start AND completed_at < :end GROUP BY completed_by"
                 ).bindparams(bindparam("start", type_=UTCDateTime()),
                              bindparam("end", type_=UTCDateTime()))


def raised(document: dict) -> dict:
    """The scheme with every target 10 % harder (higher, or lower for handling hours)."""
    indicators = []
    for item in document["indicators"]:
        factor = Decimal("0.9") if item["metric"] == "avg_handling_hours" else Decimal("1.1")
        indicators.append({**item, "target": str(Decimal(str(item["target"])) * factor)})
    return {**document, "indicators": indicators}


def floor(store: Store, periods: list[Period]) -> None:
    with store.reading() as uow:
        for period in periods:
            uow.session.execute(FLOOR_SQL, {"start": period.start, "end": period.end}).all()


def row_counts(store: Store) -> dict[str, int]:
    with store.reading() as uow:
        return {table.name: uow.session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--employees", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = Sizes(employees=args.employees, events=args.events, departments=1, months=12,
                  instances=max(10, min(2000, args.events // 500)))
    with temporary_database(args.backend) as url:
        store = Store(url)
        try:
            run(store, sizes, args.repeat)
        finally:
            store.dispose()


def run(store: Store, sizes: Sizes, repeat: int) -> None:
    print(f"backend: {store.engine.dialect.name}   employees: {sizes.employees:,}   "
          f"events: {sizes.events:,}   months: {sizes.months}")
    report = build(store, sizes, log=lambda line: print(line, flush=True))
    print("built: " + ", ".join(f"{name} {count:,}" for name, count in report.rows.items())
          + f" ({report.seconds['total']:.0f} s)")
    months = sizes.periods
    periods = [Period.parse(month) for month in months]
    started = time.perf_counter()
    finals = {}
    for month in months[:FINAL_MONTHS]:
        with store.writing() as uow:
            run_id = payroll_runs.create_run(uow, HR, month, "UTC").id
        with store.writing() as uow:
            payroll_runs.approve(uow, SECOND_HR, run_id)
        with store.writing() as uow:
            payroll_runs.finalize(uow, HR, run_id)
        finals[month] = run_id
    print(f"final runs for {', '.join(finals)} ({time.perf_counter() - started:.1f} s)")

    in_force = scheme_document(0)
    body = {"scheme": raised(in_force), "periods": months}

    def compare(document=None):
        return what_if.what_if(store, HR, DEPARTMENT,
                               {**body, **({"scheme": document} if document else {})}, "UTC")

    before = row_counts(store)
    same = compare(in_force)  # also the warm-up
    assert row_counts(store) == before, "a what-if wrote something"
    with store.reading() as uow:
        paid = {(month, line.username): str(line.bonus) for month, run_id in finals.items()
                for line in uow.session.execute(select(PayrollLine.username, PayrollLine.bonus)
                                                .where(PayrollLine.run_id == run_id))}
    checked = [row for row in same["rows"] if (row["period"], row["username"]) in paid]
    assert checked and all(row["proposed_bonus"] == paid[(row["period"], row["username"])]
                           for row in checked), "the scheme in force differs from a final run"
    print(f"checked: nothing written; the scheme in force equals {len(checked):,} final lines "
          "to the cent")

    floors, runs, result = [], [], None
    for _ in range(repeat):
        floors.append(timed(lambda: floor(store, periods)))
        started = time.perf_counter()
        result = compare()
        runs.append(time.perf_counter() - started)
    floor_time, what_if_time = statistics.median(floors), statistics.median(runs)
    totals = result["totals"]
    print(f"rows: {len(result['rows']):,} (employee x period); totals: actual "
          f"{totals['actual_bonus']}, proposed {totals['proposed_bonus']}, delta "
          f"{totals['bonus_delta']}; raised {totals['raised']:,}, lowered {totals['lowered']:,}, "
          f"unchanged {totals['unchanged']:,}")
    print(f"floor (12 x GROUP BY completed_by): {floor_time:.2f} s (median of {repeat})")
    print(f"what-if, 12 months x {sizes.employees:,} employees: {what_if_time:.2f} s "
          f"(median of {repeat}; {what_if_time / floor_time:.1f}x the floor)")
    verdict = "met" if what_if_time <= TARGET_SECONDS else "MISSED"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"target <= {TARGET_SECONDS:.0f} s: {verdict}   (load average {load} on "
          f"{os.cpu_count()} cores: a busy machine stretches the floor and the what-if alike)")


if __name__ == "__main__":
    main()
