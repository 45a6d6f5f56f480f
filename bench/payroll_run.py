"""Payroll run over 1,000 employees and 1,000,000 events, against a plain SQL GROUP BY.

Target (spec): aggregation is done in SQL, not by loading events into Python; a run for
1,000 employees and 1,000,000 events takes <= 3x a plain SQL GROUP BY over the same events
measured in the same run, and under 10 s, on SQLite and on PostgreSQL.

Fixture: bench/payroll_fixture.py (10 departments with a five-metric KPI scheme each, the
employees, the events over three months 2024-01..03 with ~1/3 in each, 1,000 corrections,
30,000 assigned tasks), bulk-inserted into a temporary database migrated with init_db: a
SQLite file in a temporary directory, or a fresh PostgreSQL schema dropped at the end.

Timed, interleaved (medians reported, one untimed warm-up): every repetition times, for
each month in turn, the floor, then measure, then a whole run, so each ratio compares times
taken moments apart; a machine whose load changes over the minutes the bench takes shifts
the floor and what is compared with it alike.

- floor:   SELECT completed_by, count(*) FROM task_events WHERE completed_at >= :start
           AND completed_at < :end GROUP BY completed_by   (the same month)
- measure: payroll.aggregation.measure for the union of the schemes' indicators, through
           services.pay.kpi.measure_period in a reading unit of work
- run:     services.pay.payroll_runs.create_run in a writing unit of work (commits); a period
           has one run, so each draft but the last is deleted, untimed, before the next.
           Then services.pay.payroll_runs.recalculate of the target month's draft --repeat
           times (the same calculation, repeatable), each after a floor of that month.
           A run's time is split into the part spent in measure_period and the rest
           (scoring, lines).

Where the time goes: on SQLite the floor and measure both read the month's rows through an
index on completed_at and sort them by person for the GROUP BY (no index gives that order
for a range of time). measure carries more through that sort per row (element_id, on_time,
handling_seconds, the form data of field_rate's task), which is most of its cost over the
floor. PostgreSQL hashes the rows in parallel workers, so its floor is short and what
create_run adds to measure weighs more there: the scoring, a line per employee (one COPY
through services.persistence.bulk; an executemany of a thousand INSERTs cost more than the scoring) and
the commit.

Wall time is what the targets are judged on. On SQLite, where all the work happens in this
process, its CPU time is printed as well: a second opinion that other load on the machine
does not distort.

A correctness check compares measure() with direct SQL (completed_count, on_time_rate) and
with a Python recomputation from the rows (field_rate with corrections, avg_handling_hours,
completion_rate) for 3 random employees. With --explain, or when a target is missed, the
query plans of the floor and of every SELECT measure() emits are printed. --try-index adds
DDL (an index) to the temporary database before timing, to test a fix without editing the
models.

    .venv/bin/python bench/payroll_run.py [--backend sqlite|postgresql] [--employees 1000]
        [--events 1000000] [--corrections 1000] [--tasks 30000] [--repeat 5] [--keep FILE]
        [--explain] [--analyze] [--try-index "CREATE ..."]

--keep FILE (SQLite): build the database once into FILE, then reuse a copy of it on later
runs with the same sizes (the kept file itself is never written by the timings).
--analyze (SQLite) runs ANALYZE first; DutyFlow never does, and with statistics SQLite answers
the floor from the (completed_by, completed_at) index alone, which no query that reads the
events' other columns can come within 3x of.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _support import migrate, temporary_database  # noqa: E402
from payroll_fixture import HR, MONTHS, Sizes, build  # noqa: E402
from sqlalchemy import bindparam, delete, event, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from payroll.periods import Period  # noqa: E402
from payroll.schemes import parse_scheme  # noqa: E402
from services.pay import payroll_runs  # noqa: E402
from services.pay.kpi import measure_period, scheme_rows  # noqa: E402
from services.persistence.db import READONLY  # noqa: E402
from services.persistence.models import (
    AuditEntry,
    PayrollAdjustment,
    PayrollLine,
    PayrollRun,
    TaskEvent,
    UTCDateTime,
)
from services.persistence.unit_of_work import Store  # noqa: E402

POSTGRES_URL = os.environ.get("DUTYFLOW_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_RATIO = 3.0
TARGET_SECONDS = 10.0
TARGET_MONTH = MONTHS[1]
FLOOR_SQL = text("SELECT completed_by, count(*) FROM task_events "
                 "WHERE completed_at >= :start AND completed_at < :end GROUP BY completed_by"
                 ).bindparams(bindparam("start", type_=UTCDateTime()),
                              bindparam("end", type_=UTCDateTime()))


# -- the temporary database ------------------------------------------------------------------

@contextmanager
def sqlite_database(sizes: Sizes, keep: str | None):
    """Yields (url, needs_build, keep_path_to_fill)."""
    with tempfile.TemporaryDirectory(prefix="dutyflow-payroll-bench-") as directory:
        path = Path(directory) / "bench.db"
        url = f"sqlite:///{path}"
        kept = Path(keep) if keep else None
        sidecar = kept.with_suffix(kept.suffix + ".json") if kept else None
        if kept and kept.exists() and sidecar.exists() and \
                json.loads(sidecar.read_text()) == sizes.as_dict():
            shutil.copyfile(kept, path)
            migrate(url)
            yield url, False, None
        else:
            migrate(url)
            yield url, True, kept


@contextmanager
def postgres_database():
    """Yields (url, needs_build, keep_path_to_fill) for a fresh PostgreSQL schema."""
    with temporary_database("postgresql", POSTGRES_URL) as url:
        yield url, True, None


def keep_copy(store: Store, path: Path, sizes: Sizes) -> None:
    raw = store.engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    store.engine.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(make_url(store.database_url).database, path)
    path.with_suffix(path.suffix + ".json").write_text(json.dumps(sizes.as_dict()))


# -- what is timed ---------------------------------------------------------------------------

def reader(store: Store):
    """A read-only connection (on SQLite a plain BEGIN, like store.reading())."""
    return store.engine.execution_options(**{READONLY: True}).connect()


class Clock:
    """Wall time, and CPU time of this process (on SQLite all the work is in this process,
    so its CPU time is a load-independent second opinion on a busy machine).

    Every timed call, the floor included, starts after a garbage collection: otherwise one
    of them pays for the garbage the bench itself left (fixture, correctness check) with a
    full collection pass. Collections the timed code's own allocations cause still count.
    """

    def __enter__(self):
        gc.collect()
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def floor(store: Store, period: Period) -> tuple[Clock, int]:
    with reader(store) as connection:
        with Clock() as clock:
            rows = connection.execute(FLOOR_SQL, {"start": period.start, "end": period.end}).all()
        return clock, len(rows)


def load_schemes(store: Store):
    with store.reading() as uow:
        return {key: parse_scheme(row.document) for key, row in scheme_rows(uow).items()}


def measure(store: Store, period: Period, schemes) -> tuple[Clock, dict]:
    with store.reading() as uow:
        with Clock() as clock:
            actuals = measure_period(uow, period, schemes)
        return clock, actuals


INSIDE_RUN: list[float] = []  # time spent in measure_period inside create_run / recalculate


def _timed_measure_period(*args, **kwargs):
    started = time.perf_counter()
    try:
        return measure_period(*args, **kwargs)
    finally:
        INSIDE_RUN.append(time.perf_counter() - started)


payroll_runs.measure_period = _timed_measure_period  # only times it; same function underneath


def create_run(store: Store, month: str) -> tuple[Clock, float, int, int]:
    """(time, of which seconds in measure_period, run id, lines)."""
    INSIDE_RUN.clear()
    with store.writing() as uow:
        with Clock() as clock:
            run = payroll_runs.create_run(uow, HR, month, "UTC")
    with store.reading() as uow:
        lines = uow.session.scalars(select(PayrollLine).where(PayrollLine.run_id == run.id)).all()
    return clock, sum(INSIDE_RUN), run.id, len(lines)


def discard_draft(store: Store, run_id: int) -> None:
    """Remove a draft run and all it wrote, so the month can be run again (bench only)."""
    with store.writing() as uow:
        for model, column in ((PayrollLine, PayrollLine.run_id),
                              (PayrollAdjustment, PayrollAdjustment.run_id),
                              (PayrollRun, PayrollRun.id)):
            uow.session.execute(delete(model).where(column == run_id))
        uow.session.execute(delete(AuditEntry).where(AuditEntry.entity == "payroll_run",
                                                     AuditEntry.entity_key == str(run_id)))
        uow.commit()


def median_run(attempts: list[tuple[Clock, float, int, int]]) -> tuple[Clock, float, int, int]:
    """The attempt with the median wall time (its own split and CPU time), the last run's
    id and line count."""
    middle = sorted(attempts, key=lambda attempt: attempt[0].wall)[len(attempts) // 2]
    return middle[0], middle[1], attempts[-1][2], attempts[-1][3]


def recalculate(store: Store, run_id: int) -> tuple[float, float, float]:
    """(wall seconds, of which in measure_period, CPU seconds)."""
    INSIDE_RUN.clear()
    with store.writing() as uow:
        with Clock() as clock:
            payroll_runs.recalculate(uow, HR, run_id, "UTC")
        return clock.wall, sum(INSIDE_RUN), clock.cpu


# -- correctness -----------------------------------------------------------------------------

def check(store: Store, period: Period, actuals: dict, schemes, rng: random.Random) -> list[str]:
    """Compare measure() with direct SQL and with a recomputation from the rows."""
    indicators = {i.key: i for scheme in schemes.values() for i in scheme.indicators}
    counts = [i for i in indicators.values() if i.metric == "completed_count"]
    field = next(i for i in indicators.values() if i.metric == "field_rate")
    people = rng.sample(sorted(u for u, a in actuals.items() if "on_time_rate()" in a), 3)
    out = []
    when = {"start": period.start, "end": period.end}
    typed = [bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())]
    with reader(store) as connection:
        for person in people:
            got = actuals[person]
            params = {**when, "who": person}
            # direct SQL: completed_count (each task filter in the schemes) and on_time_rate
            for indicator in counts:
                count = connection.execute(text(
                    "SELECT count(*) FROM task_events WHERE kind = 'completed' AND completed_by = :who "
                    "AND completed_at >= :start AND completed_at < :end AND element_id = :task"
                ).bindparams(*typed), {**params, "task": indicator.task}).scalar_one()
                assert got[indicator.key] == Decimal(count), (person, indicator.key, got, count)
            on_time, with_due = connection.execute(text(
                "SELECT sum(CASE WHEN due_at IS NOT NULL AND completed_at <= due_at THEN 1 ELSE 0 END), "
                "sum(CASE WHEN due_at IS NOT NULL THEN 1 ELSE 0 END) FROM task_events "
                "WHERE kind = 'completed' AND completed_by = :who "
                "AND completed_at >= :start AND completed_at < :end").bindparams(*typed),
                params).one()
            expected = Decimal(int(on_time)) / Decimal(int(with_due)) if with_due else None
            assert got["on_time_rate()"] == expected, (person, got["on_time_rate()"], expected)
            # from the rows, in Python: corrections replace data, handling time, task completion
            events = connection.execute(
                select(TaskEvent.id, TaskEvent.element_id, TaskEvent.data, TaskEvent.ready_at,
                       TaskEvent.completed_at)
                .where(TaskEvent.kind == "completed", TaskEvent.completed_by == person,
                       TaskEvent.completed_at >= period.start, TaskEvent.completed_at < period.end)
            ).all()
            data = {e.id: e.data for e in events}
            corrected = 0
            for correction in connection.execute(
                    select(TaskEvent.corrects_event_id, TaskEvent.data)
                    .where(TaskEvent.kind == "correction",
                           TaskEvent.corrects_event_id.in_(list(data)))
                    .order_by(TaskEvent.id)):
                data[correction.corrects_event_id] = correction.data
                corrected += 1
            of_task = [e for e in events if e.element_id == field.task]
            passed = sum(1 for e in of_task if str(data[e.id].get(field.field)) == field.value)
            expected_field = Decimal(passed) / Decimal(len(of_task)) if of_task else None
            assert got[field.key] == expected_field, (person, got[field.key], expected_field)
            seconds = sum(int((e.completed_at - e.ready_at).total_seconds()) for e in events)
            expected_hours = Decimal(seconds) / Decimal(len(events)) / Decimal(3600)
            assert abs(got["avg_handling_hours()"] - expected_hours) < Decimal("1e-9"), \
                (person, got["avg_handling_hours()"], expected_hours)
            done, total = connection.execute(text(
                "SELECT sum(CASE WHEN status = 'completed' AND completed_at < :end THEN 1 ELSE 0 END), "
                "count(*) FROM tasks WHERE assignee = :who AND due_at >= :start AND due_at < :end"
            ).bindparams(*typed), params).one()
            expected_rate = Decimal(int(done)) / Decimal(int(total)) if total else None
            assert got.get("completion_rate()") == expected_rate, (person, got, expected_rate)
            out.append(f"{person}: {len(events)} completions, {corrected} corrections applied; "
                       + ", ".join(f"{key}={value:.4f}" if value is not None else f"{key}=null"
                                   for key, value in sorted(got.items())))
    return out


# -- plans -----------------------------------------------------------------------------------

def captured(store: Store, call) -> list[tuple[str, object]]:
    """The SELECTs (with their driver parameters) that `call()` sends to the database."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "task" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return statements


def explain(store: Store, period: Period, schemes) -> None:
    dialect = store.engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    plans = [("floor", *captured(store, lambda: floor(store, period))[0])]
    plans += [(f"measure query {n}", sql, params) for n, (sql, params)
              in enumerate(captured(store, lambda: measure(store, period, schemes)), 1)]
    with reader(store) as connection:
        for label, sql, params in plans:
            print(f"\n--- {label}:\n{sql.strip()}\n--- plan:")
            for row in connection.exec_driver_sql(prefix + sql, params):
                print("   ", " | ".join(str(v) for v in row) if dialect == "sqlite" else row[0])


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--employees", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--corrections", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", metavar="FILE", help="SQLite: build once into FILE, reuse a copy")
    parser.add_argument("--explain", action="store_true", help="print query plans")
    parser.add_argument("--analyze", action="store_true",
                        help="SQLite: run ANALYZE before timing (DutyFlow itself never does; "
                             "PostgreSQL is always VACUUM ANALYZEd after the load)")
    parser.add_argument("--try-index", action="append", default=[], metavar="SQL",
                        help="DDL run on the temporary database before timing (repeatable)")
    args = parser.parse_args()
    if args.keep and args.backend != "sqlite":
        parser.error("--keep is for SQLite only")
    sizes = Sizes(employees=args.employees, events=args.events, corrections=args.corrections,
                  tasks=args.tasks, instances=max(10, min(2000, args.events // 500)))

    database = sqlite_database(sizes, args.keep) if args.backend == "sqlite" else postgres_database()
    with database as (url, needs_build, keep_into):
        store = Store(url)
        try:
            run(store, args, sizes, needs_build, keep_into)
        finally:
            store.dispose()


def run(store: Store, args, sizes: Sizes, needs_build: bool, keep_into: Path | None) -> None:
    backend = store.engine.dialect.name
    print(f"backend: {backend}   employees: {sizes.employees:,}   events: {sizes.events:,}   "
          f"corrections: {sizes.corrections:,}   tasks: {sizes.tasks:,}")
    if needs_build:
        report = build(store, sizes, log=lambda line: print(line, flush=True))
        print("built: " + ", ".join(f"{name} {count:,}" for name, count in report.rows.items()))
        print("build time: " + ", ".join(f"{name} {seconds:.1f} s"
                                         for name, seconds in report.seconds.items()))
        if keep_into:
            keep_copy(store, keep_into, sizes)
            print(f"kept a copy in {keep_into}")
    else:
        print(f"reused the database built in {args.keep}")
    print(f"database size: {database_size(store)}")
    if args.analyze and backend == "sqlite":
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        print("ran ANALYZE")
    for ddl in args.try_index:
        started = time.perf_counter()
        with store.engine.begin() as connection:
            connection.execute(text(ddl))
            if backend == "postgresql":
                connection.execute(text("ANALYZE task_events"))
        print(f"try-index: {ddl}  ({time.perf_counter() - started:.1f} s)")

    schemes = load_schemes(store)
    union = {i.key for scheme in schemes.values() for i in scheme.indicators}
    print(f"schemes: {len(schemes)} departments, {len(union)} distinct measures: "
          f"{', '.join(sorted(union))}")

    periods = {month: Period.parse(month) for month in MONTHS}
    floors: dict[str, list[float]] = {m: [] for m in MONTHS}
    measures: dict[str, list[float]] = {m: [] for m in MONTHS}
    floor_cpu: dict[str, list[float]] = {m: [] for m in MONTHS}
    measure_cpu: dict[str, list[float]] = {m: [] for m in MONTHS}
    attempts: dict[str, list] = {m: [] for m in MONTHS}
    groups, people = {}, {}
    last_actuals = {}
    for repetition in range(args.repeat + 1):  # the first is a warm-up
        for month, period in periods.items():
            clock, groups[month] = floor(store, period)
            if repetition:
                floors[month].append(clock.wall)
                floor_cpu[month].append(clock.cpu)
            clock, last_actuals[month] = measure(store, period, schemes)
            people[month] = len(last_actuals[month])
            if repetition:
                measures[month].append(clock.wall)
                measure_cpu[month].append(clock.cpu)
            attempt = create_run(store, month)
            if repetition:
                attempts[month].append(attempt)
            if repetition < args.repeat:  # a period has one run: make room for the next
                discard_draft(store, attempt[2])
    runs = {month: median_run(attempts[month]) for month in MONTHS}
    recalc_floors, recalcs = [], []
    for _ in range(args.repeat):
        recalc_floors.append(floor(store, periods[TARGET_MONTH])[0])
        recalcs.append(recalculate(store, runs[TARGET_MONTH][2]))
    with reader(store) as connection:
        in_month = {month: connection.execute(text(
            "SELECT count(*) FROM task_events WHERE kind = 'completed' "
            "AND completed_at >= :start AND completed_at < :end").bindparams(
            bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())),
            {"start": p.start, "end": p.end}).scalar_one() for month, p in periods.items()}

    print("\ncorrectness (3 random employees, target month "
          f"{TARGET_MONTH}, measure() vs direct SQL / recomputation):")
    for line in check(store, periods[TARGET_MONTH], last_actuals[TARGET_MONTH], schemes,
                      random.Random(7)):
        print("  ok", line)

    print(f"\n{args.repeat} repetitions after one warm-up, median (min); ratio = time / floor "
          "of the same month, median / median (min / min)")
    print(f"{'month':8} {'events':>9} {'floor ms':>16} {'measure ms':>17} {'ratio':>14} "
          f"{'create_run ms':>14} {'ratio':>6} {'= measure':>10} {'+ rest ms':>10}")
    misses, notes = [], []
    for month in MONTHS:
        floor_median, floor_min = statistics.median(floors[month]), min(floors[month])
        measure_median, measure_min = statistics.median(measures[month]), min(measures[month])
        run_clock, inside, run_id, lines = runs[month]
        run_seconds = run_clock.wall
        print(f"{month:8} {in_month[month]:9,} {floor_median * 1000:7.1f} ({floor_min * 1000:6.1f}) "
              f"{measure_median * 1000:7.1f} ({measure_min * 1000:7.1f}) "
              f"{measure_median / floor_median:5.2f}x ({measure_min / floor_min:5.2f}x) "
              f"{run_seconds * 1000:14.1f} {run_seconds / floor_median:5.2f}x {inside * 1000:10.1f} "
              f"{(run_seconds - inside) * 1000:10.1f}")
        notes.append(f"{month}: run {run_id} wrote {lines} lines; floor groups {groups[month]}, "
                     f"people measured {people[month]}")
        for label, seconds in (("measure", measure_median), ("create_run", run_seconds)):
            if seconds > TARGET_RATIO * floor_median:
                misses.append(f"{month} {label} {seconds / floor_median:.2f}x floor > {TARGET_RATIO:g}x")
            if seconds >= TARGET_SECONDS:
                misses.append(f"{month} {label} {seconds:.1f} s >= {TARGET_SECONDS:g} s")
    print("  " + "\n  ".join(notes))
    if backend == "sqlite":
        print("CPU time of this process (SQLite does all the work in it), median:")
        for month in MONTHS:
            fc, mc = statistics.median(floor_cpu[month]), statistics.median(measure_cpu[month])
            rc = runs[month][0].cpu
            print(f"  {month}: floor {fc * 1000:.1f} ms, measure {mc * 1000:.1f} ms = {mc / fc:.2f}x, "
                  f"create_run {rc * 1000:.1f} ms = {rc / fc:.2f}x")
    target_floor = statistics.median(clock.wall for clock in recalc_floors)
    recalc_median = statistics.median(seconds for seconds, _, _ in recalcs)
    recalc_inside = statistics.median(inside for _, inside, _ in recalcs)
    print(f"recalculate {TARGET_MONTH} (whole run again, {args.repeat}x): median "
          f"{recalc_median * 1000:.1f} ms = {recalc_median / target_floor:.2f}x floor "
          f"(measure in it {recalc_inside * 1000:.1f} ms, rest {(recalc_median - recalc_inside) * 1000:.1f} ms)"
          + (f"; CPU median {statistics.median(c for _, _, c in recalcs) * 1000:.1f} ms = "
             f"{statistics.median(c for _, _, c in recalcs) / statistics.median(clock.cpu for clock in recalc_floors):.2f}x"
             " floor CPU" if backend == "sqlite" else ""))
    if recalc_median > TARGET_RATIO * target_floor:
        misses.append(f"{TARGET_MONTH} recalculate {recalc_median / target_floor:.2f}x floor")
    if recalc_median >= TARGET_SECONDS:
        misses.append(f"{TARGET_MONTH} recalculate {recalc_median:.1f} s >= {TARGET_SECONDS} s")
    print(f"targets (<= {TARGET_RATIO:g}x floor, < {TARGET_SECONDS:g} s): "
          + ("MET" if not misses else "MISSED: " + "; ".join(misses)))
    if args.explain or misses:
        explain(store, periods[TARGET_MONTH], schemes)


def database_size(store: Store) -> str:
    if store.engine.dialect.name == "sqlite":
        size = Path(make_url(store.database_url).database).stat().st_size
        return f"{size / 1e6:.0f} MB file"
    with reader(store) as connection:
        size = connection.execute(text("SELECT pg_total_relation_size('task_events')")).scalar_one()
    return f"task_events {size / 1e6:.0f} MB with indexes"


if __name__ == "__main__":
    main()
