"""A database that cannot be reached answers 503 with Retry-After, and is logged once.

Without this, every request during an outage was a 500 with a traceback in the log
(thousands a minute, drowning everything else) and the client could not tell "retry
later" from a bug. Errors that mean "cannot reach it / it is busy" are told apart from
real bugs (a missing table, bad SQL), which stay 500s with their traceback.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time

from flask import Flask, Response, jsonify
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.persistence.health import ping

from .errors import answer, internal_error

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
# What may mean an outage: SQLAlchemy wraps driver errors in the first two; a pool whose
# connections all died raises the third, an exhausted pool the fourth. SQLite's
# `BEGIN IMMEDIATE` goes straight to the driver (services/persistence/db.py), so its "database is
# locked" arrives unwrapped.
DATABASE_ERRORS = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout,
                   sqlite3.OperationalError)
# PostgreSQL SQLSTATEs of a server that will not serve us now: class 08 (connection
# exception) is matched by prefix; admin, crash shutdown, starting up or shutting down,
# too many connections, a statement cancelled by statement_timeout (the readiness probe's).
_POSTGRES_UNAVAILABLE = {"57P01", "57P02", "57P03", "53300", "57014"}
_SQLITE_UNAVAILABLE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}


def is_unavailable(err: BaseException) -> bool:
    """True when the error says the database cannot serve us now, not that we have a bug."""
    if isinstance(err, (DisconnectionError, PoolTimeout)):
        return True
    if isinstance(err, DBAPIError):
        if err.connection_invalidated:
            return True
        err = err.orig
    if isinstance(err, sqlite3.Error):
        # Primary result code: the low byte of SQLite's extended code.
        return (getattr(err, "sqlite_errorcode", 0) & 0xFF) in _SQLITE_UNAVAILABLE
    sqlstate = getattr(err, "sqlstate", None)
    # psycopg: a server that answered always sends a SQLSTATE; an operational or interface
    # error without one comes from the connection itself (refused, reset, closed).
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _POSTGRES_UNAVAILABLE


def _reason(err: BaseException) -> str:
    cause = err.orig if isinstance(err, DBAPIError) else err
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


class OutageLog:
    """One WARNING when the database stops answering, one when it answers again.

    Failures in between are only counted. Thread-safe: waitress serves requests from
    several threads, any of which may see the first failure or the first answer.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = 0
        self._since = 0.0

    def failed(self, err: BaseException) -> None:
        with self._lock:
            self._failures += 1
            if self._failures > 1:
                return
            self._since = time.monotonic()
        log.warning("database unavailable (%s); answering 503 until it is back", _reason(err))

    def answered(self, *_event_args) -> None:
        """Called after every statement the database ran: the outage, if any, is over."""
        if not self._failures:  # the usual case, decided without taking the lock
            return
        with self._lock:
            failures, self._failures = self._failures, 0
            seconds = time.monotonic() - self._since
        if failures:
            log.warning("database is back after %d failed requests over %.1f s", failures,
                        seconds)


def _unavailable() -> Response:
    response = answer(503, "Service unavailable",
                      f"the database is unavailable; retry in {RETRY_AFTER_SECONDS} s")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _not_ready(**details) -> Response:
    response = jsonify(status="unavailable", **details)
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _broker_answers(url: str) -> bool:
    from .jobs import check_broker  # Celery's transport, loaded only where a broker is used
    try:
        check_broker(url)
    except Exception as err:  # kombu raises the transport's own errors (redis, amqp)
        log.warning("the job broker does not answer: %s", _reason(err))
        return False
    return True


def install(app: Flask) -> None:
    """503 for database outages, their log, and the `/readyz` probe that checks the database
    (and the job broker, when one is configured)."""
    store = app.extensions["dutyflow_store"]
    broker_url = app.config["DUTYFLOW_SETTINGS"].broker_url
    outage = OutageLog()
    event.listen(store.engine, "after_cursor_execute", outage.answered)

    def database_error(err: Exception) -> Response:
        if not is_unavailable(err):
            return internal_error(err)
        outage.failed(err)
        return _unavailable()

    for kind in DATABASE_ERRORS:
        app.register_error_handler(kind, database_error)

    @app.get("/readyz")
    def ready():
        """Readiness: the database answers `SELECT 1`, and the broker a connection when
        DUTYFLOW_BROKER_URL is set (/healthz only says the process runs)."""
        try:
            ping(store)
        except DATABASE_ERRORS as err:
            if not is_unavailable(err):
                raise
            outage.failed(err)
            return _not_ready()
        if broker_url and not _broker_answers(broker_url):
            return _not_ready(unreachable="broker")
        return jsonify(status="ready")
