"""A unit of work per use case: one session, one transaction, commit or nothing.

Every state change and the event it produces are flushed in the same transaction;
a lost optimistic-locking race surfaces as `Conflict`, never as a half-written change.
"""
from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .db import create_db_engine, session_factories
from .errors import Conflict


def _lost_race() -> Conflict:
    return Conflict("the process instance was changed by someone else; reload and retry")


class UnitOfWork:
    def __init__(self, session: Session):
        self.session = session

    def __enter__(self) -> "UnitOfWork":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.session.rollback()
        self.session.close()
        if isinstance(exc, StaleDataError):  # raised by an autoflush inside the use case
            raise _lost_race() from None

    def commit(self) -> None:
        try:
            self.session.commit()
        except StaleDataError:
            self.session.rollback()
            raise _lost_race() from None
        except OperationalError as err:
            self.session.rollback()
            if "locked" in str(err).lower() or "deadlock" in str(err).lower():
                raise Conflict("the database is busy with a conflicting change; retry") from None
            raise

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError:
            raise _lost_race() from None


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
