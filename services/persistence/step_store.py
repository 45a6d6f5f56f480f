"""The SQL behind every process step, as statements built once.

Completing a duty is the hot path of the whole service, so its reads and writes skip
the ORM's object bookkeeping: each statement here is constructed at import, with bound
parameters, and runs through `UnitOfWork.core` on the unit of work's own transaction,
so the state change and its event still commit together. Elsewhere the ORM is used.

A step's writes are queued (`UnitOfWork.later`) rather than sent one by one: they go
out together at the step's next read or its commit, on PostgreSQL as one statement
(services.persistence.write_batch). A write whose row count decides (the instance's
version, a task closed by someone else) carries the Conflict it raises then.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Integer, Row, Text, bindparam, cast, delete, insert, select, text, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from engine.model import InstanceStatus
from services.persistence.models import (
    EventSubscription,
    ExternalTask,
    OrgRevision,
    ProcessDefinition,
    ProcessInstance,
    Task,
    TaskCandidate,
    TaskEvent,
    Timer,
)
from services.persistence.statuses import ExternalTaskStatus, TaskStatus, TimerStatus
from services.errors import Conflict
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
_external = ExternalTask.__table__
_instances, _definitions = ProcessInstance.__table__, ProcessDefinition.__table__
_subscriptions = EventSubscription.__table__

# What a step needs of its instance, and the org revision its routing is cached under.
# The row is locked (PostgreSQL; SQLite serializes writers already), so a racing step
# waits instead of computing the same next step twice.
# The state is read as JSON text: the service only passes it on to a sandbox worker.
_STEP_COLUMNS = (_instances.c.id.label("instance_id"), _instances.c.lock_version,
                 cast(_instances.c.state, Text).label("state"),
                 _instances.c.status.label("instance_status"),
                 _instances.c.process_key.label("instance_process_key"),
                 _instances.c.process_version, _instances.c.definition_id,
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
                      (_tasks.c.assignee.is_(None)) | (_tasks.c.assignee == bindparam("holder")))
               .values(status=TaskStatus.COMPLETED, completed_by=bindparam("by"),
                       completed_at=bindparam("at")))
_APPEND_EVENT = insert(_events)
_CANCEL_TASKS = (update(_tasks).where(_tasks.c.id.in_(bindparam("ids", expanding=True)),
                                      _tasks.c.status == TaskStatus.READY)
                 .values(status=bindparam("new_status")))
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
_SET_STATUS = (update(_instances).where(_instances.c.id == bindparam("instance_id"),
                                        _instances.c.lock_version == bindparam("seen", type_=Integer))
               .values(status=bindparam("new_status"), updated_at=bindparam("at"),
                       lock_version=bindparam("seen", type_=Integer) + 1))
_WITHDRAW_TASKS = (update(_tasks).where(_tasks.c.process_instance_id == bindparam("instance_id"),
                                        _tasks.c.status == TaskStatus.READY)
                   .values(status=TaskStatus.WITHDRAWN))
_CANCEL_INSTANCE_TIMERS = (update(_timers)
                           .where(_timers.c.process_instance_id == bindparam("instance_id"),
                                  _timers.c.status == TimerStatus.PENDING)
                           .values(status=TimerStatus.CANCELLED))
_CANCEL_INSTANCE_EXTERNAL = (
    update(_external).where(_external.c.process_instance_id == bindparam("instance_id"),
                            _external.c.status == ExternalTaskStatus.OPEN)
    .values(status=ExternalTaskStatus.CANCELLED, worker_id=None, lock_expires_at=None))
_ADD_SUBSCRIPTIONS = insert(_subscriptions)
_DROP_SUBSCRIPTIONS = delete(_subscriptions).where(
    _subscriptions.c.id.in_(bindparam("ids", expanding=True)))
_DROP_INSTANCE_SUBSCRIPTIONS = delete(_subscriptions).where(
    _subscriptions.c.process_instance_id == bindparam("instance_id"))
_REARM_TIMERS = (update(_timers).where(_timers.c.id.in_(bindparam("ids", expanding=True)),
                                       _timers.c.status == TimerStatus.FAILED)
                 .values(status=TimerStatus.PENDING))
_SET_DEFINITION = (update(_instances).where(_instances.c.id == bindparam("instance_id"))
                   .values(definition_id=bindparam("definition_id"),
                           process_version=bindparam("version")))
_SAVE_STATE = (update(_instances).where(_instances.c.id == bindparam("instance_id"),
                                        _instances.c.lock_version == bindparam("seen", type_=Integer))
               .values(state=json_text(bindparam("new_state", type_=Text)),
                       status=bindparam("new_status"),
                       error=bindparam("new_error"), data=bindparam("new_data"),
                       updated_at=bindparam("at"), lock_version=bindparam("seen", type_=Integer) + 1))

_REHOST_STATE = _SAVE_STATE.values(definition_id=bindparam("definition_id"),
                                   process_version=bindparam("version"))


_ORG_REVISION = select(OrgRevision.__table__.c.token)
_RELAXED_COMMIT = text("SET LOCAL synchronous_commit TO OFF")
_ADD_CANDIDATES = insert(TaskCandidate.__table__)


def org_revision(uow: UnitOfWork) -> str | None:
    """The org revision token now (a step that locks no instance reads it here)."""
    return uow.core(_ORG_REVISION).scalar()


def task_step(uow: UnitOfWork, task_id: str) -> Row | None:
    """The task's columns plus its instance's step columns, the instance locked."""
    return uow.core(_TASK_STEP, {"task_id": task_id}).first()


def instance_step(uow: UnitOfWork, instance_id: int) -> Row | None:
    """The instance's step columns, the instance locked; None if there is no such instance."""
    return uow.core(_INSTANCE_STEP, {"instance_id": instance_id}).first()


def close_task(uow: UnitOfWork, task_id: str, username: str, at,
               holder: str | None = None, *, conflict: Conflict | None = None) -> None:
    """Mark a ready task completed by `username`; `conflict` (if given) is raised if it is no
    longer theirs to close: unassigned, or still assigned to `holder` (default: `username`;
    for a substitute, the absent person they stand in for)."""
    uow.later(_CLOSE_TASK, {"task_id": task_id, "by": username, "at": at,
                            "holder": holder or username}, conflict=conflict)


def append_event(uow: UnitOfWork, values: dict[str, Any]) -> None:
    uow.later(_APPEND_EVENT, values)


def cancel_tasks(uow: UnitOfWork, task_ids: Iterable[str],
                 status: TaskStatus = TaskStatus.CANCELLED) -> None:
    """Close ready tasks the engine no longer waits for: cancelled, or withdrawn."""
    uow.later(_CANCEL_TASKS, {"ids": list(task_ids), "new_status": status})


def add_tasks(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    uow.later(_ADD_TASKS, rows)


def add_candidates(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    """task_candidates rows ({task_id, username}) of new tasks with candidate users."""
    uow.later(_ADD_CANDIDATES, rows)


def cancel_timers(uow: UnitOfWork, timer_ids: Iterable[str]) -> None:
    uow.later(_CANCEL_TIMERS, {"ids": list(timer_ids)})


def add_timers(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    uow.later(_ADD_TIMERS, rows)


def save_state(uow: UnitOfWork, instance_id: int, seen_version: int, *, state_json: str,
               status: str, error: str | None, data: dict[str, Any], at) -> None:
    """Store an instance's new state if nobody stored one since we read `seen_version`.

    The version check is the optimistic lock that keeps two racing steps from both
    landing; the loser's whole unit of work rolls back (when the write is sent).
    """
    uow.later(_SAVE_STATE, {
        "instance_id": instance_id, "seen": seen_version, "new_state": state_json,
        "new_status": status, "new_error": error, "new_data": data, "at": at},
        conflict=lost_race())


def save_rehosted_state(uow: UnitOfWork, instance_id: int, seen_version: int, *,
                        state_json: str, status: str, error: str | None,
                        data: dict[str, Any], at, definition_id: int, version: int) -> None:
    """save_state and set_definition in one statement: an instance migrated to another
    version of its process (services.workflow.migration)."""
    uow.later(_REHOST_STATE, {
        "instance_id": instance_id, "seen": seen_version, "new_state": state_json,
        "new_status": status, "new_error": error, "new_data": data, "at": at,
        "definition_id": definition_id, "version": version}, conflict=lost_race())


def relaxed_commit(uow: UnitOfWork) -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL is flushed to
    disk: a crash may then lose it, but whole (never half), which is fine for work that
    is redone when it is missing (a migration's instances stay pending and are resumed).
    Elsewhere nothing."""
    if uow.session.connection().dialect.name == "postgresql":
        uow.core(_RELAXED_COMMIT)


def mark_error(uow: UnitOfWork, instance_id: int, seen_version: int, error: str, at) -> None:
    """Put an instance in error without changing its state (the step never happened)."""
    if uow.core(_MARK_ERROR, {"instance_id": instance_id, "seen": seen_version,
                              "new_error": error, "at": at}).rowcount != 1:
        raise lost_race()


def fail_timer(uow: UnitOfWork, timer_id: str) -> None:
    uow.core(_FAIL_TIMER, {"timer_id": timer_id})


def rearm_timers(uow: UnitOfWork, timer_ids: Iterable[str]) -> None:
    """Timers failed with their instance's step, pending again once it runs on."""
    uow.core(_REARM_TIMERS, {"ids": list(timer_ids)})


def set_status(uow: UnitOfWork, instance_id: int, seen_version: int, status: str, at) -> None:
    """A person's change of an instance's status (suspend, resume, cancel): the engine's
    state stays as it is; the version is checked and bumped like a step's."""
    if uow.core(_SET_STATUS, {"instance_id": instance_id, "seen": seen_version,
                              "new_status": status, "at": at}).rowcount != 1:
        raise lost_race()


def withdraw_instance_work(uow: UnitOfWork, instance_id: int) -> None:
    """Every open task of the instance withdrawn, every pending timer and every task
    waiting for an external worker cancelled, and it waits for no message or signal any
    more."""
    uow.core(_WITHDRAW_TASKS, {"instance_id": instance_id})
    uow.core(_CANCEL_INSTANCE_TIMERS, {"instance_id": instance_id})
    uow.core(_CANCEL_INSTANCE_EXTERNAL, {"instance_id": instance_id})
    uow.core(_DROP_INSTANCE_SUBSCRIPTIONS, {"instance_id": instance_id})


def add_subscriptions(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    uow.later(_ADD_SUBSCRIPTIONS, rows)


def drop_subscriptions(uow: UnitOfWork, ids: Iterable[str]) -> None:
    uow.later(_DROP_SUBSCRIPTIONS, {"ids": list(ids)})


def set_definition(uow: UnitOfWork, instance_id: int, definition_id: int, version: int) -> None:
    """The instance runs on another version of its process from now on (a retry on a
    fixed diagram); call it with the instance locked, beside save_state."""
    uow.core(_SET_DEFINITION, {"instance_id": instance_id, "definition_id": definition_id,
                               "version": version})
