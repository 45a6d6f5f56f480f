"""Migrating running instances: instances per second of a real run, on SQLite and
PostgreSQL. Target: >= 200 instances/s on each.

The inspection process of tests/services/migration_diagrams.py: 20 instances are started
through the service (10 waiting at `inspect` with its reminder timer, 10 at `approve`),
then cloned with fresh task ids (state, task and timer rows) up to --instances. Version 2
adds a required field and a deadline to `inspect`, plans its timer again and moves
`approve` to the Warehouse, so every instance changes state, a task row and a timer or
its department. `services.workflow.migration.create` plans and records the migration,
`run` migrates it in batches, each instance in its own transaction through a sandbox
worker, exactly as the API and `dutyflow migrate` do. The figure is instances / seconds
of `run`; `create` (the plan of every instance) is printed beside it.

    .venv/bin/python bench/migration.py [--backend sqlite|postgresql|both] [--instances 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import temporary_database  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from services.identity.access import actor_named  # noqa: E402
from services.persistence.models import InstanceAction, ProcessInstance, Task, Timer  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.workflow import migration  # noqa: E402
from tests.services.helpers import complete, import_demo_org  # noqa: E402
from tests.services.migration_diagrams import KEY, deploy_version, start_many  # noqa: E402

TARGET = 200.0
TEMPLATES = 20
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def prepare(store: Store, count: int) -> None:
    import_demo_org(store)
    deploy_version(store, 1)
    ids = start_many(store, TEMPLATES)
    for instance_id in ids[:TEMPLATES // 2]:
        complete(store, instance_id, "inspect", "li.qa", {"result": "pass"})
    clone(store, ids, count - TEMPLATES)
    deploy_version(store, 2)


def clone(store: Store, template_ids: list[int], count: int) -> None:
    """`count` more instances like the templates: the same state and open rows, with fresh
    task and timer ids (the state's UUIDs), inserted with Core executemany."""
    pi, tk, tm = ProcessInstance.__table__, Task.__table__, Timer.__table__
    with store.engine.connect() as connection:
        instances = [dict(row) for row in connection.execute(
            select(pi).where(pi.c.id.in_(template_ids))).mappings()]
        tasks = [dict(row) for row in connection.execute(
            select(tk).where(tk.c.process_instance_id.in_(template_ids),
                             tk.c.status == "ready")).mappings()]
        timers = [dict(row) for row in connection.execute(
            select(tm).where(tm.c.process_instance_id.in_(template_ids),
                             tm.c.status == "pending")).mappings()]
        next_id = connection.scalar(select(func.max(pi.c.id))) + 1
    for start in range(0, count, 1000):
        rows: dict[str, list] = {"instances": [], "tasks": [], "timers": []}
        for number in range(start, min(count, start + 1000)):
            template = instances[number % len(instances)]
            fresh: dict[str, str] = {}
            state = UUID.sub(lambda found: fresh.setdefault(found.group(0), str(uuid.uuid4())),
                             json.dumps(template["state"]))
            instance_id = next_id + number
            rows["instances"].append({**template, "id": instance_id, "state": json.loads(state),
                                      "business_key": f"LOT-CLONE-{number}"})
            rows["tasks"] += [{**row, "id": fresh[row["id"]], "process_instance_id": instance_id}
                              for row in tasks if row["process_instance_id"] == template["id"]]
            rows["timers"] += [{**row, "id": fresh[row["id"]], "process_instance_id": instance_id}
                               for row in timers if row["process_instance_id"] == template["id"]]
        with store.engine.begin() as connection:
            connection.execute(pi.insert(), rows["instances"])
            connection.execute(tk.insert(), rows["tasks"])
            if rows["timers"]:
                connection.execute(tm.insert(), rows["timers"])
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as connection:
            connection.execute(text("SELECT setval(pg_get_serial_sequence('process_instances', "
                                    "'id'), (SELECT max(id) FROM process_instances))"))


def measure(backend: str, count: int) -> float:
    with temporary_database(backend) as url:
        store = Store(url)
        try:
            began = time.perf_counter()
            prepare(store, count)
            prepared = time.perf_counter() - began
            began = time.perf_counter()
            with store.writing() as uow:
                migration_id = migration.create(uow, actor_named(uow, "chen.design"), KEY, 1, 2,
                                                "bench").id
            planned = time.perf_counter() - began
            began = time.perf_counter()
            migrated = migration.run(store, migration_id)
            seconds = time.perf_counter() - began
            with store.reading() as uow:
                actions = uow.session.scalar(select(func.count()).where(
                    InstanceAction.kind == "migrated"))
                on_v2 = uow.session.scalar(select(func.count()).where(
                    ProcessInstance.process_version == 2))
            assert migrated == actions == on_v2 == count, (migrated, actions, on_v2)
        finally:
            store.dispose()
    rate = count / seconds
    print(f"{backend:10} {count} instances: setup {prepared:6.1f} s, plan+record "
          f"{planned:5.1f} s, run {seconds:6.1f} s = {rate:7.1f} instances/s "
          f"({rate / TARGET:.2f}x the target of {TARGET:.0f}/s)", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--instances", type=int, default=10_000)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rates = {backend: measure(backend, args.instances) for backend in backends}
    verdict = all(rate >= TARGET for rate in rates.values())
    print("load average (1, 5, 15 min): " + ", ".join(f"{load:.1f}" for load in os.getloadavg())
          + f" on {os.cpu_count()} CPUs")
    print(f"target >= {TARGET:.0f} instances/s on each: {'met' if verdict else 'NOT met'}")


if __name__ == "__main__":
    main()
