"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is required, not optional: set DUTYFLOW_TEST_POSTGRES_URL (the Makefile
does). Each test session works in its own schema so parallel runs never collide;
each test starts from empty tables.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.persistence.models import Base
from services.persistence.schema import init_db
from services.persistence.unit_of_work import Store

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
POSTGRES_URL = os.environ.get("DUTYFLOW_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    store = Store(f"sqlite:///{path}")
    init_db(store)
    store.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    schema = f"dutyflow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store(url.render_as_string(hide_password=False))
    init_db(store)
    store.dispose()
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "dutyflow.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def store(database_url):
    store = Store(database_url)
    yield store
    store.dispose()


def read_bpmn(name: str) -> bytes:
    return (BPMN_DIR / name).read_bytes()
