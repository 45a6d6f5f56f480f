"""Inbox queries and task handling short of completion: claim, unclaim, assign, comment."""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import and_, false, func, or_, select, union_all, update

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import may_do, may_reassign, may_see_task
from services.identity.actor import Actor
from services.notify import events as notify_events
from services.persistence.models import Employee, Task, TaskComment, utcnow
from services.persistence.statuses import NotificationKind, TaskStatus
from services.persistence.unit_of_work import UnitOfWork

MAX_PAGE = 200


@dataclass(frozen=True)
class TaskQuery:
    scope: str = "mine"
    status: str | None = TaskStatus.READY
    process_key: str | None = None
    due_before: dt.datetime | None = None
    due_after: dt.datetime | None = None
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
    arms = _scope_arms(actor, query)
    if query.status == TaskStatus.READY and arms:
        ranged = sort == "due_at" and bool(query.due_before or query.due_after)
        statement = _inbox_statement(arms, _filters(query, sort), sort, ranged, limit, offset)
    else:
        statement = _plain_statement(arms, _filters(query, sort), sort, limit, offset)
    rows = list(uow.session.scalars(statement))
    more = len(rows) > limit
    rows = rows[:limit]
    return TaskPage(rows, _encode_cursor(rows[-1], sort) if more else None)


def _scope_arms(actor: Actor, query: TaskQuery) -> list:
    """The scope as alternatives (OR-ed); [] means no restriction."""
    if query.scope == "all":
        return []
    if query.scope == "department":
        return [Task.department_key == key for key in sorted(actor.overseen)]
    arms = [Task.assignee == actor.username,
            and_(Task.assignee.is_(None), Task.department_key == actor.department_key)]
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
    if query.due_before or query.due_after:
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
    """Held by me; unclaimed in my department; overdue in my department."""
    ready = select(func.count()).select_from(Task).where(Task.status == TaskStatus.READY)
    return {
        "mine": uow.session.scalar(ready.where(Task.assignee == actor.username)),
        "unclaimed": uow.session.scalar(ready.where(Task.assignee.is_(None),
                                                    Task.department_key == actor.department_key)),
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
        raise NotFound(f"task {task_id} does not exist")  # do not reveal others' tasks
    return task


def claim(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    task = get_task(uow, actor, task_id)
    if not may_do(actor.department_key, task):
        raise PermissionDenied(f"{task.name!r} is not a duty of {actor.department_key}")
    now = utcnow()
    # One conditional UPDATE decides between racing claimers on every backend.
    won = uow.session.execute(
        update(Task).where(Task.id == task_id, Task.status == TaskStatus.READY,
                           or_(Task.assignee.is_(None), Task.assignee == actor.username))
        .values(assignee=actor.username, claimed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        uow.session.refresh(task)
        raise Conflict(f"task {task_id} is {task.status}" if task.status != TaskStatus.READY
                       else f"task {task_id} is held by {task.assignee}")
    uow.commit()
    uow.session.refresh(task)
    return task


def unclaim(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    task = get_task(uow, actor, task_id)
    if task.assignee != actor.username and not may_reassign(actor, task):
        raise PermissionDenied("only the holder or a supervisor may release this task")
    if task.status != TaskStatus.READY:
        raise Conflict(f"task {task_id} is {task.status}")
    task.assignee, task.claimed_at = None, None
    uow.commit()
    return task


def assign(uow: UnitOfWork, actor: Actor, task_id: str, username: str) -> Task:
    task = get_task(uow, actor, task_id)
    if not may_reassign(actor, task):
        raise PermissionDenied("only the department's head, a manager above it or an admin "
                               "may assign this task")
    if task.status != TaskStatus.READY:
        raise Conflict(f"task {task_id} is {task.status}")
    assignee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    if assignee is None or not assignee.active:
        raise InvalidInput(f"{username!r} is not an active employee", {"username": ["Unknown."]})
    if not may_do(assignee.department_key, task):
        raise InvalidInput(f"{username} is not in a department that owns {task.name!r}",
                           {"username": ["Not a member of the owning department."]})
    task.assignee, task.claimed_at = username, utcnow()
    if username != actor.username:
        notify_events.task_for_person(uow, NotificationKind.TASK_ASSIGNED, task, username,
                                      actor.username, task.claimed_at)
    uow.commit()
    return task


def add_comment(uow: UnitOfWork, actor: Actor, task_id: str, text: str) -> TaskComment:
    get_task(uow, actor, task_id)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("a comment needs text", {"text": ["Field may not be blank."]})
    comment = TaskComment(task_id=task_id, author=actor.username, text=text[:4000])
    uow.session.add(comment)
    uow.commit()
    return comment


def comments(uow: UnitOfWork, actor: Actor, task_id: str) -> list[TaskComment]:
    get_task(uow, actor, task_id)
    return list(uow.session.scalars(select(TaskComment).where(TaskComment.task_id == task_id)
                                    .order_by(TaskComment.created_at, TaskComment.id)))
