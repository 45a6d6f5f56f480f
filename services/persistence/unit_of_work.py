"""A unit of work per use case: one session, one transaction, commit or nothing.

Every state change and the event it produces are flushed in the same transaction;
a lost optimistic-locking race surfaces as `Conflict`, never as a half-written change.

Who commits: the use case, always. Its caller (a route, a page, a command, a test)
opens the unit of work with `store.writing()` and never commits; leaving the `with`
block without a commit rolls back. Functions that are steps of use cases (the audit
trail, `revoke_credentials`, the step statements) never commit, so a use case can
compose them into one transaction. `idempotency.once` holds a use case's commit
until the answer to replay is stored with it.

A step's writes are queued with `later` and sent together at the next read or commit
(see services.persistence.write_batch): on PostgreSQL as one statement, each write a
data-modifying CTE, so a completion's writes cost one round trip instead of six.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.errors import Conflict
from services.persistence.caches import LockedLRU
from services.persistence.db import create_db_engine, session_factories
from services.persistence.models import Base
from services.persistence.write_batch import Write, WriteBatch

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
        self._later = WriteBatch()
        session.info["unit_of_work"] = self  # its ORM reads and flushes send `later` first

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._later.clear()
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
            self.send_later()
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
        Queued writes go first, unless it is a SELECT of tables none of them writes.
        """
        if self._later and not self._later.unaffected(statement):
            self.send_later()
        return self._connection_now().execute(statement, parameters)

    def later(self, statement, parameters=None, *, conflict: Conflict | None = None) -> None:
        """Queue a write to send with the next read, flush or commit (in the order queued).

        `conflict`: what to raise if it did not change exactly one row (an optimistic
        lock, a task someone else closed); the unit of work then rolls back.
        """
        write = Write(statement, parameters, conflict)
        if self._later.must_send_before(write):
            self.send_later()
        self._connection_now()  # in the transaction now, so that its rollback drops it
        self._later.add(write)

    def connection(self) -> Connection:
        """This unit of work's connection, for Core work of its own (an aggregate, a COPY),
        with the queued writes sent first: they came before it."""
        self.send_later()
        return self._connection_now()

    def send_later(self) -> None:
        """Send the queued writes now (as one statement where the database allows)."""
        if self._later:
            self._later.send(self._connection_now())

    def _connection_now(self) -> Connection:
        connection = self._connection
        if connection is None or connection.closed:
            connection = self._connection = self.session.connection()
        return connection

    def flush(self) -> None:
        try:
            self.send_later()
            self.session.flush()
        except StaleDataError as err:
            raise _stale(err) from None


def _send_later_first(session: Session, *_args) -> None:
    """Before an ORM read or flush, the unit of work's queued writes (they came first)."""
    uow = session.info.get("unit_of_work")
    if uow is not None:
        uow.send_later()


def _send_later_before(orm_execute_state) -> None:
    _send_later_first(orm_execute_state.session)


def _drop_later(session: Session, *_args) -> None:
    uow = session.info.get("unit_of_work")
    if uow is not None:
        uow._later.clear()


class Store:
    """The database of one DutyFlow deployment; hands out units of work.

    It owns the caches of what is derived from that database's rows, so they live and
    die with it and no other Store (another database) can be served from them.
    """

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.engine: Engine = create_db_engine(database_url)
        self._writing, self._reading = session_factories(self.engine)
        event.listen(self._writing, "do_orm_execute", _send_later_before)
        event.listen(self._writing, "before_flush", _send_later_first)
        event.listen(self._writing, "after_soft_rollback", _drop_later)
        self.models = LockedLRU(MODEL_CACHE_SIZE)
        self.directories = LockedLRU(DIRECTORY_CACHE_SIZE)

    def writing(self) -> UnitOfWork:
        return UnitOfWork(self._writing(), self.models, self.directories)

    def reading(self) -> UnitOfWork:
        return UnitOfWork(self._reading(), self.models, self.directories)

    def dispose(self) -> None:
        self.engine.dispose()
