"""What each use case tells whom: one function per kind of event, called inside the use
case's unit of work (services.notify.outbox writes the rows; nothing here commits).

Who hears of a ready task is decided in `recipients_for_ready_task`, the one place to
extend when tasks are routed to people.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from services.notify.outbox import Person, members, notify, opted_in_members, people
from services.persistence.statuses import NotificationKind

# Events about a task reach the webhook and robot of the task's department too; the
# others are personal (a payslip, a process someone started) and stay with the person.
_DEPARTMENT_KINDS = {NotificationKind.TASK_READY, NotificationKind.TASK_REMINDER,
                     NotificationKind.TASK_ESCALATED}
REJECTED_OUTCOME = "rejected"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


_TASK_FIELDS = ("id", "name", "process_key", "process_instance_id", "department_key",
                "candidate_departments", "assignee", "due_at", "created_at")


def task_fields(task: Any) -> dict[str, Any]:
    """A task row (ORM object, Core row or the projection's dict) as a plain mapping."""
    if isinstance(task, Mapping):
        return {name: task.get(name) for name in _TASK_FIELDS} | dict(task)
    return {name: getattr(task, name, None) for name in _TASK_FIELDS}


def task_payload(task: Mapping[str, Any], department_name: str | None = None) -> dict[str, Any]:
    """What a message about a task says, kept with the notification (the task may change)."""
    return {"task": {"id": task["id"], "name": task["name"], "process_key": task["process_key"],
                     "process_instance_id": task["process_instance_id"],
                     "department": task["department_key"],
                     "department_name": department_name or task["department_key"],
                     "due_at": _iso(task["due_at"])}}


def recipients_for_ready_task(uow, task: Mapping[str, Any]) -> list[Person]:
    """Whoever may take a ready task: its assignee; else its candidate users; else the
    members of its owning departments who opted in to their department's new tasks."""
    if task.get("assignee"):
        return people(uow, [task["assignee"]])
    if task.get("candidate_users"):
        return people(uow, task["candidate_users"])
    owners = [task["department_key"], *(task.get("candidate_departments") or [])]
    return opted_in_members(uow, [key for key in owners if key])


def tasks_ready(uow, tasks: Iterable[Mapping[str, Any]], departments: Mapping[str, Any],
                now: dt.datetime) -> None:
    """New ready tasks (as the rows the projection inserts); `departments`: the active
    ones by key, rows with `name` and `notify` (the routing directory's)."""
    channels_of = {key: department.notify for key, department in departments.items()}
    for task in tasks:
        owner = departments.get(task["department_key"])
        notify(uow, NotificationKind.TASK_READY, recipients_for_ready_task(uow, task),
               task_payload(task, owner.name if owner else None), now,
               departments=[task["department_key"]] if task["department_key"] else [],
               task_id=task["id"], process_instance_id=task["process_instance_id"],
               channels_of=channels_of)


def task_for_person(uow, kind: NotificationKind, task: Mapping[str, Any], username: str,
                    by: str | None, now: dt.datetime, **extra: Any) -> None:
    """A task given to someone (assigned, transferred): they hear of it."""
    task = task_fields(task)
    payload = {**task_payload(task), "by": by, **extra}
    notify(uow, kind, people(uow, [username]), payload, now,
           departments=[task["department_key"]] if kind in _DEPARTMENT_KINDS else [],
           task_id=task["id"], process_instance_id=task["process_instance_id"])


def instance_ended(uow, instance: Mapping[str, Any], data: Mapping[str, Any],
                   now: dt.datetime) -> None:
    """An instance completed: its initiator hears that it finished, or, when the process
    data says `outcome: rejected` (as the shipped contract approval sets it), that it was
    rejected."""
    rejected = data.get("outcome") == REJECTED_OUTCOME
    kind = NotificationKind.INSTANCE_REJECTED if rejected else NotificationKind.INSTANCE_FINISHED
    payload = {"instance": {"id": instance["id"], "process_key": instance["process_key"],
                            "business_key": instance.get("business_key"),
                            "outcome": data.get("outcome") if isinstance(
                                data.get("outcome"), (str, int, float, bool)) else None}}
    notify(uow, kind, people(uow, [instance.get("started_by")]), payload, now,
           process_instance_id=instance["id"])


def payslips_ready(uow, run_id: int, period: str, usernames: Iterable[str],
                   now: dt.datetime) -> None:
    """A payroll run became final: each employee on it hears that their payslip is ready."""
    for person in people(uow, sorted(set(usernames))):
        notify(uow, NotificationKind.PAYSLIP_READY, [person],
               {"run": {"id": run_id, "period": period}, "username": person.username}, now,
               payroll_run_id=run_id)


def task_reminder(uow, task: Any, now: dt.datetime) -> None:
    """A task still open at its reminder time: whoever may take it hears of it again."""
    task = task_fields(task)
    notify(uow, NotificationKind.TASK_REMINDER, people_who_may_take(uow, task),
           task_payload(task), now, departments=[task["department_key"]],
           task_id=task["id"], process_instance_id=task["process_instance_id"])


def task_escalated(uow, task: Any, head: str, department_key: str, level: int,
                   now: dt.datetime) -> None:
    """A task still open at its escalation time: the head of `department_key` hears of it."""
    task = task_fields(task)
    notify(uow, NotificationKind.TASK_ESCALATED, people(uow, [head]),
           {**task_payload(task), "escalation": {"level": level, "department": department_key}},
           now, departments=[task["department_key"]], task_id=task["id"],
           process_instance_id=task["process_instance_id"])


def people_who_may_take(uow, task: Mapping[str, Any]) -> list[Person]:
    """Whoever may take an open task: its holder; else its candidate users; else every
    active member of its owning departments (a reminder is not opt-in)."""
    if task.get("assignee"):
        return people(uow, [task["assignee"]])
    if task.get("candidate_users"):
        return people(uow, task["candidate_users"])
    owners = [task["department_key"], *(task.get("candidate_departments") or [])]
    return members(uow, [key for key in owners if key])
