"""The values of a task event, put together in one place for every kind of event.

A completion records who did a ready task, when, against which deadline, with what
data; a correction repeats its original's record and carries new data. Whatever
writes an event (completion, correction, anything later) builds it here, so the
evidence payroll reads always has the same columns, filled the same way.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from services.identity.actor import Actor
from services.persistence.models import TaskEvent
from payroll.ledger import EventKind

# What a correction repeats from the completion it corrects: the evidence of the work.
_RECORD = ("process_instance_id", "process_key", "process_version", "task_id", "element_id",
           "task_name", "lane", "department_key", "actor_department_key", "completed_by",
           "on_behalf_of", "ready_at", "claimed_at", "completed_at", "due_at", "escalated")


def completion_event(task: Any, actor: Actor, data: dict[str, Any], now: dt.datetime,
                     on_behalf_of: str | None = None) -> dict[str, Any]:
    """`actor` completed `task` (a task row with its instance's version) at `now`; as the
    substitute of the absent `on_behalf_of`, if given (the credit stays the actor's)."""
    return dict(
        kind=EventKind.COMPLETED, process_instance_id=task.process_instance_id,
        process_key=task.process_key, process_version=task.process_version, task_id=task.id,
        element_id=task.element_id, task_name=task.name, lane=task.lane,
        department_key=task.department_key, actor_department_key=actor.department_key,
        completed_by=actor.username, on_behalf_of=on_behalf_of, ready_at=task.created_at,
        claimed_at=task.claimed_at, completed_at=now, due_at=task.due_at,
        escalated=task.escalated_at is not None, data=data, recorded_at=now,
        recorded_by=actor.username)


def external_event(task: Any, process_version: int, actor: Actor, worker_id: str,
                   data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Worker `worker_id`, signed in as `actor` (an integration account), completed external
    task `task` at `now`: a record of the result, owned by no department, paid to nobody."""
    return dict(
        kind=EventKind.EXTERNAL, process_instance_id=task.process_instance_id,
        process_key=task.process_key, process_version=process_version, task_id=task.id,
        element_id=task.element_id, task_name=task.name, lane=None, department_key=None,
        actor_department_key=actor.department_key, completed_by=actor.username,
        ready_at=task.created_at, claimed_at=None, completed_at=now, due_at=None, data=data,
        recorded_at=now, recorded_by=actor.username, reason=f"external worker {worker_id}")


def correction_event(original: TaskEvent, actor: Actor, data: dict[str, Any], reason: str,
                     now: dt.datetime) -> dict[str, Any]:
    """`actor` corrected the data of completion `original` at `now`; completed_at and the
    rest of the record stay the original's."""
    return dict({name: getattr(original, name) for name in _RECORD},
                kind=EventKind.CORRECTION, corrects_event_id=original.id, data=data,
                recorded_at=now, recorded_by=actor.username, reason=reason)
