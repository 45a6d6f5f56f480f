"""Withdraw, cancel, suspend and resume process instances (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, text

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import InstanceAction, Task, TaskEvent, Timer
from services.workflow import instances, lifecycle, tasks, worker
from tests.services.helpers import DELIVERY, PASS, complete, deploy, import_demo_org, ready_task

INTAKE = {"storage_location": "A-1", "received_quantity": 10}


@pytest.fixture
def demo(store):
    import_demo_org(store)
    deploy(store)
    return store


def started_by(store, username: str) -> int:
    with store.writing() as uow:
        return instances.start_process(uow, "inbound_materials", None, username).id


def act(store, action, username: str, instance_id: int, reason: str = "no longer needed"):
    with store.writing() as uow:
        return action(uow, actor_named(uow, username), instance_id, reason)


def statuses(store, instance_id: int) -> dict[str, str]:
    with store.reading() as uow:
        return dict(uow.session.execute(select(Task.element_id, Task.status).where(
            Task.process_instance_id == instance_id)).all())


def action_log(store, instance_id: int) -> list[tuple]:
    with store.reading() as uow:
        return [(row.kind, row.actor, row.reason, row.status_before, row.status_after)
                for row in uow.session.scalars(select(InstanceAction).where(
                    InstanceAction.process_instance_id == instance_id)
                    .order_by(InstanceAction.id))]


def test_the_starter_withdraws_before_another_department_has_acted(demo):
    instance_id = started_by(demo, "zhang.proc")
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)  # own department
    row = act(demo, lifecycle.cancel, "zhang.proc", instance_id, "ordered by mistake 撤销")
    assert row.status == "cancelled"
    assert statuses(demo, instance_id) == {"register_delivery": "completed",
                                           "inspect_goods": "withdrawn"}
    assert action_log(demo, instance_id) == [
        ("withdraw", "zhang.proc", "ordered by mistake 撤销", "running", "cancelled")]
    with demo.reading() as uow:
        assert {timer.status for timer in uow.session.scalars(select(Timer))} == {"cancelled"}


def test_the_starter_may_not_withdraw_after_the_handoff_but_a_head_may_cancel(demo):
    instance_id = started_by(demo, "zhang.proc")
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    complete(demo, instance_id, "inspect_goods", "li.qa", PASS)
    with pytest.raises(PermissionDenied, match="qa has already completed a step"):
        act(demo, lifecycle.cancel, "zhang.proc", instance_id)
    with pytest.raises(PermissionDenied):  # sees it (QA's task), does not own it
        act(demo, lifecycle.cancel, "li.qa", instance_id)
    assert statuses(demo, instance_id)["warehouse_intake"] == "ready"
    assert act(demo, lifecycle.cancel, "wang.qa", instance_id, "supplier bankrupt").status == \
        "cancelled"
    assert action_log(demo, instance_id) == [
        ("cancel", "wang.qa", "supplier bankrupt", "running", "cancelled")]
    with pytest.raises(Conflict, match="already cancelled"):
        act(demo, lifecycle.cancel, "admin", instance_id)


def test_a_stranger_is_not_told_the_instance_exists(demo):
    instance_id = started_by(demo, "zhang.proc")
    for action in (lifecycle.cancel, lifecycle.suspend, lifecycle.resume):
        with pytest.raises(NotFound):
            act(demo, action, "xu.sales", instance_id)
    with pytest.raises(NotFound):
        act(demo, lifecycle.cancel, "admin", 999)


def test_every_action_needs_a_reason(demo):
    instance_id = started_by(demo, "zhang.proc")
    with pytest.raises(InvalidInput) as caught:
        act(demo, lifecycle.suspend, "admin", instance_id, "   ")
    assert caught.value.errors == {"reason": ["Field may not be blank."]}


def test_a_suspended_instance_refuses_claims_and_completion_until_resumed(demo):
    instance_id = started_by(demo, "zhang.proc")
    with pytest.raises(PermissionDenied):  # the starter may withdraw, not suspend
        act(demo, lifecycle.suspend, "zhang.proc", instance_id)
    assert act(demo, lifecycle.suspend, "zheng.proc", instance_id, "audit").status == "suspended"
    task = ready_task(demo, instance_id, "register_delivery")  # still listed
    with pytest.raises(Conflict, match="is suspended"):
        complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    with demo.writing() as uow, pytest.raises(Conflict, match="is suspended"):
        tasks.claim(uow, actor_named(uow, "zhang.proc"), task.id)
    with pytest.raises(Conflict, match="only a running instance can be suspended"):
        act(demo, lifecycle.suspend, "admin", instance_id)
    assert act(demo, lifecycle.resume, "admin", instance_id, "audit done").status == "running"
    with pytest.raises(Conflict, match="only a suspended instance can be resumed"):
        act(demo, lifecycle.resume, "admin", instance_id)
    assert complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY).status == \
        "running"
    assert [entry[0] for entry in action_log(demo, instance_id)] == ["suspend", "resume"]


def test_a_suspended_instance_holds_its_timers_and_resuming_lets_due_ones_fire(demo):
    instance_id = started_by(demo, "zhang.proc")
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    act(demo, lifecycle.suspend, "wang.qa", instance_id)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)  # the 2 h timer is due
    assert worker.run_due_timers(demo, now=later) == 0
    with demo.writing() as uow:  # picked before the suspend, fired after it: still waits
        timer_id = uow.session.scalars(select(Timer.id)).one()
        assert instances.fire_timer(uow, timer_id, later) is False
    assert "alert_supervisor" not in statuses(demo, instance_id)
    act(demo, lifecycle.resume, "wang.qa", instance_id)
    assert worker.run_due_timers(demo, now=later) == 1
    assert statuses(demo, instance_id)["alert_supervisor"] == "ready"


def test_a_cancel_and_a_completion_racing_leave_one_consistent_history(demo):
    for _ in range(3):
        instance_id = started_by(demo, "zhang.proc")
        complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
        complete(demo, instance_id, "inspect_goods", "li.qa", PASS)
        task = ready_task(demo, instance_id, "warehouse_intake")
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def run(name, call):
            barrier.wait()
            try:
                with demo.writing() as uow:
                    results[name] = call(uow)
            except Exception as err:  # asserted on below
                results[name] = err

        threads = [
            threading.Thread(target=run, args=("complete", lambda uow: instances.complete_task(
                uow, actor_named(uow, "guo.wh"), task.id, INTAKE))),
            threading.Thread(target=run, args=("cancel", lambda uow: lifecycle.cancel(
                uow, actor_named(uow, "admin"), instance_id, "duplicate delivery")))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        failed = [name for name, result in results.items() if isinstance(result, Conflict)]
        assert len(failed) == 1, results
        with demo.reading() as uow:
            intake_events = uow.session.scalars(select(TaskEvent).where(
                TaskEvent.process_instance_id == instance_id,
                TaskEvent.element_id == "warehouse_intake")).all()
            status = uow.session.scalar(text(
                f"SELECT status FROM process_instances WHERE id = {instance_id}"))
        logged = action_log(demo, instance_id)
        if failed == ["cancel"]:
            assert status == "completed" and len(intake_events) == 1 and logged == []
            assert statuses(demo, instance_id)["warehouse_intake"] == "completed"
        else:
            assert status == "cancelled" and intake_events == []
            assert [entry[0] for entry in logged] == ["cancel"]
            assert statuses(demo, instance_id)["warehouse_intake"] == "withdrawn"


def test_instance_actions_are_append_only(demo):
    instance_id = started_by(demo, "zhang.proc")
    act(demo, lifecycle.suspend, "admin", instance_id)
    for statement in ("UPDATE instance_actions SET reason = 'x'", "DELETE FROM instance_actions"):
        with demo.writing() as uow, pytest.raises(Exception, match="immutable"):
            uow.session.execute(text(statement))
