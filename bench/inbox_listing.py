"""Inbox listing with 100,000 open tasks, against the service and raw SQL in one run.

Target: GET /api/v1/tasks p95 <= 50 ms with 100,000 open tasks.

Fixture (not a process run): the demo org and shipped diagrams, then N ready `tasks` rows
bulk-inserted with SQLAlchemy core, each with a minimal `process_instances` row. Tasks are
spread evenly over the departments that own duties in the shipped diagrams (each a real
duty of inbound_materials, contract_approval or customer_complaint), created over the last
30 days, due between 10 days ago and 20 days ahead (10% without a due date), 30% assigned
to a member of the owning department.

Each query is timed `--requests` times through four layers, interleaved request by request:

- http: GET /api/v1/tasks through Flask's test client (app + database, no network;
  includes token auth, query parsing and JSON)
- service: services.workflow.tasks.list_tasks in a reading unit of work (no HTTP)
- sql: the exact SQL the service emitted, replayed through the driver (database only)
- raw: SELECT <task columns> FROM tasks WHERE status = 'ready' AND department_key = :dept
  ORDER BY due_at LIMIT 50, the user's own department: what an index-ordered read costs

The cursor walk fetches 5 pages following X-Next-Cursor; each page counts as a request.
A query stops early after --budget seconds (at least 5 rounds); n says how many were timed.
When a query's http p95 is over the target its plan is printed (--explain: every plan).
--try-index adds an index to the temporary database before timing (to test a fix).

    .venv/bin/python bench/inbox_listing.py [--backend sqlite|postgresql] [--tasks 100000]
        [--requests 200] [--budget 20] [--explain] [--try-index "CREATE INDEX ..."]
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import (  # noqa: E402
    BPMN_DIR,
    POSTGRES_URL,
    load_org_and_diagrams,
    ms,
    percentile,
    temporary_database,
)
from sqlalchemy import event, func, select, text  # noqa: E402

from engine.loader import load_processes  # noqa: E402
from services.identity.access import actor_for  # noqa: E402
from services.org.directory import Directory  # noqa: E402
from services.persistence.db import READONLY  # noqa: E402
from services.persistence.models import Employee, ProcessDefinition, ProcessInstance, Task  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.settings import Settings  # noqa: E402
from services.workflow import tasks  # noqa: E402
from web.app import create_app  # noqa: E402

TARGET = 0.050
WARMUP = 2  # untimed requests per layer before each query
MIN_ROUNDS = 5
BATCH = 5000
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
DUE_BEFORE = NOW + dt.timedelta(days=1)
RAW_SQL = text("SELECT id, process_instance_id, process_key, element_id, name, lane, department_key, "
               "assignee, created_at, due_at, status FROM tasks "
               "WHERE status = 'ready' AND department_key = :department ORDER BY due_at LIMIT 50")


@dataclass
class Query:
    label: str
    username: str
    params: dict[str, str]
    pages: int = 1  # > 1: a cursor walk, each page timed as one request
    samples: dict[str, list[float]] = field(default_factory=lambda: {
        "http": [], "service": [], "sql": [], "raw": []})
    statements: list[tuple[str, object]] = field(default_factory=list)


QUERIES = [
    Query("staff inbox", "li.qa", {"scope": "mine", "sort": "due_at", "limit": "50"}),
    Query("head, department", "sun.prod", {"scope": "department", "sort": "due_at", "limit": "50"}),
    Query("general manager, department (every department)", "liu.gm",
          {"scope": "department", "sort": "due_at", "limit": "50"}),
    Query("general manager, department + process_key", "liu.gm",
          {"scope": "department", "process_key": "contract_approval", "sort": "due_at", "limit": "50"}),
    Query("staff inbox + due_before", "li.qa",
          {"scope": "mine", "due_before": DUE_BEFORE.isoformat(), "sort": "due_at", "limit": "50"}),
    Query("head, department + unassigned", "sun.prod",
          {"scope": "department", "unassigned": "true", "sort": "due_at", "limit": "50"}),
    Query("general manager, department + all three filters", "liu.gm",
          {"scope": "department", "process_key": "customer_complaint", "unassigned": "true",
           "due_before": DUE_BEFORE.isoformat(), "sort": "due_at", "limit": "50"}),
    Query("staff inbox, cursor walk of 5 pages", "li.qa",
          {"scope": "mine", "sort": "due_at", "limit": "50"}, pages=5),
    Query("staff inbox of a department with no open tasks (worst case for an index "
          "read in due_at order)", "zhao.hr", {"scope": "mine", "sort": "due_at", "limit": "50"}),
]


# ---------------------------------------------------------------- fixture

def fill(store: Store, total: int, rng: random.Random) -> dict[str, int]:
    """Bulk-insert `total` ready tasks, each with a minimal instance; returns tasks per department."""
    with store.reading() as uow:
        directory = Directory.load(uow)
        definitions = {row.key: row for row in uow.session.scalars(select(ProcessDefinition))}
        members: dict[str, list[str]] = {}
        for employee in uow.session.scalars(select(Employee).where(Employee.active)):
            members.setdefault(employee.department_key, []).append(employee.username)
    duties: dict[str, list[tuple]] = {}  # department -> [(process_key, duty, candidates)]
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        for model in load_processes(path.read_bytes(), path.name):
            for duty in model.duties.values():
                owner = directory.department_for(duty.lane)
                candidates = sorted({d.key for name in duty.candidate_groups
                                     if (d := directory.department_for(name)) is not None})
                key = owner.key if owner else candidates[0]
                duties.setdefault(key, []).append((model.key, duty, candidates))
    departments = sorted(duties)
    counts = dict.fromkeys(departments, 0)
    instance_table, task_table = ProcessInstance.__table__, Task.__table__
    with store.engine.begin() as connection:
        for start in range(0, total, BATCH):
            instance_rows, task_rows = [], []
            for instance_id in range(start + 1, min(start + BATCH, total) + 1):
                department = departments[instance_id % len(departments)]
                counts[department] += 1
                process_key, duty, candidates = rng.choice(duties[department])
                definition = definitions[process_key]
                created = NOW - dt.timedelta(seconds=rng.randrange(30 * 86400))
                due = None if rng.random() < 0.10 else \
                    NOW + dt.timedelta(seconds=rng.randrange(-10 * 86400, 20 * 86400))
                assignee = rng.choice(members[department]) if rng.random() < 0.30 else None
                instance_rows.append(dict(
                    id=instance_id, definition_id=definition.id, process_key=process_key,
                    process_version=definition.version, business_key=f"BENCH-{instance_id}",
                    status="running", error=None, data={}, state={}, started_by="bench",
                    created_at=created, updated_at=created, lock_version=1))
                task_rows.append(dict(
                    id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    process_instance_id=instance_id, process_key=process_key,
                    element_id=duty.element_id, name=duty.name, lane=duty.lane,
                    department_key=department, candidate_departments=candidates, status="ready",
                    assignee=assignee, claimed_at=created if assignee else None, created_at=created,
                    due_at=due, completed_by=None, completed_at=None))
            connection.execute(instance_table.insert(), instance_rows)
            connection.execute(task_table.insert(), task_rows)
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT setval(pg_get_serial_sequence('process_instances', 'id'), "
                                    "(SELECT max(id) FROM process_instances))"))
    return counts


# ---------------------------------------------------------------- the proposed fix

# Each serves one arm of the rewritten query below in ORDER BY order, so an arm reads at
# most offset + limit + 1 index entries (plus the ones its filters skip) instead of sorting
# every matching row. The (due_at IS NULL) column matches the service's ORDER BY
# `due_at IS NULL, due_at, id` on both backends (sort=created_at would need the same
# indexes with created_at). The process_key one keeps a process filter from turning an
# arm into a scan of a whole department.
# ---------------------------------------------------------------- the four layers

class Capture:
    """Records the SELECT ... FROM tasks statements the service sends while switched on."""

    def __init__(self, store: Store):
        self.on = False
        self.statements: list[tuple[str, object]] = []
        event.listen(store.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, _many):
        if self.on and statement.lstrip().upper().startswith("SELECT") and "FROM tasks" in statement:
            self.statements.append((statement, parameters))


def task_query(params: dict[str, str], cursor: str | None = None) -> tasks.TaskQuery:
    """The TaskQuery the route builds from these query parameters."""
    due_before = params.get("due_before")
    return tasks.TaskQuery(
        scope=params.get("scope", "mine"), process_key=params.get("process_key"),
        due_before=dt.datetime.fromisoformat(due_before) if due_before else None,
        assignee=params.get("assignee"),
        unassigned=params.get("unassigned") == "true", sort=params.get("sort", "due_at"),
        limit=int(params.get("limit", "50")), cursor=cursor)


def run_http(client, headers, query: Query) -> list[tuple[float, int]]:
    times, cursor = [], None
    for _ in range(query.pages):
        params = dict(query.params, **({"cursor": cursor} if cursor else {}))
        started = time.perf_counter()
        response = client.get(f"/api/v1/tasks?{urlencode(params)}", headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.data[:500]
        times.append((elapsed, len(response.json)))
        cursor = response.headers.get("X-Next-Cursor")
        if not cursor:
            break
    return times


def run_service(store: Store, actor, query: Query) -> list[tuple[float, int]]:
    times, cursor = [], None
    for _ in range(query.pages):
        started = time.perf_counter()
        with store.reading() as uow:
            page = tasks.list_tasks(uow, actor, task_query(query.params, cursor))
        times.append((time.perf_counter() - started, len(page.tasks)))
        cursor = page.next_cursor
        if not cursor:
            break
    return times


def run_sql(reader, query: Query) -> list[tuple[float, int]]:
    times = []
    for statement, parameters in query.statements:
        started = time.perf_counter()
        with reader.connect() as connection:
            rows = connection.exec_driver_sql(statement, parameters).fetchall()
        times.append((time.perf_counter() - started, len(rows)))
    return times


def run_raw(reader, department: str, pages: int) -> list[tuple[float, int]]:
    times = []
    for _ in range(pages):  # as many samples as the other layers take
        started = time.perf_counter()
        with reader.connect() as connection:
            rows = connection.execute(RAW_SQL, {"department": department}).fetchall()
        times.append((time.perf_counter() - started, len(rows)))
    return times


def explain(reader, statement: str, parameters) -> list[str]:
    with reader.connect() as connection:
        if connection.dialect.name == "postgresql":
            rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            return [row[0] for row in rows]
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    depth = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--analyze", choices=["auto", "yes", "no"], default="auto",
                        help="gather planner statistics after the bulk insert; auto: on "
                             "PostgreSQL (autovacuum would), not on SQLite (nothing runs it)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per query; a slow query stops there with fewer requests")
    parser.add_argument("--explain", action="store_true", help="print every query's plan")
    parser.add_argument("--try-index", action="append", default=[], metavar="SQL",
                        help="CREATE INDEX ... to add to the temporary database before timing")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="server for --backend postgresql (a fresh schema is created and dropped)")
    args = parser.parse_args()
    rng = random.Random(20260501)

    with temporary_database(args.backend, args.postgres_url) as url:
        store = Store(url)
        try:
            load_org_and_diagrams(store)
            started = time.perf_counter()
            counts = fill(store, args.tasks, rng)
            analyze = args.analyze == "yes" or (args.analyze == "auto" and args.backend == "postgresql")
            with store.engine.begin() as connection:
                for statement in args.try_index:
                    connection.exec_driver_sql(statement)
                if analyze:
                    connection.exec_driver_sql("ANALYZE")
            setup = time.perf_counter() - started
            report(store, url, args, counts, setup, analyze)
        finally:
            store.dispose()


def report(store: Store, url: str, args, counts: dict[str, int], setup: float, analyze: bool) -> None:
    reader = store.engine.execution_options(**{READONLY: True})
    client = create_app(Settings(url), store=store).test_client()
    capture = Capture(store)
    with store.reading() as uow:
        ready = uow.session.scalar(select(func.count()).select_from(Task).where(Task.status == "ready"))
        employees = {e.username: e for e in uow.session.scalars(select(Employee))}
        actors = {q.username: actor_for(uow, employees[q.username]) for q in QUERIES}
    headers = {}
    for username in actors:
        response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
        assert response.status_code == 200, response.data
        headers[username] = {"Authorization": f"Bearer {response.json['token']}"}

    print(f"backend: {args.backend}; {ready:,} ready tasks ({args.tasks:,} inserted in {setup:.1f} s, "
          f"{'with' if analyze else 'without'} ANALYZE); per department: "
          + ", ".join(f"{key} {count:,}" for key, count in counts.items()))
    for statement in args.try_index:
        print(f"extra index (--try-index): {statement}")
    print(f"up to {args.requests} timed requests per query and layer (+{WARMUP} warm-up), layers "
          f"interleaved, at most {args.budget:.0f} s per query; target: http p95 <= {TARGET * 1000:.0f} ms")
    total_started = time.perf_counter()
    for number, query in enumerate(QUERIES, 1):
        actor = actors[query.username]
        capture.on, capture.statements = True, []
        first = run_service(store, actor, query)
        capture.on = False
        query.statements = capture.statements
        assert len(query.statements) == len(first), (query.label, len(query.statements), len(first))
        layers = {"http": lambda q=query: run_http(client, headers[q.username], q),
                  "service": lambda q=query, a=actor: run_service(store, a, q),
                  "sql": lambda q=query: run_sql(reader, q),
                  "raw": lambda q=query, a=actor: run_raw(reader, a.department_key, q.pages)}
        names = list(layers)
        rounds = max(1, -(-args.requests // query.pages))
        for _ in range(max(1, WARMUP // query.pages)):
            for run in layers.values():
                run()
        rows_returned = {}
        deadline = time.perf_counter() + args.budget
        for i in range(rounds):
            if i >= MIN_ROUNDS and time.perf_counter() > deadline:
                break  # a slow query: stop at the time budget (n is printed)
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                result = layers[name]()
                query.samples[name] += [elapsed for elapsed, _ in result]
                rows_returned[name] = [count for _, count in result]
        print_query(number, query, actor, rows_returned)
        http_p95 = percentile(query.samples["http"], 95)
        if args.explain or http_p95 > TARGET:
            which = "page 2 of the walk" if query.pages > 1 and len(query.statements) > 1 else "the query"
            statement, parameters = query.statements[1 if which.startswith("page") else 0]
            command = "EXPLAIN (ANALYZE, BUFFERS)" if args.backend == "postgresql" else "EXPLAIN QUERY PLAN"
            print(f"    plan of {which} ({command}):")
            print("      SQL: " + " ".join(statement.split()))
            print(f"      parameters: {parameters}")
            for line in explain(reader, statement, parameters):
                print("      " + line)
    if args.explain:
        print("plan of the raw baseline:")
        with reader.connect() as connection:
            compiled = RAW_SQL.compile(dialect=connection.dialect)
        department = actors["li.qa"].department_key
        params = {"department": department} if args.backend == "postgresql" else (department,)
        for line in explain(reader, str(compiled), params):
            print("      " + line)
    print(f"timed part: {time.perf_counter() - total_started:.1f} s")


def print_query(number: int, query: Query, actor, rows_returned: dict[str, list[int]]) -> None:
    params = "&".join(f"{key}={value}" for key, value in query.params.items())
    print(f"\n[{number}] {query.label}: {query.username} (department {actor.department_key}, "
          f"oversees {','.join(sorted(actor.overseen))})\n    GET /api/v1/tasks?{params}"
          f"    rows per page: {rows_returned['http']}")
    p50 = {name: percentile(values, 50) for name, values in query.samples.items()}
    for name, values in query.samples.items():
        verdict = ""
        if name == "http":
            p95 = percentile(values, 95)
            verdict = f"   p95 <= {TARGET * 1000:.0f} ms: {'MET' if p95 <= TARGET else 'NOT MET'}"
        print(f"    {name:<8} n={len(values):<4} p50 {ms(p50[name])}  p95 {ms(percentile(values, 95))}"
              f"  max {ms(max(values))}{verdict}")
    print(f"    ratios (p50): http/service {p50['http'] / p50['service']:.2f}x   "
          f"http/raw {p50['http'] / p50['raw']:.1f}x   service/raw {p50['service'] / p50['raw']:.1f}x   "
          f"sql/raw {p50['sql'] / p50['raw']:.1f}x")


if __name__ == "__main__":
    main()
