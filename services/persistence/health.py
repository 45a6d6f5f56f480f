"""Whether the database answers, for a readiness probe."""
from __future__ import annotations

from sqlalchemy import text

from services.persistence.unit_of_work import Store

READY_TIMEOUT_MS = 2000


def ping(store: Store) -> None:
    """Run `SELECT 1`; raises the driver's error when the database does not answer.

    On PostgreSQL the statement may wait at most READY_TIMEOUT_MS, so a stuck server fails
    the probe instead of hanging it (`SET LOCAL` needs a transaction, hence a writing unit
    of work, which takes no lock there). SQLite readers in WAL mode never wait for writers,
    so a reading unit of work is enough and takes no write lock from real work.
    """
    postgres = store.engine.dialect.name == "postgresql"
    with (store.writing() if postgres else store.reading()) as uow:
        if postgres:
            uow.session.execute(text(f"SET LOCAL statement_timeout = {READY_TIMEOUT_MS}"))
        uow.session.execute(text("SELECT 1"))
