"""Database engines and sessions, with the transaction semantics DutyFlow relies on.

SQLite: WAL, foreign keys, and `BEGIN IMMEDIATE` for writing units of work, so two
writers queue instead of one failing half-way with "database is locked"; readers
keep plain deferred transactions. PostgreSQL: read committed for writers, with the
instance row locked by each step and its version checked (services.persistence.step_store);
readers in autocommit, which under read committed sees exactly the same data.
A pooled PostgreSQL connection is pinged before use only when it sat idle for a while
(`IDLE_PING_SECONDS`): every request checks out one or two, and a ping on each checkout
was a round trip each. psycopg's parse of a statement's placeholders is cached for the long
statements too (`_parse_long_statements_once`).
"""
from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

READONLY = "dutyflow_readonly"
IDLE_PING_SECONDS = 5.0


# Statements psycopg parses once per process, however long: enough for every shape of a
# step's combined write (services.persistence.write_batch keeps at most 512 of them).
LONG_STATEMENT_BYTES = 64 * 1024
LONG_STATEMENT_PARAMETERS = 1024


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        _parse_long_statements_once()
        return _begin_with_first_statement(
            _ping_when_idle(create_engine(url, pool_size=10, max_overflow=20)))
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


def _parse_long_statements_once() -> None:
    """Let psycopg cache its parse of long statements as it does of short ones.

    psycopg turns `%(name)s` placeholders into `$1...` with a regular-expression pass over
    the text and caches the result, but not for statements over 4 KB or 50 parameters:
    ORM-built multi-row INSERTs rarely repeat. A step's combined write (one CTE per write,
    about 60 parameters) is over both and repeats all day, so every completion paid the
    pass again: 0.4 ms of CPU, a tenth of the server's share of a completion (measured with
    bench/throughput.py's CPU figures). The limits are psycopg's module settings; where a
    psycopg release lacks them, nothing changes.
    """
    try:
        from psycopg import _queries
    except ImportError:
        return
    for name, value in (("MAX_CACHED_STATEMENT_LENGTH", LONG_STATEMENT_BYTES),
                        ("MAX_CACHED_STATEMENT_PARAMS", LONG_STATEMENT_PARAMETERS)):
        if getattr(_queries, name, value) < value:
            setattr(_queries, name, value)


def _ping_when_idle(engine: Engine) -> Engine:
    """SQLAlchemy's pool_pre_ping, but only for a connection idle over IDLE_PING_SECONDS.

    Those are the ones a database restart, a failover or a firewall's idle timeout has
    cut: the ping finds it and the pool opens a fresh connection instead, so no request
    fails. A connection used within the last seconds is handed out as it is; if the
    database went away meanwhile, the request's statement fails and SQLAlchemy drops every
    connection of the pool that is older than that failure.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection, record):
        record.info["idle_from"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        idle_from = record.info.pop("idle_from", None)
        if idle_from is None or time.monotonic() - idle_from < IDLE_PING_SECONDS:
            return  # new, or in use moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            raise DisconnectionError("the pooled connection is gone") from err  # pool reconnects

    return engine


def _begin_with_first_statement(engine: Engine) -> Engine:
    """On PostgreSQL, a transaction's BEGIN goes out with its first statement, in one
    round trip instead of two.

    psycopg sends BEGIN on its own and waits for the answer before the statement; in a
    pipeline block it queues the BEGIN and sends both together, and leaving the block
    waits for both results, so the cursor is then exactly as after a plain execute (its
    rows, rowcount and any error). Only that first statement runs so: every later one is
    the usual execute, whose answer the caller needs before going on.
    """

    @event.listens_for(engine, "do_execute")
    def _first_statement_with_begin(cursor, statement, parameters, context):
        connection = cursor.connection
        status = connection.info.transaction_status
        # A reader, a statement inside a transaction already, or a server-side cursor
        # (which a pipeline cannot run): the plain execute.
        if connection.autocommit or status != type(status).IDLE \
                or context.execution_options.get("stream_results"):
            return None
        with connection.pipeline():
            cursor.execute(statement, parameters)
        return True

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
