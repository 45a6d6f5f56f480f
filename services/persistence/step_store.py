"""The SQL behind every process step, as statements built once.

Completing a duty is the hot path of the whole service, so its reads and writes skip
the ORM's object bookkeeping: each statement here is constructed at import, with bound
parameters, and runs through `UnitOfWork.core` on the unit of work's own transaction,
so the state change and its event still commit together. Elsewhere the ORM is used.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, Row, Text, bindparam, cast, insert, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.model import InstanceStatus
from services.persistence.models import (
    OrgRevision,
    ProcessDefinition,
    ProcessInstance,
    Task,
    TaskEvent,
    Timer,
)
from services.persistence.statuses import TaskStatus, TimerStatus
from services.persistence.unit_of_work import UnitOfWork, lost_race


class json_text(FunctionElement):
    """A JSON document bound as its text, so a state the sandbox worker serialized is
    stored without being parsed and serialized again here. PostgreSQL needs the cast to
    jsonb; SQLite keeps JSON as text anyway."""

    type = Text()
    name = "json_text"
    inherit_cache = True


@compiles(json_text)
def _json_text(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(json_text, "postgresql")
def _json_text_postgresql(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS JSONB)"


_tasks, _timers, _events = Task.__table__, Timer.__table__, TaskEvent.__table__
_instances, _definitions = ProcessInstance.__table__, ProcessDefinition.__table__

# What a step needs of its instance, and the org revision its routing is cached under.
# The row is locked (PostgreSQL; SQLite serializes writers already), so a racing step
# waits instead of computing the same next step twice.
# The state is read as JSON text: the service only passes it on to a sandbox worker.
_STEP_COLUMNS = (_instances.c.id.label("instance_id"), _instances.c.lock_version,
                 cast(_instances.c.state, Text).label("state"),
                 _instances.c.status.label("instance_status"),
                 _instances.c.process_key.label("instance_process_key"),
                 _instances.c.process_version, _instances.c.definition_id,
                 _instances.c.started_by.label("instance_started_by"),
                 _instances.c.business_key.label("instance_business_key"),
                 _definitions.c.checksum, _definitions.c.key.label("definition_key"),
                 select(OrgRevision.__table__.c.token).scalar_subquery().label("org_revision"))
_instance_with_definition = _instances.join(_definitions,
                                            _definitions.c.id == _instances.c.definition_id)

_TASK_STEP = (select(*_tasks.c, *_STEP_COLUMNS)
              .select_from(_tasks.join(_instance_with_definition,
                                       _instances.c.id == _tasks.c.process_instance_id))
              .where(_tasks.c.id == bindparam("task_id"))
              .with_for_update(of=_instances))
_INSTANCE_STEP = (select(*_STEP_COLUMNS).select_from(_instance_with_definition)
                  .where(_instances.c.id == bindparam("instance_id"))
                  .with_for_update(of=_instances))
_CLOSE_TASK = (update(_tasks)
               .where(_tasks.c.id == bindparam("task_id"), _tasks.c.status == TaskStatus.READY,
                      (_tasks.c.assignee.is_(None)) | (_tasks.c.assignee == bindparam("by")))
               .values(status=TaskStatus.COMPLETED, completed_by=bindparam("by"),
                       completed_at=bindparam("at")))
_APPEND_EVENT = insert(_events)
_CANCEL_TASKS = (update(_tasks).where(_tasks.c.id.in_(bindparam("ids", expanding=True)),
                                      _tasks.c.status == TaskStatus.READY)
                 .values(status=TaskStatus.CANCELLED))
_ADD_TASKS = insert(_tasks)
_CANCEL_TIMERS = (update(_timers).where(_timers.c.id.in_(bindparam("ids", expanding=True)),
                                        _timers.c.status == TimerStatus.PENDING)
                  .values(status=TimerStatus.CANCELLED))
_ADD_TIMERS = insert(_timers)
_MARK_ERROR = (update(_instances).where(_instances.c.id == bindparam("instance_id"),
                                        _instances.c.lock_version == bindparam("seen", type_=Integer))
               .values(status=InstanceStatus.ERROR, error=bindparam("new_error"),
                       updated_at=bindparam("at"),
                       lock_version=bindparam("seen", type_=Integer) + 1))
_FAIL_TIMER = (update(_timers).where(_timers.c.id == bindparam("timer_id"),
                                     _timers.c.status == TimerStatus.PENDING)
               .values(status=TimerStatus.FAILED))
_SAVE_STATE = (update(_instances).where(_instances.c.id == bindparam("instance_id"),
                                        _instances.c.lock_version == bindparam("seen", type_=Integer))
               .values(state=json_text(bindparam("new_state", type_=Text)),
                       status=bindparam("new_status"),
                       error=bindparam("new_error"), data=bindparam("new_data"),
                       updated_at=bindparam("at"), lock_version=bindparam("seen", type_=Integer) + 1))


def task_step(uow: UnitOfWork, task_id: str) -> Row | None:
    """The task's columns plus its instance's step columns, the instance locked."""
    return uow.core(_TASK_STEP, {"task_id": task_id}).first()


def instance_step(uow: UnitOfWork, instance_id: int) -> Row:
    return uow.core(_INSTANCE_STEP, {"instance_id": instance_id}).one()


def close_task(uow: UnitOfWork, task_id: str, username: str, at) -> bool:
    """Mark a ready task completed by `username`; False if it is no longer theirs to close."""
    return uow.core(_CLOSE_TASK, {"task_id": task_id, "by": username, "at": at}).rowcount == 1


def append_event(uow: UnitOfWork, values: dict[str, Any]) -> None:
    uow.core(_APPEND_EVENT, values)


def cancel_tasks(uow: UnitOfWork, task_ids: Iterable[str]) -> None:
    uow.core(_CANCEL_TASKS, {"ids": list(task_ids)})


def add_tasks(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    uow.core(_ADD_TASKS, rows)


def cancel_timers(uow: UnitOfWork, timer_ids: Iterable[str]) -> None:
    uow.core(_CANCEL_TIMERS, {"ids": list(timer_ids)})


def add_timers(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    uow.core(_ADD_TIMERS, rows)


def save_state(uow: UnitOfWork, instance_id: int, seen_version: int, *, state_json: str,
               status: str, error: str | None, data: dict[str, Any], at) -> None:
    """Store an instance's new state if nobody stored one since we read `seen_version`.

    The version check is the optimistic lock that keeps two racing steps from both
    landing; the loser's whole unit of work rolls back.
    """
    stored = uow.core(_SAVE_STATE, {
        "instance_id": instance_id, "seen": seen_version, "new_state": state_json,
        "new_status": status, "new_error": error, "new_data": data, "at": at}).rowcount
    if stored != 1:
        raise lost_race()


def mark_error(uow: UnitOfWork, instance_id: int, seen_version: int, error: str, at) -> None:
    """Put an instance in error without changing its state (the step never happened)."""
    if uow.core(_MARK_ERROR, {"instance_id": instance_id, "seen": seen_version,
                              "new_error": error, "at": at}).rowcount != 1:
        raise lost_race()


def fail_timer(uow: UnitOfWork, timer_id: str) -> None:
    uow.core(_FAIL_TIMER, {"timer_id": timer_id})
