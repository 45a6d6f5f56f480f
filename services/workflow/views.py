"""Read models: the JSON-ready shapes of tasks and instances, shared by the REST API and CLI."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from services.persistence.models import (Incident, InstanceAction, ProcessInstance, Task,
                                         TaskEvent, Timer)
from services.persistence.statuses import TaskStatus, TimerStatus
from services.persistence.unit_of_work import UnitOfWork


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def task_view(task: Task) -> dict[str, Any]:
    return {"id": task.id, "name": task.name, "element_id": task.element_id,
            "process_instance_id": task.process_instance_id, "process_key": task.process_key,
            "lane": task.lane, "department": task.department_key, "assignee": task.assignee,
            "candidate_users": list(task.candidate_users or []),
            "candidate_departments": list(task.candidate_departments or []),
            "created_at": iso(task.created_at), "due_at": iso(task.due_at), "status": task.status}


def event_view(event: TaskEvent) -> dict[str, Any]:
    return {"id": event.id, "task_id": event.task_id, "element_id": event.element_id,
            "name": event.task_name, "lane": event.lane, "department": event.department_key,
            "completed_by": event.completed_by, "ready_at": iso(event.ready_at),
            "claimed_at": iso(event.claimed_at), "completed_at": iso(event.completed_at),
            "due_at": iso(event.due_at), "data": event.data}


def action_view(action: InstanceAction) -> dict[str, Any]:
    return {"id": action.id, "kind": action.kind, "actor": action.actor,
            "reason": action.reason, "status_before": action.status_before,
            "status_after": action.status_after, "details": action.details,
            "at": iso(action.at)}


def incident_view(incident: Incident) -> dict[str, Any]:
    return {"id": incident.id, "process_instance_id": incident.process_instance_id,
            "process_key": incident.process_key, "element_id": incident.element_id,
            "kind": incident.kind, "message": incident.message, "data": incident.data,
            "created_at": iso(incident.created_at), "resolved_at": iso(incident.resolved_at)}


def instance_view(uow: UnitOfWork, row: ProcessInstance) -> dict[str, Any]:
    session = uow.session
    tasks = session.scalars(select(Task).where(Task.process_instance_id == row.id,
                                               Task.status == TaskStatus.READY)
                            .order_by(Task.created_at))
    events = session.scalars(select(TaskEvent).where(TaskEvent.process_instance_id == row.id)
                             .order_by(TaskEvent.completed_at, TaskEvent.id))
    timers = session.scalars(select(Timer).where(Timer.process_instance_id == row.id,
                                                 Timer.status == TimerStatus.PENDING)
                             .order_by(Timer.due_at))
    actions = session.scalars(select(InstanceAction)
                              .where(InstanceAction.process_instance_id == row.id)
                              .order_by(InstanceAction.id))
    children = session.execute(select(
        ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.process_version,
        ProcessInstance.status, ProcessInstance.parent_element_id,
        ProcessInstance.business_key).where(ProcessInstance.parent_instance_id == row.id)
        .order_by(ProcessInstance.id))
    parent = session.execute(select(ProcessInstance.process_key, ProcessInstance.status).where(
        ProcessInstance.id == row.parent_instance_id)).first() \
        if row.parent_instance_id is not None else None
    return {"id": row.id, "process_key": row.process_key, "version": row.process_version,
            # A call activity's child names its caller; a caller lists its children.
            "parent": {"id": row.parent_instance_id, "process_key": parent.process_key,
                       "status": parent.status, "element_id": row.parent_element_id}
            if parent is not None else None,
            "children": [{"id": child.id, "process_key": child.process_key,
                          "version": child.process_version, "status": child.status,
                          "element_id": child.parent_element_id,
                          "business_key": child.business_key} for child in children],
            "business_key": row.business_key, "status": row.status, "error": row.error,
            "data": row.data, "started_by": row.started_by, "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at), "archived_at": iso(row.archived_at),
            "tasks": [task_view(task) for task in tasks],
            "history": [event_view(event) for event in events],
            "actions": [action_view(action) for action in actions],
            "timers": [{"id": timer.id, "element_id": timer.element_id, "name": timer.name,
                        "due_at": iso(timer.due_at)} for timer in timers]}
