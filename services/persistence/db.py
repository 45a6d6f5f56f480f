"""Database engines and sessions, with the transaction semantics DutyFlow relies on.

SQLite: WAL, foreign keys, and `BEGIN IMMEDIATE` for writing units of work, so two
writers queue instead of one failing half-way with "database is locked"; readers
keep plain deferred transactions. PostgreSQL: read committed for writers, with the
instance row locked by each step and its version checked (services.persistence.step_store);
readers in autocommit, which under read committed sees exactly the same data.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

READONLY = "dutyflow_readonly"


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        readonly = connection.get_execution_options().get(READONLY, False)
        # Straight to the driver: every unit of work starts here, and BEGIN needs none of
        # SQLAlchemy's statement handling.
        connection.connection.driver_connection.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def session_factories(engine: Engine) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """(writing, reading) session factories over one engine."""
    writing = sessionmaker(engine, expire_on_commit=False)
    options = {READONLY: True}
    if engine.dialect.name == "postgresql":
        # Under READ COMMITTED every statement takes a fresh snapshot anyway, so readers
        # lose nothing in autocommit and save the BEGIN and ROLLBACK round trips.
        options["isolation_level"] = "AUTOCOMMIT"
    reading = sessionmaker(engine.execution_options(**options), expire_on_commit=False)
    return writing, reading
