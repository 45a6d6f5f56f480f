"""The service's vital signs, read from the database: what `/metrics` reports as gauges.

Counted in SQL at the moment they are asked for rather than kept in memory, so every
process and every node answers the same figures for the same database: a backlog or an
open incident belongs to the deployment, not to whichever process happens to be scraped.
Each figure is one indexed aggregate, cheap enough for a scrape every few seconds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from services.persistence.job_failures import failures_by_job
from services.persistence.models import (
    Delivery,
    ExternalTask,
    Incident,
    PayrollExport,
    ProcessInstance,
    Task,
    Timer,
    utcnow,
)
from services.persistence.statuses import (
    DeliveryStatus,
    ExportStatus,
    ExternalTaskStatus,
    TaskStatus,
    TimerStatus,
)
from services.persistence.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Vitals:
    instances: dict[str, int]  # by status
    open_tasks: int
    overdue_tasks: int
    open_incidents: int
    open_external_tasks: int
    due_timers: int  # pending and due: fired late if this stays above 0
    timer_lag_seconds: float  # how long the oldest due timer has waited; 0 when none
    outbox_pending: int  # deliveries not yet sent (waiting or being sent)
    outbox_oldest_seconds: float  # age of the oldest of those; 0 when none
    failed_deliveries: int
    job_failures: dict[str, int]  # by job name, since the database was made (a counter)
    exports_queued: int  # payroll exports asked for and not yet made


def vitals(uow: UnitOfWork, now: dt.datetime | None = None) -> Vitals:
    now = now or utcnow()
    session = uow.session
    by_status = dict(session.execute(
        select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)).all())
    due = session.execute(select(func.count(), func.min(Timer.due_at)).where(
        Timer.status == TimerStatus.PENDING, Timer.due_at <= now)).one()
    unsent = session.execute(select(func.count(), func.min(Delivery.created_at)).where(
        Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))).one()
    return Vitals(
        instances={str(status): count for status, count in by_status.items()},
        open_tasks=_count(uow, Task, Task.status == TaskStatus.READY),
        overdue_tasks=_count(uow, Task, Task.overdue(now)),
        open_incidents=_count(uow, Incident, Incident.resolved_at.is_(None)),
        open_external_tasks=_count(uow, ExternalTask,
                                   ExternalTask.status == ExternalTaskStatus.OPEN),
        due_timers=due[0],
        timer_lag_seconds=_age(now, due[1]),
        outbox_pending=unsent[0],
        outbox_oldest_seconds=_age(now, unsent[1]),
        failed_deliveries=_count(uow, Delivery, Delivery.status == DeliveryStatus.FAILED),
        job_failures=failures_by_job(uow),
        exports_queued=_count(uow, PayrollExport, PayrollExport.status == ExportStatus.QUEUED),
    )


def _count(uow: UnitOfWork, model, condition) -> int:
    return uow.session.scalar(select(func.count()).select_from(model).where(condition))


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (now - since).total_seconds())
