"""Migrating running instances between versions (SQLite and PostgreSQL; every instance
re-hosted in a sandbox worker)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from services.errors import InvalidInput, NotFound, PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import (InstanceAction, MigrationItem, ProcessInstance, Task,
                                         Timer)
from services.workflow import migration
from tests.services.helpers import complete, import_demo_org, ready_task
from tests.services.migration_diagrams import KEY, deploy_version, start_many


@pytest.fixture
def v1(store):
    import_demo_org(store)
    deploy_version(store, 1)
    return store


def as_user(store, username, call, *args, **kwargs):
    with store.writing() as uow:
        return call(uow, actor_named(uow, username), *args, **kwargs)


def migrated_actions(store) -> dict[int, int]:
    with store.reading() as uow:
        return dict(uow.session.execute(
            select(InstanceAction.process_instance_id, func.count())
            .where(InstanceAction.kind == "migrated")
            .group_by(InstanceAction.process_instance_id)).all())


def versions_of(store, ids) -> set[int]:
    with store.reading() as uow:
        return set(uow.session.scalars(select(ProcessInstance.process_version)
                                       .where(ProcessInstance.id.in_(ids))))


def test_fifty_instances_move_to_a_version_with_a_required_inspection_field(v1):
    store = v1
    ids = start_many(store, 50)
    at_approve = ids[:10]
    for instance_id in at_approve:
        complete(store, instance_id, "inspect", "li.qa", {"result": "pass"})
    deploy_version(store, 2)
    with store.reading() as uow:
        timer_before = uow.session.scalars(select(Timer).where(
            Timer.process_instance_id == ids[-1], Timer.status == "pending")).one()

    plan = as_user(store, "chen.design", migration.plan, KEY, 1, 2)
    assert plan["summary"] == {"instances": 50, "migratable": 50, "left_out": 0}
    duties = {row["element_after"]: row for row in plan["duties"]}
    assert duties["inspect"]["fields_added"] == ["inspection_no"]
    assert duties["inspect"]["deadline_after"] == "P2D" and duties["inspect"]["change"] == "changed"
    assert (duties["approve"]["departments_before"], duties["approve"]["departments_after"]) \
        == (["qa"], ["warehouse"])
    by_id = {entry["instance_id"]: entry for entry in plan["instances"]}
    [approve_task] = by_id[at_approve[0]]["tasks"]
    assert (approve_task["department_before"], approve_task["department_after"]) == \
        ("qa", "warehouse")
    [inspect_task] = by_id[ids[-1]]["tasks"]
    assert inspect_task["form_changed"] and inspect_task["fields_added"] == ["inspection_no"]
    assert by_id[ids[-1]]["timers"][0]["replanned"] is True
    assert {"element_before": "inspect", "element_after": "inspect"} in by_id[ids[-1]]["mapped"]
    assert versions_of(store, ids) == {1}  # a dry run changes nothing
    assert migrated_actions(store) == {}

    row = as_user(store, "chen.design", migration.create, KEY, 1, 2, "inspection numbers")
    assert migration.run(store, row.id, batch_size=20) == 50
    assert versions_of(store, ids) == {2}
    assert migrated_actions(store) == {instance_id: 1 for instance_id in ids}
    with store.reading() as uow:
        done = migration.progress(uow, migration.get(uow, actor_named(uow, "admin"), row.id))
        approve_row = ready_task(store, at_approve[0], "approve")
        inspect_row = ready_task(store, ids[-1], "inspect")
        timer_after = uow.session.get(Timer, timer_before.id)
        action = uow.session.scalars(select(InstanceAction).where(
            InstanceAction.process_instance_id == ids[-1])).one()
    assert (done["status"], done["migrated"], done["pending"], done["percent"]) == \
        ("completed", 50, 0, 100)
    assert approve_row.department_key == "warehouse"
    assert inspect_row.due_at is not None and \
        inspect_row.due_at - inspect_row.created_at == dt.timedelta(days=2)
    assert timer_after.status == "pending" and timer_after.due_at > timer_before.due_at
    assert (action.actor, action.reason, action.status_before, action.status_after) == \
        ("chen.design", "inspection numbers", "running", "running")
    assert action.details["to_version"] == 2

    with pytest.raises(InvalidInput) as refused:
        complete(store, ids[-1], "inspect", "li.qa", {"result": "pass"})
    assert "inspection_no" in refused.value.errors
    complete(store, ids[-1], "inspect", "li.qa", {"result": "pass", "inspection_no": "IN-7"})
    assert ready_task(store, ids[-1], "approve").department_key == "warehouse"
    assert complete(store, at_approve[0], "approve", "guo.wh", {}).status == "completed"


class Crash(Exception):
    pass


def test_a_run_stopped_between_batches_resumes_without_migrating_anyone_twice(v1):
    store = v1
    ids = start_many(store, 25)
    deploy_version(store, 2)
    row = as_user(store, "admin", migration.create, KEY, 1, 2, "crash test")
    seen = []

    def crash(done, total):
        seen.append((done, total))
        raise Crash("the process running the migration died")

    with pytest.raises(Crash):
        migration.run(store, row.id, batch_size=10, after_batch=crash)
    assert seen == [(10, 25)]
    assert len(migrated_actions(store)) == 10 and versions_of(store, ids) == {1, 2}
    with store.reading() as uow:
        assert migration.progress(uow, migration.get(
            uow, actor_named(uow, "admin"), row.id))["status"] == "running"
    assert migration.run(store, row.id, batch_size=10) == 15
    assert migration.run(store, row.id, batch_size=10) == 0  # nothing left to do
    assert migrated_actions(store) == {instance_id: 1 for instance_id in ids}
    assert versions_of(store, ids) == {2}


def test_an_unmappable_instance_is_left_out_with_its_reason_until_mapped(v1):
    store = v1
    waiting, moved_on = start_many(store, 2)
    complete(store, moved_on, "inspect", "li.qa", {"result": "pass"})
    deploy_version(store, 2)
    deploy_version(store, 3)  # `inspect` renamed `check`

    plan = as_user(store, "chen.design", migration.plan, KEY, 1, 3)
    by_id = {entry["instance_id"]: entry for entry in plan["instances"]}
    assert by_id[waiting]["migratable"] is False
    assert by_id[waiting]["left_out"] == [
        "inspect is active and the new version has no element inspect: map it to one"]
    assert by_id[moved_on]["migratable"] is True  # at approve: its history is cut

    row = as_user(store, "chen.design", migration.create, KEY, 1, 3, "rename")
    assert migration.run(store, row.id) == 1
    with store.reading() as uow:
        item = uow.session.get(MigrationItem, (row.id, waiting))
        done = migration.progress(uow, migration.get(uow, actor_named(uow, "admin"), row.id))
    assert item.status == "left_out" and "inspect is active" in item.reason
    assert done["outside"] == [{"instance_id": waiting, "status": "left_out",
                                "reason": item.reason}]
    assert versions_of(store, [waiting]) == {1}

    mapped = as_user(store, "chen.design", migration.create, KEY, 1, 3, "rename, mapped",
                     {"inspect": "check"})
    assert migration.run(store, mapped.id) == 1
    assert versions_of(store, [waiting]) == {3}
    task = ready_task(store, waiting, "check")
    with store.reading() as uow:
        assert uow.session.scalars(select(Timer.element_id).where(
            Timer.process_instance_id == waiting, Timer.status == "pending")).all() == ["remind"]
    assert task.name == "check"
    complete(store, waiting, "check", "li.qa", {"result": "pass"})
    assert complete(store, waiting, "approve", "li.qa", {}).status == "completed"
    assert complete(store, moved_on, "approve", "li.qa", {}).status == "completed"


def test_bad_requests_are_refused_with_the_reason(v1):
    store = v1
    start_many(store, 1)
    deploy_version(store, 2)
    with pytest.raises(PermissionDenied):
        as_user(store, "li.qa", migration.plan, KEY, 1, 2)
    with pytest.raises(NotFound):
        as_user(store, "admin", migration.plan, "nope", 1, 2)
    with pytest.raises(InvalidInput) as unknown:
        as_user(store, "admin", migration.plan, KEY, 1, 7)
    assert unknown.value.errors == {"to_version": ["inspection has no version 7 (it has 1, 2)."]}
    with pytest.raises(InvalidInput) as same:
        as_user(store, "admin", migration.plan, KEY, 2, 2)
    assert "to_version" in same.value.errors
    with pytest.raises(InvalidInput) as mapping:
        as_user(store, "admin", migration.plan, KEY, 1, 2, {"inspekt": "inspect",
                                                            "approve": "nothing"})
    assert mapping.value.errors == {"mapping": {
        "inspekt": ["inspekt is not an element of version 1."],
        "approve": ["nothing is not an element of version 2."]}}
    with pytest.raises(InvalidInput) as others:
        as_user(store, "admin", migration.plan, KEY, 1, 2, None, [999])
    assert "instance_ids" in others.value.errors
    with pytest.raises(InvalidInput):
        as_user(store, "admin", migration.create, KEY, 1, 2, "  ")


def test_suspended_and_errored_instances_keep_their_status(v1):
    store = v1
    suspended, = start_many(store, 1)
    from services.workflow import lifecycle
    as_user(store, "admin", lifecycle.suspend, suspended, "hold on")
    deploy_version(store, 2)
    row = as_user(store, "admin", migration.create, KEY, 1, 2, "keep status")
    assert migration.run(store, row.id) == 1
    with store.reading() as uow:
        instance = uow.session.get(ProcessInstance, suspended)
        assert (instance.status, instance.process_version) == ("suspended", 2)
        assert uow.session.scalars(select(Task.status).where(
            Task.process_instance_id == suspended)).all() == ["ready"]
