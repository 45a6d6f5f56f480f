"""Use cases end to end on a real database: deploy, start, complete, events, timers."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import actor_named
from services.org import org_file
from services.persistence.models import ProcessDefinition, ProcessInstance, TaskEvent, Timer
from services.workflow import definitions, instances, worker
from services.workflow.views import instance_view
from tests.conftest import BPMN_DIR, read_bpmn
from tests.services.helpers import (
    DELIVERY,
    FAIL,
    PASS,
    complete,
    deploy,
    import_demo_org,
    ready_task,
    start,
)


@pytest.fixture
def demo(store):
    import_demo_org(store)
    for name in ("inbound_materials.bpmn", "contract_approval.bpmn", "customer_complaint.bpmn"):
        deploy(store, name)
    return store


def test_deploy_versions(store):
    import_demo_org(store)
    [first] = deploy(store)
    assert (first.definition.version, first.created) == (1, True)
    [again] = deploy(store)
    assert (again.definition.version, again.created) == (1, False)
    changed = read_bpmn("inbound_materials.bpmn").replace(b"Inspect goods", b"Inspect the goods")
    [second] = deploy(store, source=changed)
    assert (second.definition.version, second.created) == (2, True)
    with store.reading() as uow:
        assert [d.version for d in definitions.list_latest(uow)] == [2]


def test_deploy_refuses_unknown_departments(store):
    # No org imported: none of the lanes route anywhere.
    with pytest.raises(InvalidInput) as caught:
        deploy(store)
    messages = [error["message"] for error in caught.value.errors]
    assert any("'质量部' names no known department" in message for message in messages)
    assert all(error["file"] == "inbound_materials.bpmn" and error["line"] for error in caught.value.errors)
    with store.reading() as uow:
        assert uow.session.scalars(select(ProcessDefinition)).all() == []


def test_running_instances_stay_on_their_version(demo):
    instance_id = start(demo)
    changed = read_bpmn("inbound_materials.bpmn").replace(b"Inspect goods", b"Inspect the goods")
    deploy(demo, source=changed)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    task = ready_task(demo, instance_id, "inspect_goods")
    assert task.name == "Inspect goods"
    newer = start(demo)
    complete(demo, newer, "register_delivery", "zhang.proc", DELIVERY)
    assert ready_task(demo, newer, "inspect_goods").name == "Inspect the goods"


def test_full_inbound_process_across_three_departments(demo):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    inspect = ready_task(demo, instance_id, "inspect_goods")
    assert inspect.department_key == "qa" and inspect.lane == "质量部"
    assert inspect.due_at - inspect.created_at == dt.timedelta(hours=4)
    complete(demo, instance_id, "inspect_goods", "li.qa", FAIL)
    complete(demo, instance_id, "return_goods", "lin.proc", {"return_reference": "RMA-7"})
    complete(demo, instance_id, "receive_redelivery", "zhang.proc", {"redelivery_note": "lot 2"})
    complete(demo, instance_id, "inspect_goods", "he.qa", PASS)
    row = complete(demo, instance_id, "warehouse_intake", "guo.wh",
                   {"storage_location": "A-3", "received_quantity": 10})
    assert row.status == "completed"
    with demo.reading() as uow:
        view = instance_view(uow, instances.get_instance(uow, instance_id))
        assert view["status"] == "completed" and view["tasks"] == [] and view["timers"] == []
        history = [(h["element_id"], h["completed_by"], h["department"]) for h in view["history"]]
        assert history == [("register_delivery", "zhang.proc", "procurement"),
                           ("inspect_goods", "li.qa", "qa"),
                           ("return_goods", "lin.proc", "procurement"),
                           ("receive_redelivery", "zhang.proc", "procurement"),
                           ("inspect_goods", "he.qa", "qa"),
                           ("warehouse_intake", "guo.wh", "warehouse")]
        first_inspection = view["history"][1]
        assert first_inspection["data"] == FAIL
        assert first_inspection["due_at"] and first_inspection["ready_at"]


def test_event_records_everything_and_is_immutable(demo):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    with demo.reading() as uow:
        event = uow.session.scalars(select(TaskEvent)).one()
        assert (event.process_key, event.process_version, event.element_id) == \
               ("inbound_materials", 1, "register_delivery")
        assert (event.task_name, event.lane, event.department_key, event.completed_by) == \
               ("Register supplier delivery", "Procurement", "procurement", "zhang.proc")
        assert event.actor_department_key == "procurement"
        assert event.ready_at <= event.completed_at and event.data == DELIVERY
    for statement in ("UPDATE task_events SET completed_by = 'mallory'", "DELETE FROM task_events"):
        with pytest.raises(Exception, match="immutable"):
            with demo.engine.begin() as connection:
                connection.execute(text(statement))


def test_only_the_owning_department_may_complete(demo):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    for stranger in ("zhang.proc", "guo.wh"):  # may not even see QA's work
        with pytest.raises(NotFound):
            complete(demo, instance_id, "inspect_goods", stranger, PASS)
    for overseer in ("admin", "sun.prod"):  # see it (sun.prod heads QA's parent), may not do it
        with pytest.raises(PermissionDenied, match="duty of qa"):
            complete(demo, instance_id, "inspect_goods", overseer, PASS)
    with pytest.raises(PermissionDenied, match="not an active employee"):
        complete(demo, instance_id, "inspect_goods", "nobody", PASS)
    with demo.reading() as uow:
        assert uow.session.scalar(select(TaskEvent.id).where(
            TaskEvent.element_id == "inspect_goods")) is None


def test_completed_task_cannot_be_completed_again(demo):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    with demo.writing() as uow:
        instances.complete_task(uow, actor_named(uow, "zhang.proc"), task.id, DELIVERY)
    with pytest.raises(Conflict, match="already completed by zhang.proc"):
        with demo.writing() as uow:
            instances.complete_task(uow, actor_named(uow, "lin.proc"), task.id, DELIVERY)
    with pytest.raises(NotFound):
        with demo.writing() as uow:
            instances.complete_task(uow, actor_named(uow, "lin.proc"), "no-such-task", DELIVERY)


def test_invalid_form_data_changes_nothing(demo):
    instance_id = start(demo)
    with pytest.raises(InvalidInput) as caught:
        complete(demo, instance_id, "register_delivery", "zhang.proc", {"quantity": 0})
    assert set(caught.value.errors) == {"supplier", "material", "quantity"}
    assert ready_task(demo, instance_id, "register_delivery").status == "ready"


def test_start_form_errors(demo):
    with pytest.raises(InvalidInput) as caught:
        start(demo, "contract_approval", {"title": "x", "amount": "lots"})
    assert {"counterparty", "amount"} <= set(caught.value.errors)
    with pytest.raises(NotFound):
        start(demo, "no_such_process")


def test_timer_worker_fires_due_timers_once(demo):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    assert worker.run_due_timers(demo) == 0  # not due yet
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    assert worker.run_due_timers(demo, now=later) == 1
    assert worker.run_due_timers(demo, now=later) == 0
    alert = ready_task(demo, instance_id, "alert_supervisor")
    assert alert.department_key == "production"
    assert ready_task(demo, instance_id, "inspect_goods")  # non-interrupting
    with demo.reading() as uow:
        timer = uow.session.scalars(select(Timer)).one()
        assert timer.status == "fired" and timer.fired_at == later


def test_chinese_names_work_everywhere(demo):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc",
             {"supplier": "华东钢铁有限公司", "material": "冷轧钢板", "quantity": 5})
    with demo.reading() as uow:
        view = instance_view(uow, instances.get_instance(uow, instance_id))
    assert view["data"]["material"] == "冷轧钢板"
    assert view["tasks"][0]["lane"] == "质量部"


def test_script_error_marks_instance_error_and_keeps_it(demo):
    # Deploy a process whose script fails at run time (division by zero on data).
    source = read_bpmn("contract_approval.bpmn").replace(
        b"approved = decision == 'approve'", b"approved = 1 / 0 == decision")
    deploy(demo, source=source)
    instance_id = start(demo, "contract_approval", {"title": "t", "counterparty": "c", "amount": 1})
    complete(demo, instance_id, "submit_contract", "xu.sales", {"contract_summary": "s"})
    row = complete(demo, instance_id, "legal_review", "cao.legal",
                   {"terms_comply": True, "risks_addressed": True, "decision": "approve"})
    assert row.status == "error"
    assert "record_decision" in row.error and "ZeroDivisionError" in row.error
    with demo.reading() as uow:
        assert uow.session.scalar(select(TaskEvent.id).where(
            TaskEvent.element_id == "legal_review")) is not None
        stored = uow.session.get(ProcessInstance, instance_id)
        assert stored.status == "error"


def test_a_reimported_org_routes_the_next_tasks_at_once(demo):
    """Routing is cached per org revision; an import replaces the revision."""
    first = start(demo)
    complete(demo, first, "register_delivery", "zhang.proc", DELIVERY)
    assert ready_task(demo, first, "inspect_goods").department_key == "qa"
    # Production takes over inspection: QA keeps its key but no longer answers to 质量部.
    moved = (BPMN_DIR / "demo_org.yaml").read_text("utf-8").replace(
        "{key: qa, name: 质量部,", "{key: qa, name: 质检组,").replace(
        "lanes: [Production]", "lanes: [Production, 质量部]")
    with demo.writing() as uow:
        org_file.import_org(uow, moved, "demo_org.yaml", "cli:tester")
    second = start(demo)
    complete(demo, second, "register_delivery", "zhang.proc", DELIVERY)
    assert ready_task(demo, second, "inspect_goods").department_key == "production"
    assert ready_task(demo, first, "inspect_goods").department_key == "qa"  # already routed
