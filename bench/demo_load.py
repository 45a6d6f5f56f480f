"""How long `dutyflow serve --demo` takes to build the demo (issue 17: under 30 s).

Loads the demo into a fresh SQLite file and, with --postgres URL, into a fresh PostgreSQL
database created for the run (and dropped after), and prints each time with its share of
the 30-second budget; the org import and deploys alone are measured in the same run as the
baseline the history and open work add to.

    .venv/bin/python bench/demo_load.py [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services import demo  # noqa: E402
from services.org import org_file  # noqa: E402
from services.persistence.schema import init_db  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.workflow import definitions, engine_steps  # noqa: E402

BUDGET = 30.0


def timed_load(url: str, full: bool) -> float:
    store = Store(url)
    init_db(store)
    started = time.perf_counter()
    if full:
        demo.load_demo(store)
    else:  # the baseline: org and diagrams only (a second load_demo returns early)
        with store.writing() as uow:
            org_file.import_org(uow, demo.SHIPPED.joinpath("demo_org.yaml").read_text("utf-8"),
                                "bpmn/demo_org.yaml", "demo")
        for entry in sorted(demo.SHIPPED.iterdir(), key=lambda entry: entry.name):
            if entry.name.endswith(".bpmn"):
                definitions.deploy(store, entry.read_bytes(), f"bpmn/{entry.name}", "demo")
    seconds = time.perf_counter() - started
    store.dispose()
    return seconds


def postgres_database(server_url: str):
    """A fresh database on the server of `server_url`; returns (url, drop)."""
    name = f"dutyflow_demo_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL to measure on as well")
    args = parser.parse_args()
    engine_steps.pool().warm()
    targets = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    for backend, server in targets:
        figures = {}
        for full in (False, True):
            if server:
                url, drop = postgres_database(server)
            else:
                url, drop = f"sqlite:///{tempfile.mkdtemp()}/demo.db", (lambda: None)
            try:
                figures[full] = timed_load(url, full)
            finally:
                drop()
        print(f"{backend:10} org+diagrams {figures[False]:5.1f} s   whole demo {figures[True]:5.1f} s "
              f"({figures[True] / figures[False]:.1f}x the baseline, "
              f"{figures[True] / BUDGET:.0%} of the {BUDGET:.0f} s budget)")


if __name__ == "__main__":
    main()
