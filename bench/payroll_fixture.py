"""Synthetic payroll data for bench/payroll_run.py: an org, completion events, corrections,
tasks and one KPI scheme per department, bulk-inserted into a migrated database.

Not a process run: rows are written straight into the tables (SQLAlchemy Core executemany
on SQLite, COPY on PostgreSQL), in the shape services.workflow.tasks/services.workflow.corrections write them.
Events are appended in completed_at order (ids grow with time, as in a live system) and
spread uniformly over MONTHS, so each month holds about a third of them.

    departments   dept00 .. dept09, one KPI scheme each (all five metrics, weights = 100)
    employees     u0000 .. u0999, round robin over the departments
    events        kind 'completed', completed_by uniform over the employees, ready 0-10 h
                  before completion, due on 80 % (1-12 h after ready, so some are late),
                  element_id one of STEPS (inspect_goods carries {"result", "defects"});
                  handling_seconds and on_time written out (COPY runs no column defaults)
    corrections   kind 'correction' of random inspect_goods completions, result flipped;
                  some events are corrected twice (the latest correction counts)
    tasks         assigned tasks due in the three months, 85 % completed (some after the
                  end of their month), for completion_rate
"""
from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Table, text

from services.identity.actor import Actor
from services.pay.kpi import set_scheme
from services.persistence.models import (
    Department,
    Employee,
    ProcessDefinition,
    ProcessInstance,
    Task,
    TaskEvent,
)
from services.persistence.unit_of_work import Store

FIXTURE_VERSION = 2  # 2: task_events.handling_seconds and on_time (migration 0008)
UTC = dt.timezone.utc
EPOCH = dt.datetime(2024, 1, 1, tzinfo=UTC)
MONTHS = ("2024-01", "2024-02", "2024-03")
DEPARTMENTS = 10
# element id, task name, process key, share of events
STEPS = (("receive_goods", "Receive goods", "inbound_materials", 0.30),
         ("inspect_goods", "Inspect goods", "inbound_materials", 0.40),
         ("return_goods", "Return goods", "inbound_materials", 0.10),
         ("review_contract", "Review contract", "contract_approval", 0.20))
PROCESS_KEYS = ("inbound_materials", "contract_approval")
BATCH = 20_000
HR = Actor("bench-hr", "dept00", frozenset({"hr", "admin"}), frozenset())
EVENT_COLUMNS = ("id", "kind", "corrects_event_id", "process_instance_id", "process_key",
                 "process_version", "task_id", "element_id", "task_name", "lane", "department_key",
                 "actor_department_key", "completed_by", "ready_at", "claimed_at", "completed_at",
                 "due_at", "data", "recorded_at", "recorded_by", "reason", "handling_seconds",
                 "on_time")
TASK_COLUMNS = ("id", "process_instance_id", "process_key", "element_id", "name", "lane",
                "department_key", "candidate_departments", "status", "assignee", "claimed_at",
                "created_at", "due_at", "completed_by", "completed_at")


@dataclass
class Sizes:
    employees: int = 1000
    events: int = 1_000_000
    corrections: int = 1000
    tasks: int = 30_000
    instances: int = 2000
    seed: int = 20240201
    # The org and the span of time (bench/what_if.py: one department over twelve months).
    departments: int = DEPARTMENTS
    months: int = len(MONTHS)

    def as_dict(self) -> dict:
        return {**self.__dict__, "fixture_version": FIXTURE_VERSION}

    @property
    def span_seconds(self) -> int:
        """From EPOCH to the first instant after the last month."""
        end = dt.datetime(EPOCH.year + self.months // 12, self.months % 12 + 1, 1, tzinfo=UTC)
        return int((end - EPOCH).total_seconds())

    @property
    def periods(self) -> list[str]:
        return [f"{EPOCH.year + month // 12}-{month % 12 + 1:02d}" for month in range(self.months)]


@dataclass
class BuildReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def department_key(index: int) -> str:
    return f"dept{index:02d}"


def username(index: int) -> str:
    return f"u{index:04d}"


def scheme_document(index: int) -> dict:
    """All five metrics; the counted step differs between departments (as real duties do)."""
    step = STEPS[index % len(STEPS)][0]
    return {"cap": "1.2", "indicators": [
        {"metric": "completed_count", "task": step, "weight": 30, "target": 60},
        {"metric": "on_time_rate", "weight": 20, "target": "0.95"},
        {"metric": "field_rate", "task": "inspect_goods", "field": "result", "value": "pass",
         "weight": 20, "target": "0.9"},
        {"metric": "avg_handling_hours", "weight": 15, "target": 4},
        {"metric": "completion_rate", "weight": 15, "target": "0.9"},
    ]}


def build(store: Store, sizes: Sizes, log=print) -> BuildReport:
    """Fill a freshly migrated, empty database; returns row counts and timings."""
    report = BuildReport()
    rng = random.Random(sizes.seed)
    dialect = store.engine.dialect.name
    started = time.perf_counter()

    now = dt.datetime.now(UTC)
    departments = [dict(id=i + 1, key=department_key(i), name=f"Department {i:02d}", parent_key=None,
                        head_username=username(i), lanes=[], duties=[], active=True, updated_at=now)
                   for i in range(sizes.departments)]
    employees = [dict(id=i + 1, username=username(i), name=f"Employee {i:04d}",
                      department_key=department_key(i % sizes.departments), position="Clerk",
                      manager_username=None, roles=[], password_hash=None, active=True,
                      updated_at=now,
                      base_salary=Decimal(rng.randrange(400_000, 1_200_000)) / 100,
                      bonus_base=Decimal(rng.randrange(50_000, 300_000)) / 100)
                 for i in range(sizes.employees)]
    definitions = [dict(id=i + 1, key=key, version=1, name=key, filename=f"{key}.bpmn",
                        bpmn_xml="<definitions/>", checksum=f"{i:064d}", deployed_at=EPOCH,
                        deployed_by="bench") for i, key in enumerate(PROCESS_KEYS)]
    instances = [dict(id=i + 1, definition_id=(i % len(PROCESS_KEYS)) + 1,
                      process_key=PROCESS_KEYS[i % len(PROCESS_KEYS)], process_version=1,
                      business_key=f"BK-{i}", status="completed", error=None, data={}, state={},
                      started_by=username(i % sizes.employees), created_at=EPOCH, updated_at=EPOCH,
                      lock_version=1)
                 for i in range(sizes.instances)]
    with store.engine.begin() as connection:
        for model, rows in ((Department, departments), (Employee, employees),
                            (ProcessDefinition, definitions), (ProcessInstance, instances)):
            connection.execute(model.__table__.insert(), rows)
            report.rows[model.__tablename__] = len(rows)
    report.seconds["org + instances"] = time.perf_counter() - started

    mark = time.perf_counter()
    events, corrections = _events(rng, sizes)
    report.seconds["generate events"] = time.perf_counter() - mark
    mark = time.perf_counter()
    _bulk_insert(store, TaskEvent.__table__, EVENT_COLUMNS, events, dialect, log)
    _bulk_insert(store, TaskEvent.__table__, EVENT_COLUMNS, corrections, dialect, log)
    report.rows["task_events (completed)"] = len(events)
    report.rows["task_events (correction)"] = len(corrections)
    report.seconds["insert events"] = time.perf_counter() - mark
    del events

    mark = time.perf_counter()
    tasks = _tasks(rng, sizes)
    _bulk_insert(store, Task.__table__, TASK_COLUMNS, tasks, dialect, log)
    report.rows["tasks"] = len(tasks)
    report.seconds["tasks"] = time.perf_counter() - mark

    mark = time.perf_counter()
    for i in range(sizes.departments):
        with store.writing() as uow:
            set_scheme(uow, HR, department_key(i), scheme_document(i))
    report.rows["kpi_schemes"] = sizes.departments
    report.seconds["kpi schemes"] = time.perf_counter() - mark

    mark = time.perf_counter()
    _finish(store, dialect)
    report.seconds["sequences + statistics" if dialect == "postgresql" else "checkpoint"] = \
        time.perf_counter() - mark
    report.seconds["total"] = time.perf_counter() - started
    return report


def _events(rng: random.Random, sizes: Sizes) -> tuple[list[tuple], list[tuple]]:
    """(completions in completed_at order, corrections appended after them)."""
    offsets = sorted(rng.randrange(sizes.span_seconds) for _ in range(sizes.events))
    step_names = [s[0] for s in STEPS]
    step_weights = [s[3] for s in STEPS]
    step_info = {s[0]: s for s in STEPS}
    chosen = rng.choices(step_names, weights=step_weights, k=sizes.events)
    users = [username(i) for i in range(sizes.employees)]
    user_department = [department_key(i % sizes.departments) for i in range(sizes.employees)]
    pass_data = [{"result": "pass", "defects": 0}, {"result": "pass", "defects": 1}]
    fail_data = [{"result": "fail", "defects": n} for n in range(1, 6)]
    other_data = {"receive_goods": [{"quantity": q} for q in (1, 5, 10, 50)],
                  "return_goods": [{"return_reference": "RMA"}],
                  "review_contract": [{"approved": True}, {"approved": False}]}
    second = dt.timedelta(seconds=1)
    rows = []
    inspected = []  # indexes of inspect_goods rows, for corrections
    random_ = rng.random
    randrange = rng.randrange
    for index, offset in enumerate(offsets):
        element = chosen[index]
        _, task_name, process_key, _ = step_info[element]
        who = randrange(sizes.employees)
        department = user_department[who] if random_() < 0.95 else department_key(randrange(sizes.departments))
        completed_at = EPOCH + offset * second
        ready_at = completed_at - randrange(36_000) * second
        due_at = ready_at + randrange(3600, 43_200) * second if random_() < 0.8 else None
        if element == "inspect_goods":
            data = pass_data[randrange(2)] if random_() < 0.85 else fail_data[randrange(5)]
            inspected.append(index)
        else:
            options = other_data[element]
            data = options[randrange(len(options))]
        instance = randrange(sizes.instances) + 1
        if PROCESS_KEYS[(instance - 1) % len(PROCESS_KEYS)] != process_key:
            instance = instance + 1 if instance < sizes.instances else instance - 1
        rows.append((index + 1, "completed", None, instance, process_key, 1,
                     str(uuid.UUID(int=index + 1)), element, task_name, department, department,
                     user_department[who], users[who], ready_at, ready_at, completed_at, due_at,
                     data, completed_at, users[who], None, (completed_at - ready_at) // second,
                     None if due_at is None else completed_at <= due_at))
    corrections = []
    effective: dict[int, dict] = {}
    next_id = len(rows) + 1
    for n in range(min(sizes.corrections, len(inspected))):
        if corrections and rng.random() < 0.1:  # correct an already corrected event again
            original = corrections[rng.randrange(len(corrections))][2]
        else:
            original = inspected[rng.randrange(len(inspected))] + 1
        row = rows[original - 1]
        current = effective.get(original, row[17])
        data = ({"result": "fail", "defects": 1} if current["result"] == "pass"
                else {"result": "pass", "defects": 0})
        effective[original] = data
        recorded_at = row[15] + dt.timedelta(days=rng.randrange(1, 20))
        corrections.append((next_id, "correction", original, row[3], row[4], row[5], row[6], row[7],
                            row[8], row[9], row[10], row[11], row[12], row[13], row[14], row[15],
                            row[16], data, recorded_at, username(0),
                            f"bench correction {n}", row[21], row[22]))
        next_id += 1
    return rows, corrections


def _tasks(rng: random.Random, sizes: Sizes) -> list[tuple]:
    rows = []
    hour = dt.timedelta(hours=1)
    for index in range(sizes.tasks):
        who = rng.randrange(sizes.employees)
        element, name, process_key, _ = STEPS[rng.randrange(len(STEPS))]
        due_at = EPOCH + dt.timedelta(seconds=rng.randrange(sizes.span_seconds))
        created_at = due_at - rng.randrange(1, 72) * hour
        completed = rng.random() < 0.85
        completed_at = due_at + rng.randrange(-48, 96) * hour if completed else None
        instance = (index % sizes.instances) + 1
        department = department_key(who % sizes.departments)
        rows.append((str(uuid.UUID(int=(1 << 64) + index)), instance,
                     PROCESS_KEYS[(instance - 1) % len(PROCESS_KEYS)], element, name, department,
                     department, [], "completed" if completed else "ready", username(who),
                     created_at, created_at, due_at, username(who) if completed else None,
                     completed_at))
    return rows


def _bulk_insert(store: Store, table: Table, columns: tuple[str, ...], rows: list[tuple],
                 dialect: str, log) -> None:
    json_columns = {i for i, name in enumerate(columns) if name in ("data", "candidate_departments")}
    if dialect == "postgresql":
        raw = store.engine.raw_connection()
        try:
            with raw.driver_connection.cursor() as cursor:
                with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([json.dumps(v) if i in json_columns else v
                                        for i, v in enumerate(row)])
            raw.commit()
        finally:
            raw.close()
        return
    insert = table.insert()
    with store.engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            connection.execute(insert, [dict(zip(columns, row)) for row in rows[start:start + BATCH]])
            if start and start % 200_000 == 0:
                log(f"  ... {table.name}: {start:,} rows")


def _finish(store: Store, dialect: str) -> None:
    if dialect == "postgresql":
        with store.engine.begin() as connection:
            for table in ("departments", "employees", "process_definitions", "process_instances",
                          "task_events"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
        # What autovacuum does to a freshly loaded table: statistics and the visibility map.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        raw = store.engine.raw_connection()  # autocommit: the engine's BEGIN is not issued
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
