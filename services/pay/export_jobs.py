"""Payroll exports made by a background job, for organisations whose runs are too large to
export within a request.

Asking for one (`request_export`) stores a queued `payroll_exports` row and nothing more;
the caller hands its id to a job (web.jobs: a Celery worker, or a thread of the serving
process when there is no broker) and answers at once. The job (`make_export`) makes the
file with services.pay.exports, the very code of the direct download, and stores it in
the row in the transaction that marks the row ready. So the job is idempotent: a worker
killed half-way commits nothing and leaves the row queued, and the rerun (the message
goes back on the queue: acks_late) makes the file once; a job run twice, or on two workers
at once, finds the row ready (or waits on its lock) and does nothing. HR and admins see
the row, poll it, and download the file once it is ready.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from services.errors import Conflict, InvalidInput, NotFound
from services.identity.actor import Actor
from services.pay import exports
from services.pay.payroll_runs import get_run, load_run
from services.persistence.models import PayrollExport, utcnow
from services.persistence.statuses import ExportStatus
from services.persistence.unit_of_work import Store, UnitOfWork
from services.workflow.views import iso

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_ERROR_CHARS = 1000


def request_export(uow: UnitOfWork, actor: Actor, run_id: int, file_format: str) -> PayrollExport:
    """A queued export of a run (HR or admin), for a job to make."""
    run = get_run(uow, actor, run_id)
    if file_format not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}",
                           {"format": [f"Must be one of: {', '.join(FORMATS)}."]})
    row = PayrollExport(run_id=run.id, format=file_format, status=ExportStatus.QUEUED,
                        requested_by=actor.username, requested_at=utcnow(), attempts=0)
    uow.session.add(row)
    uow.commit()
    return row


def get_export(uow: UnitOfWork, actor: Actor, export_id: int) -> PayrollExport:
    """An export and its status (HR or admin)."""
    actor.require("hr", "admin")
    row = uow.session.get(PayrollExport, export_id)
    if row is None:
        raise NotFound(f"no payroll export {export_id}")
    return row


def export_file(uow: UnitOfWork, actor: Actor, export_id: int) -> tuple[str, str, bytes]:
    """(file name, media type, bytes) of a ready export (HR or admin); 409 before."""
    row = get_export(uow, actor, export_id)
    if row.status != ExportStatus.READY:
        detail = f"payroll export {export_id} is {row.status}"
        raise Conflict(detail + (f": {row.error}" if row.error else ", not ready yet"))
    return row.filename, FORMATS[row.format], row.content


def make_export(store: Store, export_id: int) -> str:
    """The job: make the export's file and store it with the row, once.

    Raises LookupError for an unknown export. When making the file raises, the row is
    marked failed (with the error) in a transaction of its own and the error goes on up,
    for the job's failure to be counted."""
    try:
        with store.writing() as uow:
            row = uow.session.scalars(select(PayrollExport).where(PayrollExport.id == export_id)
                                      .with_for_update()).one_or_none()
            if row is None:
                raise LookupError(f"no payroll export {export_id}")
            if row.status != ExportStatus.QUEUED:
                return f"payroll export {export_id} was already {row.status}"
            run = load_run(uow, row.run_id)
            body = exports.to_xlsx(uow, run) if row.format == "xlsx" else exports.to_csv(uow, run)
            row.content, row.size = body, len(body)
            row.filename = f"payroll-{run.period}-run{run.id}.{row.format}"
            row.status, row.finished_at = ExportStatus.READY, utcnow()
            row.attempts += 1
            uow.commit()
            return f"payroll export {export_id} ready ({len(body)} bytes)"
    except LookupError:
        raise
    except Exception as err:
        mark_failed(store, export_id, f"{type(err).__name__}: {err}")
        raise


def mark_failed(store: Store, export_id: int, error: str) -> None:
    """A queued export that will not be made (its job raised, or could not be queued)."""
    with store.writing() as uow:
        uow.session.execute(update(PayrollExport).where(
            PayrollExport.id == export_id, PayrollExport.status == ExportStatus.QUEUED).values(
            status=ExportStatus.FAILED, error=error[:_ERROR_CHARS], finished_at=utcnow(),
            attempts=PayrollExport.attempts + 1))
        uow.commit()


def export_view(row: PayrollExport, base_url: str = "") -> dict[str, Any]:
    """What the API shows of an export; `file_url` once it is ready."""
    ready = row.status == ExportStatus.READY
    return {"id": row.id, "run_id": row.run_id, "format": row.format, "status": row.status,
            "requested_by": row.requested_by, "requested_at": iso(row.requested_at),
            "finished_at": iso(row.finished_at), "filename": row.filename, "size": row.size,
            "error": row.error,
            "file_url": f"{base_url}/api/v1/payroll-exports/{row.id}/file" if ready else None}
