"""A unit of work per use case: one session, one transaction, commit or nothing.

Every state change and the event it produces are flushed in the same transaction;
a lost optimistic-locking race surfaces as `Conflict`, never as a half-written change.
"""
from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.errors import Conflict
from services.persistence.db import create_db_engine, session_factories


def lost_race() -> Conflict:
    return Conflict("the process instance was changed by someone else; reload and retry")


class UnitOfWork:
    def __init__(self, session: Session):
        self.session = session
        self._connection: Connection | None = None

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.session.rollback()
        self.session.close()
        if isinstance(exc, StaleDataError):  # raised by an autoflush inside the use case
            raise lost_race() from None

    def commit(self) -> None:
        try:
            self.session.commit()
        except StaleDataError:
            self.session.rollback()
            raise lost_race() from None
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
        except StaleDataError:
            raise lost_race() from None


class Store:
    """The database of one DutyFlow deployment; hands out units of work."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.engine: Engine = create_db_engine(database_url)
        self._writing, self._reading = session_factories(self.engine)

    def writing(self) -> UnitOfWork:
        return UnitOfWork(self._writing())

    def reading(self) -> UnitOfWork:
        return UnitOfWork(self._reading())

    def dispose(self) -> None:
        self.engine.dispose()
