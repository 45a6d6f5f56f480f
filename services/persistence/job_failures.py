"""Background jobs that raised, counted in the database.

A Celery worker serves no HTTP and a scrape reaches only the web processes, so a failure
counted in a worker's memory would never be seen. Each failure is one upsert here, in a
transaction of its own (the job's own transaction was rolled back with its error), and
`/metrics` reads the counts at scrape time: the same figures from every node, summed over
every worker that ever ran the job.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.persistence.models import JobFailure, utcnow
from services.persistence.unit_of_work import Store, UnitOfWork

_ERROR_CHARS = 1000
log = logging.getLogger(__name__)


def record_failure(store: Store, job: str, error: BaseException | str) -> None:
    """Count one failure of `job` (its name, e.g. `dutyflow.payroll_export`)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    values = {"job": job[:100], "failures": 1, "last_failed_at": utcnow(),
              "last_error": text[:_ERROR_CHARS]}
    with store.writing() as uow:
        insert = postgresql_insert if uow.session.get_bind().dialect.name == "postgresql" \
            else sqlite_insert
        statement = insert(JobFailure.__table__).values(**values)
        uow.session.execute(statement.on_conflict_do_update(
            index_elements=["job"],
            set_={"failures": JobFailure.__table__.c.failures + 1,
                  "last_failed_at": statement.excluded.last_failed_at,
                  "last_error": statement.excluded.last_error}))
        uow.commit()


def count_failure(store: Store, job: str, error: BaseException) -> None:
    """record_failure for a job's error handler: a database that is down too (often the
    very failure) leaves a log line instead of a second exception."""
    try:
        record_failure(store, job, error)
    except Exception:
        log.warning("job %s failed and its failure could not be counted", job, exc_info=True)


def failures_by_job(uow: UnitOfWork) -> dict[str, int]:
    """{job name: failures since the database was made}."""
    return dict(uow.session.execute(select(JobFailure.job, JobFailure.failures)).all())
