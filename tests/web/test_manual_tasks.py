"""A manual task is work done by hand that its owning department confirms with "done": it
waits in their inbox like a user task (before, it deployed and then waited for ever with
no task anybody could see). SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from services.persistence.models import ProcessInstance
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import complete, deploy, import_demo_org, start

SWEEP = process("\n".join([
    '<bpmn:startEvent id="start"/>', '<bpmn:manualTask id="sweep" name="Sweep the dock"/>',
    user_task("report"), '<bpmn:endEvent id="end"/>', flow("start", "sweep"),
    flow("sweep", "report"), flow("report", "end")]),
    {"Warehouse": ["start", "sweep", "report", "end"]}, process_id="sweeping")


def test_a_manual_task_is_a_duty_of_its_lane():
    [model] = load_processes(SWEEP, "sweeping.bpmn")
    assert model.duties["sweep"].lane == "Warehouse"
    assert model.duties["sweep"].name == "Sweep the dock"


def test_a_manual_task_without_an_owner_is_refused_as_one():
    unowned = SWEEP.replace(b'<bpmn:flowNodeRef>sweep</bpmn:flowNodeRef>', b"")
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(unowned, "sweeping.bpmn")
    [problem] = refused.value.problems
    assert problem.element_id == "sweep" and problem.message.startswith("manual task has no owner")


def test_the_owning_department_confirms_a_manual_task_and_the_process_runs_on(store):
    import_demo_org(store)
    deploy(store, "sweeping.bpmn", SWEEP)
    instance_id = start(store, "sweeping")
    complete(store, instance_id, "sweep", "guo.wh", {})
    complete(store, instance_id, "report", "guo.wh", {})
    with store.reading() as uow:
        assert uow.session.get(ProcessInstance, instance_id).status == "completed"
