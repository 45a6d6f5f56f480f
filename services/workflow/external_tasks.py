"""External workers' side of the tasks that wait for them: fetch and lock, complete,
report a failure, extend a lock, set retries (Camunda 7's external-task protocol).

Only employees with the `integration` role call these: a worker is a system, and what
it completes is never a person's duty (events of kind `external`, never paid). A lock
belongs to one `worker_id` until it expires; an expired lock returns the task to the
pool. A failure reports how many retries are left: at 0 the task is not fetched again
and an incident says why, until someone sets new retries. Only running instances give
out work (a suspended one's tasks wait, like its people's tasks and timers).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select

from engine.model import InstanceStatus
from services.errors import Conflict, NotFound
from services.identity.actor import Actor
from services.persistence.models import ExternalTask, ProcessInstance, utcnow
from services.persistence.statuses import ExternalTaskStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import engine_steps

ROLE = "integration"
_TAKING_WORK = (InstanceStatus.RUNNING, InstanceStatus.ERROR)  # as standing.require_takes_work
MAX_TASKS_PER_FETCH = 100
MAX_LOCK = dt.timedelta(days=1)


@dataclass(frozen=True)
class Locked:
    """A task as a worker receives it: the row, and the process data as its variables."""

    task: ExternalTask
    business_key: str | None
    variables: dict[str, Any]


def fetch_and_lock(uow: UnitOfWork, actor: Actor, worker_id: str, max_tasks: int,
                   topics: list[tuple[str, dt.timedelta]],
                   now: dt.datetime | None = None) -> list[Locked]:
    """Lock up to `max_tasks` fetchable tasks of these topics (in the order given, oldest
    first) for `worker_id`, each for its topic's lock duration."""
    actor.require(ROLE)
    now = now or utcnow()
    locked: list[Locked] = []
    for topic, duration in topics:
        room = max_tasks - len(locked)
        if room <= 0:
            break
        rows = uow.session.execute(
            select(ExternalTask, ProcessInstance.business_key, ProcessInstance.data)
            .join(ProcessInstance, ProcessInstance.id == ExternalTask.process_instance_id)
            .where(ExternalTask.topic == topic, _fetchable(now),
                   ProcessInstance.status.in_(_TAKING_WORK))
            .order_by(ExternalTask.created_at, ExternalTask.id).limit(room)
            # Two workers fetching at once never lock the same task (PostgreSQL skips rows
            # another transaction holds; SQLite runs one writer at a time).
            .with_for_update(of=ExternalTask, skip_locked=True)).all()
        for task, business_key, data in rows:
            task.worker_id, task.lock_expires_at = worker_id, now + duration
            locked.append(Locked(task, business_key, {**(data or {}),
                                                      **(task.local_variables or {})}))
    uow.commit()
    return locked


def _fetchable(now: dt.datetime):
    return and_(ExternalTask.status == ExternalTaskStatus.OPEN,
                or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at <= now),
                or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0),
                or_(ExternalTask.retry_at.is_(None), ExternalTask.retry_at <= now))


def locked_task(uow: UnitOfWork, actor: Actor, task_id: str, worker_id: str,
                now: dt.datetime) -> ExternalTask:
    """The open task `worker_id` holds a live lock on, locked for this transaction."""
    actor.require(ROLE)
    task = uow.session.scalars(select(ExternalTask).where(ExternalTask.id == task_id)
                               .with_for_update()).first()
    if task is None:
        raise NotFound(f"external task {task_id} does not exist")
    if task.status != ExternalTaskStatus.OPEN:
        raise Conflict(f"external task {task_id} is {task.status}")
    if task.worker_id != worker_id or task.lock_expires_at is None or task.lock_expires_at <= now:
        holder = f"locked by {task.worker_id}" if task.worker_id and task.lock_expires_at \
            and task.lock_expires_at > now else "not locked (its lock expired or was never taken)"
        raise Conflict(f"external task {task_id} is {holder}, not by worker {worker_id}")
    return task


def report_failure(uow: UnitOfWork, actor: Actor, task_id: str, worker_id: str,
                   error_message: str, retries: int, retry_timeout: dt.timedelta,
                   now: dt.datetime | None = None) -> ExternalTask:
    """The worker could not do it: release the lock, fetchable again after `retry_timeout`
    while `retries` > 0; at 0 an incident records the error."""
    now = now or utcnow()
    task = locked_task(uow, actor, task_id, worker_id, now)
    task.worker_id, task.lock_expires_at = None, None
    task.retries, task.retry_at, task.error_message = retries, now + retry_timeout, error_message
    if retries == 0:
        instance = uow.session.get(ProcessInstance, task.process_instance_id)
        engine_steps.record_incident(
            uow, instance_id=task.process_instance_id, process_key=task.process_key,
            element_id=task.element_id, kind="external",
            message=f"external task on topic {task.topic!r} failed with no retries left: "
                    f"{error_message}", data=instance.data, at=now)
    uow.commit()
    return task


def extend_lock(uow: UnitOfWork, actor: Actor, task_id: str, worker_id: str,
                duration: dt.timedelta, now: dt.datetime | None = None) -> ExternalTask:
    """Keep the lock `duration` longer from now (the worker is still at it)."""
    now = now or utcnow()
    task = locked_task(uow, actor, task_id, worker_id, now)
    task.lock_expires_at = now + duration
    uow.commit()
    return task


def set_retries(uow: UnitOfWork, actor: Actor, task_id: str, retries: int) -> ExternalTask:
    """After the cause of a failure is fixed: fetchable again with `retries` attempts."""
    actor.require(ROLE, "admin")
    task = uow.session.get(ExternalTask, task_id)
    if task is None:
        raise NotFound(f"external task {task_id} does not exist")
    if task.status != ExternalTaskStatus.OPEN:
        raise Conflict(f"external task {task_id} is {task.status}")
    task.retries, task.retry_at = retries, None
    uow.commit()
    return task
