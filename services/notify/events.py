"""What each use case tells whom: one function per kind of event, called inside the use
case's unit of work (services.notify.outbox writes the rows; nothing here commits).

Work routed to persons (a task's assignee or candidate users) is told through
`notify_routed`, which hands an absent person's notifications to their substitute.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from services.notify.labels import Translations, process_translations
from services.notify.outbox import members, notify, opted_in_members, people, with_roles
from services.org.absences import substitutes_at
from services.org.department_names import own_name
from services.persistence.statuses import NotificationKind

# Events about a task reach the webhook and robot of the task's department too; the
# others are personal (a payslip, a process someone started) and stay with the person.
_DEPARTMENT_KINDS = {NotificationKind.TASK_READY, NotificationKind.TASK_REMINDER,
                     NotificationKind.TASK_ESCALATED}
REJECTED_OUTCOME = "rejected"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


_TASK_FIELDS = ("id", "name", "element_id", "lane", "process_key", "process_instance_id",
                "department_key", "candidate_departments", "candidate_users", "assignee",
                "due_at", "created_at")


def task_fields(task: Any) -> dict[str, Any]:
    """A task row (ORM object, Core row or the projection's dict) as a plain mapping."""
    if isinstance(task, Mapping):
        return {name: task.get(name) for name in _TASK_FIELDS} | dict(task)
    return {name: getattr(task, name, None) for name in _TASK_FIELDS}


def task_payload(task: Mapping[str, Any], department_name: str | None = None,
                 translations: Translations | None = None) -> dict[str, Any]:
    """What a message about a task says, kept with the notification (the task may change):
    with the task's and process's translations (`translations`: the process model's
    labels) and the department's own name, for rendering in the reader's language."""
    translations = translations or {}
    return {"task": {"id": task["id"], "name": task["name"], "process_key": task["process_key"],
                     "process_instance_id": task["process_instance_id"],
                     "department": task["department_key"],
                     "department_name": department_name or task["department_key"],
                     "lane": task.get("lane"),
                     "labels": dict(translations.get(task.get("element_id") or "", {})),
                     "process_labels": dict(translations.get(task["process_key"], {})),
                     "due_at": _iso(task["due_at"])}}


def _looked_up_payload(uow, task: Mapping[str, Any]) -> dict[str, Any]:
    """task_payload for a use case that has no model or directory at hand."""
    return task_payload(task, own_name(uow, task["department_key"]),
                        process_translations(uow, task["process_instance_id"]))


def routed_to(task: Mapping[str, Any]) -> list[str]:
    """The persons a task is routed to: its assignee (or holder); else its candidate users;
    empty when it is its departments' to take."""
    if task.get("assignee"):
        return [task["assignee"]]
    return list(task.get("candidate_users") or [])


def owners_of(task: Mapping[str, Any]) -> list[str]:
    return [key for key in (task["department_key"], *(task.get("candidate_departments") or []))
            if key]


def notify_routed(uow, kind: str, usernames: Iterable[str], payload: dict[str, Any],
                  now: dt.datetime, *, departments: Iterable[str] = (),
                  channels_of: Mapping[str, Any] | None = None, **subject: Any) -> int:
    """Tell the persons work is routed to. While one of them is absent, their substitute
    hears of it instead, the payload saying for whom (`on_behalf_of`): the substitute is
    the one who may take the work meanwhile (services.org.absences)."""
    wanted = list(dict.fromkeys(name for name in usernames if name))
    standing_in = substitutes_at(uow, wanted, now)
    present = [name for name in wanted if name not in standing_in]
    written = notify(uow, kind, people(uow, present), payload, now, departments=departments,
                     channels_of=channels_of, **subject)
    told = set(present)
    for absent, substitute in standing_in.items():
        if substitute not in told:
            told.add(substitute)
            written += notify(uow, kind, people(uow, [substitute]),
                              {**payload, "on_behalf_of": absent}, now, **subject)
    return written


def tasks_ready(uow, tasks: Iterable[Mapping[str, Any]], departments: Mapping[str, Any],
                now: dt.datetime, translations: Translations | None = None) -> None:
    """New ready tasks (as the rows the projection inserts); `departments`: the active
    ones by key, rows with `name` and `notify` (the routing directory's). Who hears: the
    persons the task is routed to (or their substitutes); else the members of its owning
    departments who opted in to their department's new tasks; and the department's
    webhook and robot. `translations`: the process model's labels, when the caller has
    the model (else they are looked up per instance)."""
    channels_of = {key: department.notify for key, department in departments.items()}
    looked_up: dict[int, Translations] = {}
    for task in tasks:
        owner = departments.get(task["department_key"])
        if translations is None and task["process_instance_id"] not in looked_up:
            looked_up[task["process_instance_id"]] = process_translations(
                uow, task["process_instance_id"])
        payload = task_payload(task, owner.name if owner else None,
                               translations if translations is not None
                               else looked_up[task["process_instance_id"]])
        where = dict(departments=[task["department_key"]] if task["department_key"] else [],
                     task_id=task["id"], process_instance_id=task["process_instance_id"],
                     channels_of=channels_of)
        persons = routed_to(task)
        if persons:
            notify_routed(uow, NotificationKind.TASK_READY, persons, payload, now, **where)
        else:
            notify(uow, NotificationKind.TASK_READY, opted_in_members(uow, owners_of(task)),
                   payload, now, **where)


def task_for_person(uow, kind: NotificationKind, task: Mapping[str, Any], username: str,
                    by: str | None, now: dt.datetime, **extra: Any) -> None:
    """A task given to someone (assigned, transferred): they (or their substitute) hear of it."""
    task = task_fields(task)
    payload = {**_looked_up_payload(uow, task), "by": by, **extra}
    notify_routed(uow, kind, [username], payload, now,
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
                            "process_labels": dict(process_translations(uow, instance["id"])
                                                   .get(instance["process_key"], {})),
                            "business_key": instance.get("business_key"),
                            "outcome": data.get("outcome") if isinstance(
                                data.get("outcome"), (str, int, float, bool)) else None}}
    notify(uow, kind, people(uow, [instance.get("started_by")]), payload, now,
           process_instance_id=instance["id"])


INCIDENT_ROLES = ("designer", "admin")  # who repairs failed steps (GET /incidents)
_MESSAGE_CHARS = 500


def incident_opened(uow, incident: Any, now: dt.datetime) -> None:
    """A step failed (an Incident row, flushed): the designers and admins hear of it, with
    the element and the error, to repair it from the incident's page."""
    message = incident.message or ""
    payload = {"incident": {
        "id": incident.id, "process_key": incident.process_key,
        "process_labels": dict(process_translations(uow, incident.process_instance_id)
                               .get(incident.process_key, {})),
        "process_instance_id": incident.process_instance_id,
        "element_id": incident.element_id, "kind": incident.kind,
        "message": message if len(message) <= _MESSAGE_CHARS
        else message[:_MESSAGE_CHARS - 1] + "…"}}
    notify(uow, NotificationKind.INCIDENT_OPENED, with_roles(uow, INCIDENT_ROLES), payload, now,
           process_instance_id=incident.process_instance_id)


def payslips_ready(uow, run_id: int, period: str, usernames: Iterable[str],
                   now: dt.datetime) -> None:
    """A payroll run became final: each employee on it hears that their payslip is ready."""
    for person in people(uow, sorted(set(usernames))):
        notify(uow, NotificationKind.PAYSLIP_READY, [person],
               {"run": {"id": run_id, "period": period}, "username": person.username}, now,
               payroll_run_id=run_id)


def task_reminder(uow, task: Any, now: dt.datetime) -> None:
    """A task still open at its reminder time: whoever may take it hears of it again: the
    persons it is routed to (or their substitutes), else every active member of its owning
    departments (a reminder is not opt-in); and the department's webhook and robot."""
    task = task_fields(task)
    where = dict(departments=[task["department_key"]], task_id=task["id"],
                 process_instance_id=task["process_instance_id"])
    persons = routed_to(task)
    payload = _looked_up_payload(uow, task)
    if persons:
        notify_routed(uow, NotificationKind.TASK_REMINDER, persons, payload, now, **where)
    else:
        notify(uow, NotificationKind.TASK_REMINDER, members(uow, owners_of(task)), payload,
               now, **where)


def task_escalated(uow, task: Any, head: str, department_key: str, level: int,
                   now: dt.datetime) -> None:
    """A task still open at its escalation time: the head of `department_key` hears of it."""
    task = task_fields(task)
    notify(uow, NotificationKind.TASK_ESCALATED, people(uow, [head]),
           {**_looked_up_payload(uow, task),
            "escalation": {"level": level, "department": department_key}},
           now, departments=[task["department_key"]], task_id=task["id"],
           process_instance_id=task["process_instance_id"])
