"""Inbox queries and task handling short of completion: claim, unclaim, assign, comment."""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update

from .access import Actor, may_do, may_reassign, may_see_task
from .errors import Conflict, InvalidInput, NotFound, PermissionDenied
from .models import Employee, Task, TaskComment, utcnow
from .unit_of_work import UnitOfWork

MAX_PAGE = 200


@dataclass(frozen=True)
class TaskQuery:
    scope: str = "mine"
    status: str | None = "ready"
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
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        is_null, value, task_id = json.loads(base64.urlsafe_b64decode(padded))
        return bool(is_null), (dt.datetime.fromisoformat(value) if value else None), str(task_id)
    except (ValueError, TypeError):
        raise InvalidInput("the cursor is not one this API returned",
                           {"cursor": ["Invalid cursor."]}) from None


def list_tasks(uow: UnitOfWork, actor: Actor, query: TaskQuery) -> TaskPage:
    """One page of tasks in the caller's scope, using the inbox indexes.

    Pages by keyset when given a cursor (stable while tasks come and go), else by offset.

    mine: tasks held by the caller, plus unclaimed ones their department may do;
    department: every task of the departments they oversee; all: admins only.
    """
    statement = select(Task)
    if query.scope == "mine":
        statement = statement.where(or_(
            Task.assignee == actor.username,
            and_(Task.assignee.is_(None), Task.department_key == actor.department_key),
            Task.completed_by == actor.username))
    elif query.scope == "department":
        statement = statement.where(Task.department_key.in_(actor.overseen))
    elif query.scope == "all":
        if not actor.is_admin:
            raise PermissionDenied("scope=all is for administrators")
    else:
        raise InvalidInput("scope must be mine, department or all", {"scope": ["Invalid value."]})
    if query.status:
        statement = statement.where(Task.status == query.status)
    if query.process_key:
        statement = statement.where(Task.process_key == query.process_key)
    if query.due_before:
        statement = statement.where(Task.due_at < query.due_before)
    if query.due_after:
        statement = statement.where(Task.due_at >= query.due_after)
    if query.assignee:
        statement = statement.where(Task.assignee == query.assignee)
    if query.unassigned:
        statement = statement.where(Task.assignee.is_(None))
    sort = "due_at" if query.sort == "due_at" else "created_at"
    order = getattr(Task, sort)
    if query.cursor:
        after_null, after_value, after_id = _decode_cursor(query.cursor)
        if after_null:
            statement = statement.where(order.is_(None), Task.id > after_id)
        else:
            statement = statement.where(or_(order.is_(None), order > after_value,
                                            and_(order == after_value, Task.id > after_id)))
    statement = statement.order_by(order.is_(None), order, Task.id)
    limit = max(1, min(query.limit, MAX_PAGE))
    offset = 0 if query.cursor else max(query.offset, 0)
    rows = list(uow.session.scalars(statement.limit(limit + 1).offset(offset)))
    more = len(rows) > limit
    rows = rows[:limit]
    return TaskPage(rows, _encode_cursor(rows[-1], sort) if more else None)


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
        update(Task).where(Task.id == task_id, Task.status == "ready",
                           or_(Task.assignee.is_(None), Task.assignee == actor.username))
        .values(assignee=actor.username, claimed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not won:
        uow.session.refresh(task)
        raise Conflict(f"task {task_id} is {task.status}" if task.status != "ready"
                       else f"task {task_id} is held by {task.assignee}")
    uow.commit()
    uow.session.refresh(task)
    return task


def unclaim(uow: UnitOfWork, actor: Actor, task_id: str) -> Task:
    task = get_task(uow, actor, task_id)
    if task.assignee != actor.username and not may_reassign(actor, task):
        raise PermissionDenied("only the holder or a supervisor may release this task")
    if task.status != "ready":
        raise Conflict(f"task {task_id} is {task.status}")
    task.assignee, task.claimed_at = None, None
    uow.commit()
    return task


def assign(uow: UnitOfWork, actor: Actor, task_id: str, username: str) -> Task:
    task = get_task(uow, actor, task_id)
    if not may_reassign(actor, task):
        raise PermissionDenied("only the department's head, a manager above it or an admin "
                               "may assign this task")
    if task.status != "ready":
        raise Conflict(f"task {task_id} is {task.status}")
    assignee = uow.session.scalars(select(Employee).where(Employee.username == username)).first()
    if assignee is None or not assignee.active:
        raise InvalidInput(f"{username!r} is not an active employee", {"username": ["Unknown."]})
    if not may_do(assignee.department_key, task):
        raise InvalidInput(f"{username} is not in a department that owns {task.name!r}",
                           {"username": ["Not a member of the owning department."]})
    task.assignee, task.claimed_at = username, utcnow()
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
