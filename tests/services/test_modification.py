"""Moving a token: past a step (nobody credited), back to redo one, past a failing script
(SQLite and PostgreSQL; in a sandbox worker)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import Incident, InstanceAction, Task, TaskEvent, Timer
from services.workflow import instances, lifecycle, modification
from tests.services.helpers import DELIVERY, PASS, complete, deploy, import_demo_org, ready_task
from tests.services.test_repair import scripted

INTAKE = {"storage_location": "A-1", "received_quantity": 10}


@pytest.fixture
def demo(store):
    import_demo_org(store)
    deploy(store)
    return store


def at_inspection(store) -> int:
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "zhang.proc").id
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    return instance_id


def move(store, instance_id, source, target, username="admin", reason="moved by the GM"):
    with store.writing() as uow:
        return modification.move(uow, actor_named(uow, username), instance_id, source, target,
                                 reason)


def test_a_step_moved_past_is_credited_to_nobody(demo):
    instance_id = at_inspection(demo)
    inspect = ready_task(demo, instance_id, "inspect_goods")
    row = move(demo, instance_id, "inspect_goods", "warehouse_intake", reason="supplier certified")
    assert row.status == "running" and row.data["supplier"] == "华东钢铁"
    with demo.reading() as uow:
        assert uow.session.get(Task, inspect.id).status == "cancelled"
        assert {timer.status for timer in uow.session.scalars(select(Timer))} == {"cancelled"}
        action = uow.session.scalars(select(InstanceAction)).one()
    assert (action.kind, action.actor, action.reason) == ("move", "admin", "supplier certified")
    assert action.details == {"from": "inspect_goods", "to": "warehouse_intake",
                              "cancelled_tasks": [inspect.id]}
    assert complete(demo, instance_id, "warehouse_intake", "guo.wh", INTAKE).status == "completed"
    with demo.reading() as uow:
        credited = uow.session.scalars(select(TaskEvent.element_id).order_by(TaskEvent.id)).all()
    assert credited == ["register_delivery", "warehouse_intake"]  # no inspect_goods


def test_a_token_moved_back_redoes_the_step_with_its_deadline_timer(demo):
    instance_id = at_inspection(demo)
    complete(demo, instance_id, "inspect_goods", "li.qa", PASS)
    move(demo, instance_id, "warehouse_intake", "inspect_goods", reason="sample mislabelled")
    redo = ready_task(demo, instance_id, "inspect_goods")
    assert redo.department_key == "qa"
    with demo.reading() as uow:
        assert uow.session.scalars(select(Timer.status).order_by(Timer.id)).all().count(
            "pending") == 1
    complete(demo, instance_id, "inspect_goods", "he.qa", PASS)
    assert ready_task(demo, instance_id, "warehouse_intake")


def test_a_move_past_a_failing_script_repairs_the_instance(store):
    import_demo_org(store)
    deploy(store, "scripted.bpmn", scripted())
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "scripted", None, "li.qa").id
    assert complete(store, instance_id, "fill", "li.qa", {}).status == "error"
    row = move(store, instance_id, "run", "after", reason="the script is obsolete")
    assert row.status == "running" and row.error is None
    assert ready_task(store, instance_id, "after")
    with store.reading() as uow:
        assert uow.session.scalars(select(Incident.resolved_at)).one() is not None


def test_moves_are_for_admins_and_need_a_token_and_a_real_target(demo):
    instance_id = at_inspection(demo)
    with pytest.raises(PermissionDenied):  # sees it, may not move it
        move(demo, instance_id, "inspect_goods", "warehouse_intake", "wang.qa")
    with pytest.raises(NotFound):
        move(demo, instance_id, "inspect_goods", "warehouse_intake", "xu.sales")
    with pytest.raises(Conflict, match="no token waits at warehouse_intake"):
        move(demo, instance_id, "warehouse_intake", "inspect_goods")
    with pytest.raises(InvalidInput) as caught:
        move(demo, instance_id, "inspect_goods", "nowhere")
    assert "to" in caught.value.errors
    with pytest.raises(InvalidInput) as caught:
        move(demo, instance_id, "nowhere", "inspect_goods")
    assert "from" in caught.value.errors
    with pytest.raises(InvalidInput, match="boundary event"):
        move(demo, instance_id, "inspect_goods", "sample_overdue")
    with demo.writing() as uow:
        lifecycle.suspend(uow, actor_named(uow, "admin"), instance_id, "hold")
    with pytest.raises(Conflict, match="is suspended"):
        move(demo, instance_id, "inspect_goods", "warehouse_intake")
    assert ready_task(demo, instance_id, "inspect_goods")
