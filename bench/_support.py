"""Shared by the benchmarks: throwaway databases, the demo org and diagrams, percentiles.

Benchmarks never touch instance/: SQLite lives in a temporary directory, PostgreSQL in
a fresh schema (like tests/conftest.py) that is dropped afterwards.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services.org import org_file  # noqa: E402
from services.persistence.schema import init_db  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.workflow import definitions  # noqa: E402

BPMN_DIR = ROOT / "bpmn"
POSTGRES_URL = os.environ.get("DUTYFLOW_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def temporary_database(backend: str, postgres_url: str = POSTGRES_URL) -> Iterator[str]:
    """A migrated, empty database; yields its URL and removes it afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="dutyflow-bench-") as directory:
            url = f"sqlite:///{directory}/bench.db"
            migrate(url)
            yield url
        return
    schema = f"dutyflow_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    url = url.render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def migrate(url: str) -> None:
    """Bring a database to the newest schema, as `dutyflow init-db` does."""
    store = Store(url)
    try:
        init_db(store)
    finally:
        store.dispose()


def load_org_and_diagrams(store: Store) -> None:
    """What `dutyflow org import bpmn/demo_org.yaml` and `dutyflow deploy bpmn/*.bpmn` do."""
    with store.writing() as uow:
        org_file.import_org(uow, (BPMN_DIR / "demo_org.yaml").read_text("utf-8"), "bpmn/demo_org.yaml",
                       "bench")
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        definitions.deploy(store, path.read_bytes(), f"bpmn/{path.name}", "bench")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"
