"""A unit of work per use case: one session, one transaction, commit or nothing.

Every state change and the event it produces are flushed in the same transaction;
a lost optimistic-locking race surfaces as `Conflict`, never as a half-written change.

Who commits: the use case, always. Its caller (a route, a page, a command, a test)
opens the unit of work with `store.writing()` and never commits; leaving the `with`
block without a commit rolls back. Functions that are steps of use cases (the audit
trail, `revoke_credentials`, the step statements) never commit, so a use case can
compose them into one transaction. `idempotency.once` holds a use case's commit
until the answer to replay is stored with it.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.errors import Conflict
from services.persistence.caches import LockedLRU
from services.persistence.db import create_db_engine, session_factories
from services.persistence.models import Base

MODEL_CACHE_SIZE = 256
DIRECTORY_CACHE_SIZE = 64


def lost_race(record: str = "the process instance") -> Conflict:
    return Conflict(f"{record} was changed by someone else; reload and retry")


def _stale(err: StaleDataError) -> Conflict:
    """The lost race of an ORM-versioned row (`version_id_col`), named by its table's
    `info["record"]`; SQLAlchemy's message is the one place that names the table."""
    found = re.search(r"on table '(\w+)'", str(err))
    table = Base.metadata.tables.get(found[1]) if found else None
    return lost_race(table.info.get("record", "a record") if table is not None else "a record")


class UnitOfWork:
    """One transaction, and the caches of the Store that opened it.

    `models`: compiled process models by (checksum, process key), see
    services.workflow.definitions.model_of; `directories`: lane routing by org
    revision, see services.org.directory.Directory.at_revision.
    """

    def __init__(self, session: Session, models: LockedLRU, directories: LockedLRU):
        self.session = session
        self.models = models
        self.directories = directories
        self._connection: Connection | None = None
        self._before_commit: list[Callable[[], None]] = []

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.session.rollback()
        self.session.close()
        if isinstance(exc, StaleDataError):  # raised by an autoflush inside the use case
            raise _stale(exc) from None

    def before_commit(self, work: Callable[[], None]) -> None:
        """Run `work` in this transaction when the use case commits, after everything it
        did: a step whose outcome moves other instances (a call activity starts a child, a
        child's end runs its caller on) leaves that to when its own rows are written."""
        self._before_commit.append(work)

    def settle(self) -> None:
        """Run the work left for the commit, and the work it leaves in turn."""
        while self._before_commit:
            self._before_commit.pop(0)()

    def commit(self) -> None:
        self.settle()
        try:
            self.session.commit()
        except StaleDataError as err:
            self.session.rollback()
            raise _stale(err) from None
        except OperationalError as err:
            self.session.rollback()
            if "locked" in str(err).lower() or "deadlock" in str(err).lower():
                raise Conflict("the database is busy with a conflicting change; retry") from None
            raise

    def core(self, statement, parameters=None):
        """Run a prebuilt Core statement on this unit of work's connection and transaction.

        For the statements every request runs (auth, a step's reads and writes): no ORM
        compile step, no cache-key walk over a statement built anew per call, and the
        session's connection looked up once (it closes when the transaction ends).
        """
        connection = self._connection
        if connection is None or connection.closed:
            connection = self._connection = self.session.connection()
        return connection.execute(statement, parameters)

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as err:
            raise _stale(err) from None


class Store:
    """The database of one DutyFlow deployment; hands out units of work.

    It owns the caches of what is derived from that database's rows, so they live and
    die with it and no other Store (another database) can be served from them.
    """

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.engine: Engine = create_db_engine(database_url)
        self._writing, self._reading = session_factories(self.engine)
        self.models = LockedLRU(MODEL_CACHE_SIZE)
        self.directories = LockedLRU(DIRECTORY_CACHE_SIZE)

    def writing(self) -> UnitOfWork:
        return UnitOfWork(self._writing(), self.models, self.directories)

    def reading(self) -> UnitOfWork:
        return UnitOfWork(self._reading(), self.models, self.directories)

    def dispose(self) -> None:
        self.engine.dispose()
