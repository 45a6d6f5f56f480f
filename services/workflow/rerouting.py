"""What an org import does to the work: which department owns each step of the deployed
processes before and after, which open tasks move to another department's inbox, and which
lanes or candidate groups would route to no department.

Both sides are asked of services.org.directory.Directory (the current one, and the one
the new org document would make), the same `inbox_of` every new task is routed by: one
definition of who owns a step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from sqlalchemy import select

from services.notify import events as notify_events
from services.notify.events import task_fields
from services.org.directory import Directory
from services.persistence.models import ProcessDefinition, ProcessInstance, Task, TaskHistory, utcnow
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.definitions import list_latest, model_of


@dataclass
class StepOwner:
    """A step (user or manual task) of a deployed process, and its owner before and after."""

    process_key: str
    version: int
    element_id: str
    name: str
    lane: str | None
    candidate_groups: tuple[str, ...]
    before: tuple[str | None, list[str]]  # (department_key, candidate departments)
    after: tuple[str | None, list[str]]

    @property
    def moves(self) -> bool:
        return self.before != self.after


@dataclass
class TaskMove:
    """An open task whose inbox an import changes."""

    task: Task
    before: tuple[str | None, list[str]]
    after: tuple[str | None, list[str]]
    unassigned: bool  # its assignee would no longer belong to a department owning it


@dataclass
class Impact:
    steps: list[StepOwner] = field(default_factory=list)
    moves: list[TaskMove] = field(default_factory=list)
    # (process key, version, element id, step name, the lane or group name)
    orphans: list[tuple[str, int, str, str, str]] = field(default_factory=list)


def routing_impact(uow: UnitOfWork, departments: list[dict], employees: list[dict]) -> Impact:
    """What importing the validated org document would do to routing; reads only."""
    now, then = Directory.load(uow), Directory.proposed(departments, employees)
    impact = Impact()
    for definition in list_latest(uow):
        model = model_of(uow, definition)
        for duty in model.duties.values():
            impact.steps.append(StepOwner(
                model.key, definition.version, duty.element_id, duty.name, duty.lane,
                duty.candidate_groups, now.inbox_of(duty), then.inbox_of(duty)))
            impact.orphans += [(model.key, definition.version, duty.element_id, duty.name, name)
                               for name in duty.owners
                               if now.is_known_owner(name) and not then.is_known_owner(name)]
    open_tasks = uow.session.execute(
        select(Task, ProcessDefinition).join(ProcessInstance, ProcessInstance.id == Task.process_instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(Task.status == TaskStatus.READY).order_by(Task.created_at, Task.id)).all()
    snapshot = then.snapshot(uow)
    for task, definition in open_tasks:
        duty = model_of(uow, definition).duties.get(task.element_id)
        if duty is None:
            continue
        named = ((task.assignee,) if task.assignee else ()) + tuple(task.candidate_users or ())
        # The departments a candidateGroups expression gave stay (a key routes to itself).
        given = tuple(task.candidate_departments or ()) if duty.group_expression else ()
        after = then.inbox_of(duty, named, snapshot if not duty.owners and not given else None,
                              given)
        before = (task.department_key, list(task.candidate_departments or []))
        if after == before:
            continue
        if after[0] is None:  # the step's own names are listed above; an older version's here
            impact.orphans += [(task.process_key, definition.version, duty.element_id, duty.name,
                                name) for name in duty.owners if not then.is_known_owner(name)]
        holder = snapshot.department_of(task.assignee) if task.assignee else None
        impact.moves.append(TaskMove(task, before, after, unassigned=bool(task.assignee) and (
            holder is None or holder not in (after[0], *after[1]))))
    impact.orphans = list(dict.fromkeys(impact.orphans))
    return impact


def move_open_tasks(uow: UnitOfWork, impact: Impact, by: str, reason: str) -> None:
    """Move the open tasks of `impact` to their new inboxes (in the caller's transaction,
    after the new org is written); a task whose assignee no longer belongs to an owning
    department goes back to the new department's pool. Each move is kept in the task's
    history, and the new department hears of the tasks nobody holds as of new tasks."""
    for move in impact.moves:
        task = move.task
        task.department_key, task.candidate_departments = move.after[0], list(move.after[1])
        uow.session.add(TaskHistory(
            task_id=task.id, at=utcnow(), actor=by, action="rerouted",
            from_username=task.assignee if move.unassigned else None, to_username=None,
            reason=f"{reason}: {move.before[0] or '-'} -> {move.after[0] or '-'}"))
        if move.unassigned:
            task.assignee, task.claimed_at = None, None
    pooled = [task_fields(move.task) for move in impact.moves if not move.task.assignee]
    if pooled:
        uow.session.flush()  # the new org's members and channels
        notify_events.tasks_ready(uow, pooled, Directory.load(uow).departments, utcnow())
