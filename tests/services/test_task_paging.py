"""services.workflow.tasks.list_tasks: scopes, keyset cursors, due ranges (SQLite and
PostgreSQL, where ordering by a nullable time and the inbox query plans differ)."""
from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from services.errors import InvalidInput, PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import Task
from services.workflow import tasks
from tests.services.helpers import DELIVERY, complete, deploy, import_demo_org, start

T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def inbox(store):
    """Five ready procurement tasks due T0+4h, +3h, +2h, +1h and never, in that start order.

    Returns their ids in inbox order: by due time, those without one last."""
    import_demo_org(store)
    deploy(store)
    ids = [only_task(store, start(store)) for _ in range(5)]
    for hours, task_id in zip([4, 3, 2, 1, None], ids):
        set_due(store, task_id, None if hours is None else T0 + dt.timedelta(hours=hours))
    return [ids[3], ids[2], ids[1], ids[0], ids[4]]


def only_task(store, instance_id: int) -> str:
    with store.reading() as uow:
        return uow.session.scalars(select(Task.id).where(
            Task.process_instance_id == instance_id)).one()


def store_instance_of(store, task_id: str) -> int:
    with store.reading() as uow:
        return uow.session.get(Task, task_id).process_instance_id


def set_due(store, task_id: str, due: dt.datetime | None) -> None:
    with store.writing() as uow:
        uow.session.execute(update(Task).where(Task.id == task_id).values(due_at=due))
        uow.commit()


def listed(store, username: str, **query) -> tasks.TaskPage:
    with store.reading() as uow:
        return tasks.list_tasks(uow, actor_named(uow, username), tasks.TaskQuery(**query))


def ids(page: tasks.TaskPage) -> list[str]:
    return [task.id for task in page.tasks]


def walk(store, username: str, limit: int, **query) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = listed(store, username, limit=limit, cursor=cursor, **query)
        pages.append(ids(page))
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_cursor_pages_list_every_task_once_by_due_time_with_undated_ones_last(inbox, store):
    assert walk(store, "zhang.proc", 2) == [inbox[:2], inbox[2:4], inbox[4:]]


def test_a_cursor_page_is_stable_when_tasks_are_added_before_it(inbox, store):
    first = listed(store, "zhang.proc", limit=2)
    earlier = only_task(store, start(store))
    set_due(store, earlier, T0)
    following = listed(store, "zhang.proc", limit=2, cursor=first.next_cursor)
    assert ids(following) == inbox[2:4]


def test_a_cursor_page_is_stable_when_tasks_before_it_are_completed(inbox, store):
    first = listed(store, "zhang.proc", limit=2)
    instance_id = store_instance_of(store, inbox[0])
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    following = listed(store, "zhang.proc", limit=2, cursor=first.next_cursor)
    assert ids(following) == inbox[2:4]


def test_a_cursor_past_the_undated_tasks_continues_among_them(inbox, store):
    set_due(store, inbox[3], None)
    assert walk(store, "zhang.proc", 1)[3:] == [[min(inbox[3:])], [max(inbox[3:])]]


def test_cursor_pages_by_creation_time_walk_in_start_order(inbox, store):
    started = [inbox[3], inbox[2], inbox[1], inbox[0], inbox[4]]
    pages = walk(store, "zhang.proc", 2, sort="created_at")
    assert [task_id for page in pages for task_id in page] == started


def cursor_of(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not a cursor",
    cursor_of([False, "2030-01-07T09:00:00", "a"]),          # a naive time
    cursor_of([False, "0001-01-01T00:00:00+14:00", "a"]),    # before year 1 in UTC
    cursor_of([False, "2030-01-07T09:00:00+00:00", "a\u0000b"]),
    cursor_of([False, "2030-01-07T09:00:00+00:00", 7]),
    cursor_of({"after": 1}),
], ids=["garbage", "naive", "overflow", "nul", "number", "mapping"])
def test_a_forged_cursor_is_invalid_input(inbox, store, cursor):
    with pytest.raises(InvalidInput) as refused:
        listed(store, "zhang.proc", cursor=cursor)
    assert refused.value.errors == {"cursor": ["Invalid cursor."]}


def test_mine_is_what_one_holds_and_the_unclaimed_tasks_of_one_s_department(inbox, store):
    with store.writing() as uow:
        tasks.claim(uow, actor_named(uow, "lin.proc"), inbox[0])
    assert ids(listed(store, "zhang.proc")) == inbox[1:]
    assert ids(listed(store, "lin.proc")) == inbox
    assert ids(listed(store, "li.qa")) == []


def test_mine_includes_the_tasks_one_completed_when_completed_ones_are_asked_for(inbox, store):
    complete(store, store_instance_of(store, inbox[0]), "register_delivery", "lin.proc",
             DELIVERY)
    assert ids(listed(store, "lin.proc", status="completed")) == [inbox[0]]
    assert ids(listed(store, "zhang.proc", status="completed")) == [inbox[0]]
    assert ids(listed(store, "guo.wh", status="completed")) == []


def test_department_scope_is_every_task_of_the_departments_one_oversees(inbox, store):
    with store.writing() as uow:
        tasks.claim(uow, actor_named(uow, "lin.proc"), inbox[0])
    assert ids(listed(store, "zheng.proc", scope="department")) == inbox
    assert ids(listed(store, "liu.gm", scope="department")) == inbox
    assert ids(listed(store, "zhang.proc", scope="department")) == inbox
    assert ids(listed(store, "wang.qa", scope="department")) == []


def test_scope_all_is_for_administrators_only(inbox, store):
    assert ids(listed(store, "admin", scope="all")) == inbox
    with pytest.raises(PermissionDenied):
        listed(store, "liu.gm", scope="all")


def test_an_unknown_scope_is_invalid_input(inbox, store):
    with pytest.raises(InvalidInput):
        listed(store, "zhang.proc", scope="everything")


def test_a_due_range_includes_its_start_and_leaves_out_its_end_and_undated_tasks(inbox, store):
    ranged = listed(store, "zhang.proc", due_after=T0 + dt.timedelta(hours=2),
                    due_before=T0 + dt.timedelta(hours=4))
    assert ids(ranged) == inbox[1:3]
    assert ids(listed(store, "zhang.proc", due_before=T0 + dt.timedelta(hours=2))) == \
        inbox[:1]
    assert ids(listed(store, "zhang.proc", due_after=T0 + dt.timedelta(hours=4))) == \
        inbox[3:4]


def test_cursor_pages_within_a_due_range_stay_in_it(inbox, store):
    assert walk(store, "zhang.proc", 1, due_after=T0 + dt.timedelta(hours=2)) == \
        [inbox[1:2], inbox[2:3], inbox[3:4]]


def test_overdue_at_lists_exactly_the_open_tasks_past_due_by_the_one_overdue_rule(inbox, store):
    now = T0 + dt.timedelta(hours=2, minutes=30)  # the +1h and +2h tasks are late
    assert ids(listed(store, "zhang.proc", overdue_at=now)) == inbox[:2]
    complete(store, store_instance_of(store, inbox[0]), "register_delivery", "zhang.proc",
             DELIVERY)
    assert ids(listed(store, "zhang.proc", overdue_at=now)) == inbox[1:2]
    with store.reading() as uow:
        counts = tasks.inbox_counts(uow, actor_named(uow, "zhang.proc"), now)
    assert counts["overdue"] == 1
