"""Inbox queries and task handling short of completion: claim, unclaim, assign, transfer,
comment, history."""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import and_, exists, false, func, or_, select, union_all, update

from services.errors import N_, Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import (
    may_do,
    may_hand_on,
    may_reassign,
    may_see_task,
    may_take,
    stands_in_for,
)
from services.identity.actor import Actor
from services.notify import events as notify_events
from services.notify import follow_ups
from services.org.absences import cover_for, covered_by
from services.persistence.models import (
    Employee,
    Escalation,
    ProcessInstance,
    Task,
    TaskCandidate,
    TaskComment,
    TaskHistory,
    utcnow,
)
from services.persistence.statuses import NotificationKind, TaskStatus
from services.persistence.unit_of_work import UnitOfWork
from services.workflow.standing import require_takes_work

MAX_PAGE = 200


@dataclass(frozen=True)
class TaskQuery:
    scope: str = "mine"
    status: str | None = TaskStatus.READY
    process_key: str | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
    overdue_at: dt.datetime | None = None  # only tasks overdue at that moment
    assignee: str | None = None
    unassigned: bool = False
    sort: str = "due_at"
    limit: int = 50
    offset: int = 0
    cursor: str | None = None


@dataclass(frozen=True)
class TaskPage:
    tasks: list[Task]
    next_cursor: str | None


def _encode_cursor(task: Task, sort: str) -> str:
    value = getattr(task, sort)
    payload = [value is None, value.isoformat() if value else None, task.id]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[bool, dt.datetime | None, str]:
    """Undo _encode_cursor; a forged cursor is a 422, never a value the database chokes on
    (a naive or out-of-range time, an id with NUL or surrogate characters)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        is_null, value, task_id = json.loads(base64.urlsafe_b64decode(padded))
        after = dt.datetime.fromisoformat(value) if value else None
        if after is not None and after.tzinfo is None:
            raise ValueError("a cursor's time is always in UTC")
        if after is not None:
            after.astimezone(dt.timezone.utc)  # OverflowError near year 1 or 9999
        if not (isinstance(task_id, str) and task_id.isascii() and task_id.isprintable()):
            raise ValueError("a cursor's task id is always a UUID")
        return bool(is_null), after, task_id
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput("the cursor is not one this API returned",
                           {"cursor": ["Invalid cursor."]}) from None


def list_tasks(uow: UnitOfWork, actor: Actor, query: TaskQuery) -> TaskPage:
    """One page of tasks in the caller's scope.

    mine: tasks held by the caller, unclaimed ones of their department, and (for
    completed tasks) the ones they completed; department: every task of the departments
    they oversee; all: admins only. Pages by keyset with a cursor (stable while tasks
    come and go), else by offset.
    """
    if query.scope == "all" and not actor.is_admin:
        raise PermissionDenied("scope=all is for administrators")
    if query.scope not in ("mine", "department", "all"):
        raise InvalidInput("scope must be mine, department or all", {"scope": ["Invalid value."]})
    sort = "due_at" if query.sort == "due_at" else "created_at"
    limit = max(1, min(query.limit, MAX_PAGE))
    offset = 0 if query.cursor else max(query.offset, 0)
    arms = _scope_arms(actor, query, *_people_of(uow, actor, query))
    if query.status == TaskStatus.READY and arms:
        ranged = sort == "due_at" and _due_ranged(query)
        statement = _inbox_statement(arms, _filters(query, sort), sort, ranged, limit, offset)
    else:
        statement = _plain_statement(arms, _filters(query, sort), sort, limit, offset)
    rows = list(uow.session.scalars(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    return TaskPage(rows, _encode_cursor(rows[-1], sort) if more else None)


# An unassigned task offered to candidate users is theirs, not the whole department's.
_HAS_CANDIDATES = exists().where(TaskCandidate.task_id == Task.id)


def _offered_to(uow: UnitOfWork, people: list[str]) -> list[str]:
    """Ids of the ready, unassigned tasks offered to any of `people` as candidate users.

    Read first, by the candidates' index: as a subquery inside the inbox's index-ordered
    arms, SQLite walks every ready task in due order testing each against it."""
    return list(uow.session.scalars(
        select(TaskCandidate.task_id).join(Task, Task.id == TaskCandidate.task_id)
        .where(TaskCandidate.username.in_(people), Task.status == TaskStatus.READY,
               Task.assignee.is_(None)).distinct()))


def _people_of(uow: UnitOfWork, actor: Actor, query: TaskQuery
               ) -> tuple[list[str], list[str]]:
    """For scope=mine: the actor and the absent people they stand in for, and the ready
    tasks offered to them as candidates."""
    if query.scope != "mine":
        return [], []
    people = [actor.username, *sorted(covered_by(uow, actor.username, utcnow()))]
    return people, _offered_to(uow, people) if query.status == TaskStatus.READY else []


def _scope_arms(actor: Actor, query: TaskQuery, people: list[str] = (),
                offered: list[str] = ()) -> list:
    """The scope as alternatives (OR-ed); [] means no restriction. For scope=mine,
    `people` are the actor and whom they stand in for, `offered` the ids of the ready
    tasks offered to those people as candidate users."""
    if query.scope == "all":
        return []
    if query.scope == "department":
        return [Task.department_key == key for key in sorted(actor.overseen)]
    arms = [*(Task.assignee == person for person in people),
            and_(Task.assignee.is_(None), Task.department_key == actor.department_key,
                 ~_HAS_CANDIDATES)]
    if offered:
        arms.append(and_(Task.assignee.is_(None), Task.id.in_(offered)))
    if query.status != TaskStatus.READY:  # a ready task has no completer
        arms.append(Task.completed_by == actor.username)
    return arms


def _filters(query: TaskQuery, sort: str) -> list:
    order = getattr(Task, sort)
    filters = []
    if query.status:
        filters.append(Task.status == query.status)
    if query.process_key:
        filters.append(Task.process_key == query.process_key)
    if query.due_before:
        filters.append(Task.due_at < query.due_before)
    if query.due_after:
        filters.append(Task.due_at >= query.due_after)
    if query.overdue_at:
        filters.append(Task.overdue(query.overdue_at))
    if _due_ranged(query):
        # Implied by the range, but spelled out so it is a range of the inbox indexes'
        # `(due_at IS NULL)` column. `IS false`: PostgreSQL rewrites `= false` to
        # `due_at IS NOT NULL`, which no index matches.
        filters.append(Task.due_at.is_(None).is_(false()))
    if query.assignee:
        filters.append(Task.assignee == query.assignee)
    if query.unassigned:
        filters.append(Task.assignee.is_(None))
    if query.cursor:
        after_null, after_value, after_id = _decode_cursor(query.cursor)
        if after_null:
            filters += [order.is_(None), Task.id > after_id]
        else:
            filters.append(or_(order.is_(None), order > after_value,
                               and_(order == after_value, Task.id > after_id)))
    return filters


def _due_ranged(query: TaskQuery) -> bool:
    return bool(query.due_before or query.due_after or query.overdue_at)


def _plain_statement(arms: list, filters: list, sort: str, limit: int, offset: int):
    order = getattr(Task, sort)
    statement = select(Task).where(*filters)
    if arms:
        statement = statement.where(or_(*arms))
    return statement.order_by(order.is_(None), order, Task.id).limit(limit + 1).offset(offset)


def _inbox_statement(arms: list, filters: list, sort: str, ranged: bool, limit: int,
                     offset: int):
    """Ready tasks: one index-ordered arm per alternative of the scope, merged.

    An OR or IN over departments cannot be read from an index in sort order, so with
    100,000 open tasks the plain query sorts them all. Each arm here reads at most
    offset + limit + 1 entries of `ix_tasks_*_due` in order (ids and sort keys only);
    the merged page is cut first and its rows read by key.
    """
    order = getattr(Task, sort)
    # In a due range there are no NULL due dates: ordering by due_at alone lets SQLite
    # read the index range in order instead of sorting it.
    arm_order = [order, Task.id] if ranged else [order.is_(None), order, Task.id]
    parts = [select(select(Task.id, order.label("sort_key")).where(arm, *filters)
                    .order_by(*arm_order).limit(offset + limit + 1).subquery())
             for arm in arms]
    merged = union_all(*parts).subquery()
    page = (select(merged).order_by(merged.c.sort_key.is_(None), merged.c.sort_key, merged.c.id)
            .limit(limit + 1).offset(offset).subquery())
    return (select(Task).join(page, Task.id == page.c.id)
            .order_by(page.c.sort_key.is_(None), page.c.sort_key, page.c.id))


def inbox_counts(uow: UnitOfWork, actor: Actor, now: dt.datetime) -> dict[str, int]:
    """Held by (or assigned to) me or whom I stand in for; unclaimed ones I may take;
    overdue in my department."""
    ready = select(func.count()).select_from(Task).where(Task.status == TaskStatus.READY)
    people = [actor.username, *covered_by(uow, actor.username, now)]
    offered = _offered_to(uow, people)
    return {
        "mine": uow.session.scalar(ready.where(Task.assignee.in_(people))),
        "unclaimed": uow.session.scalar(ready.where(
            Task.assignee.is_(None), Task.department_key == actor.department_key,
            ~_HAS_CANDIDATES)) + len(offered),
        "overdue": uow.session.scalar(ready.where(Task.overdue(now),
                                                  Task.department_key == actor.department_key)),
    }


def inbox_process_keys(uow: UnitOfWork, actor: Actor) -> list[str]:
    """Processes with open work in my department (the inbox's filter choices)."""
    return sorted(uow.session.scalars(select(Task.process_key).where(
        Task.status == TaskStatus.READY, Task.department_key == actor.department_key).distinct()))


def get_task(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    task = uow.session.get(Task, task_id)
    if task is None or not may_see_task(actor, task):
        # The same answer whether or not it exists: others' work stays unrevealed.
        raise NotFound(text=N_("task %(task)s does not exist"), params={"task": task_id})
    return task


def claim(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    """Take a task. A substitute claims an absent person's task in that person's name, so
    it stays theirs when they are back."""
    task = get_task(uow, actor, task_id)
    if not may_do(actor.department_key, task):
        raise PermissionDenied(text=N_("'%(name)s' is not a duty of %(department)s"),
                               params={"name": task.name,
                                       "department": actor.department_key})
    require_takes_work(task.process_instance_id, uow.session.scalar(
        select(ProcessInstance.status).where(ProcessInstance.id == task.process_instance_id)))
    now = utcnow()
    covered = cover_for(uow, actor, task, now)
    if task.status == TaskStatus.READY and not may_take(actor, task, covered):
        if task.assignee:
            raise Conflict(text=N_("task %(task)s is held by %(holder)s"),
                           params={"task": task_id, "holder": task.assignee})
        raise PermissionDenied(text=N_("'%(name)s' is offered to %(people)s only"),
                               params={"name": task.name,
                                       "people": ", ".join(task.candidate_users)})
    holder = stands_in_for(actor, task, covered) or actor.username
    # One conditional UPDATE decides between racing claimers on every backend.
    won = uow.session.execute(
        update(Task).where(Task.id == task_id, Task.status == TaskStatus.READY,
                           or_(Task.assignee.is_(None), Task.assignee == holder))
        .values(assignee=holder, claimed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        uow.session.refresh(task)
        if task.status != TaskStatus.READY:
            raise _in_state(task_id, task.status)
        raise Conflict(text=N_("task %(task)s is held by %(holder)s"),
                       params={"task": task_id, "holder": task.assignee})
    uow.commit()
    uow.session.refresh(task)
    return task


def unclaim(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    task = get_task(uow, actor, task_id)
    if task.assignee != actor.username and not may_reassign(actor, task):
        raise PermissionDenied(text=N_("only the holder or a supervisor may release this task"))
    if task.status != TaskStatus.READY:
        raise _in_state(task_id, task.status)
    task.assignee, task.claimed_at = None, None
    uow.commit()
    return task


def assign(uow: UnitOfWork, actor: Actor, task_id: str, username: str) -> Task:
    task = get_task(uow, actor, task_id)
    if not may_reassign(actor, task):
        raise PermissionDenied(text=N_("only the department's head, a manager above it or an "
                                       "admin may assign this task"))
    if task.status != TaskStatus.READY:
        raise _in_state(task_id, task.status)
    _require_owner(uow, task, username)
    previous = task.assignee
    task.assignee, task.claimed_at = username, utcnow()
    _record(uow, task, actor, "assigned", previous, username, None)
    if username != actor.username:
        notify_events.task_for_person(uow, NotificationKind.TASK_ASSIGNED, task, username,
                                      actor.username, task.claimed_at)
    uow.commit()
    return task


def transfer(uow: UnitOfWork, actor: Actor, task_id: str, username: str, reason: str) -> Task:
    """转交: hand a ready task to another member of an owning department, with a reason
    kept in the task's history. The person it is for, a head above it or an admin may."""
    task = get_task(uow, actor, task_id)
    if not may_hand_on(actor, task):
        raise PermissionDenied(text=N_("only the task's assignee, the head of its department, "
                                       "a manager above it or an admin may transfer it"))
    if task.status != TaskStatus.READY:
        raise _in_state(task_id, task.status)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(errors={"reason": ["Field may not be blank."]},
                           text=N_("a transfer needs a reason"))
    if username == task.assignee:
        raise InvalidInput(errors={"username": ["Already assigned to this person."]},
                           text=N_("task %(task)s is already %(user)s's"),
                           params={"task": task_id, "user": username})
    _require_owner(uow, task, username)
    previous, now = task.assignee, utcnow()
    # Conditional, like a claim: a racing claim or transfer makes this one a conflict.
    moved = uow.session.execute(
        update(Task).where(Task.id == task_id, Task.status == TaskStatus.READY,
                           Task.assignee.is_(None) if previous is None
                           else Task.assignee == previous)
        .values(assignee=username, claimed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not moved:
        raise Conflict(text=N_("task %(task)s changed hands meanwhile; reload and retry"),
                       params={"task": task_id})
    _record(uow, task, actor, "transferred", previous, username, reason[:4000])
    notify_events.task_for_person(uow, NotificationKind.TASK_TRANSFERRED, task, username,
                                  actor.username, now)
    uow.commit()
    uow.session.refresh(task)
    return task


def history(uow: UnitOfWork, actor: Actor, task_id: str) -> list[TaskHistory]:
    """Who handed the task to whom, oldest first."""
    get_task(uow, actor, task_id)
    return list(uow.session.scalars(select(TaskHistory).where(TaskHistory.task_id == task_id)
                                    .order_by(TaskHistory.at, TaskHistory.id)))


def _require_owner(uow: UnitOfWork, task: Task, username: str) -> None:
    """`username` is an active member of a department that owns the task (else 422)."""
    person = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    if person is None or not person.active:
        raise InvalidInput(errors={"username": ["Unknown."]},
                           text=N_("'%(user)s' is not an active employee"),
                           params={"user": username})
    if not may_do(person.department_key, task):
        raise InvalidInput(errors={"username": ["Not a member of the owning department."]},
                           text=N_("%(user)s is not in a department that owns '%(name)s'"),
                           params={"user": username, "name": task.name})


def _in_state(task_id: str, status: str) -> Conflict:
    return Conflict(text=N_("task %(task)s is %(status)s"), params={"task": task_id,
                                                                   "status": status})


def _record(uow: UnitOfWork, task: Task, actor: Actor, action: str, previous: str | None,
            username: str, reason: str | None) -> None:
    uow.session.add(TaskHistory(task_id=task.id, at=utcnow(), actor=actor.username,
                                action=action, from_username=previous, to_username=username,
                                reason=reason))


def add_comment(uow: UnitOfWork, actor: Actor, task_id: str, text: str) -> TaskComment:
    get_task(uow, actor, task_id)
    text = (text or "").strip()
    if not text:
        raise InvalidInput(errors={"text": ["Field may not be blank."]},
                           text=N_("a comment needs text"))
    comment = TaskComment(task_id=task_id, author=actor.username, text=text[:4000])
    uow.session.add(comment)
    uow.commit()
    return comment


def escalations(uow: UnitOfWork, actor: Actor, task_id: str) -> list[Escalation]:
    """Who was told the task was late, level by level (services.notify.follow_ups)."""
    get_task(uow, actor, task_id)
    return follow_ups.escalations_of(uow, [task_id])[task_id]


def comments(uow: UnitOfWork, actor: Actor, task_id: str) -> list[TaskComment]:
    get_task(uow, actor, task_id)
    return list(uow.session.scalars(select(TaskComment).where(TaskComment.task_id == task_id)
                                    .order_by(TaskComment.created_at, TaskComment.id)))
