"""Conditional events as Camunda 7 runs them: a wait that ends when its condition holds over
the process data, evaluated when the wait begins and after every step."""
from __future__ import annotations

import json

import pytest

from engine.loader import load_processes
from engine.runtime import ERROR, Instance
from tests.engine.bpmn_builder import flow, process, user_task

INVOICE = '<camunda:formField id="invoiceId" type="string"/>'


def archive_when_invoiced(condition: str, interrupting: bool = True) -> bytes:
    """start -> order (subprocess: prepare -> check) -> done; a conditional boundary
    event on the subprocess leads to archive."""
    cancel = "" if interrupting else ' cancelActivity="false"'
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:subProcess id="order"><bpmn:startEvent id="order_start"/>'
        + user_task("prepare", INVOICE) + user_task("check") + '<bpmn:endEvent id="order_end"/>'
        + flow("order_start", "prepare") + flow("prepare", "check") + flow("check", "order_end")
        + "</bpmn:subProcess>",
        f'<bpmn:boundaryEvent id="invoiced" attachedToRef="order"{cancel}>'
        '<bpmn:conditionalEventDefinition><bpmn:condition xsi:type="bpmn:tFormalExpression">'
        f"{condition}</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:boundaryEvent>",
        user_task("archive"), user_task("done"), '<bpmn:endEvent id="end"/>',
        '<bpmn:endEvent id="archived"/>',
        flow("start", "order"), flow("order", "done"), flow("done", "end"),
        flow("invoiced", "archive"), flow("archive", "archived")])
    nodes = ["start", "order", "order_start", "prepare", "check", "order_end", "invoiced",
             "archive", "done", "end", "archived"]
    return process(body, {"QA": nodes})


def step(instance: Instance, element_id: str, data: dict) -> Instance:
    [task] = [task for task in instance.ready_tasks() if task.element_id == element_id]
    instance.complete(task.id, data)
    return Instance.restore(instance.model, json.loads(json.dumps(instance.dump())))


def ready(instance: Instance) -> list[str]:
    return sorted(task.element_id for task in instance.ready_tasks())


@pytest.mark.parametrize("condition", ["${invoiceId != null}", "invoiceId is not None",
                                       "=invoiceId != null"])
def test_an_interrupting_conditional_boundary_event_fires_when_the_work_inside_sets_its_variable(
        condition):
    [model] = load_processes(archive_when_invoiced(condition), "conditional.bpmn")
    instance = Instance.start(model)
    assert ready(instance) == ["prepare"]  # an unset variable makes the condition false
    instance = step(instance, "prepare", {"invoiceId": "INV-7"})
    assert ready(instance) == ["archive"]  # the subprocess is cancelled
    assert instance.task_data(instance.ready_tasks()[0].id)["invoiceId"] == "INV-7"


def test_a_non_interrupting_conditional_boundary_event_runs_its_path_beside_the_work():
    [model] = load_processes(archive_when_invoiced("${invoiceId != null}", interrupting=False),
                             "conditional.bpmn")
    instance = step(Instance.start(model), "prepare", {"invoiceId": "INV-7"})
    assert ready(instance) == ["archive", "check"]


def test_a_condition_that_stays_false_leaves_the_work_to_finish():
    [model] = load_processes(archive_when_invoiced("${invoiceId == 'never'}"), "conditional.bpmn")
    instance = step(Instance.start(model), "prepare", {"invoiceId": "INV-7"})
    instance = step(instance, "check", {})
    assert ready(instance) == ["done"]


def test_a_condition_that_fails_for_another_reason_than_an_unset_variable_is_the_step_s_error():
    [model] = load_processes(archive_when_invoiced("${invoiceId.length() > 1}"),
                             "conditional.bpmn")
    instance = Instance.start(model, {"invoiceId": 7})  # a number has no length()
    assert instance.status == ERROR and instance.error.element_id == "invoiced"
    assert str(instance.error).startswith("invoiced: condition: ")


def test_an_intermediate_conditional_event_passes_at_once_when_its_condition_already_holds():
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("fill", '<camunda:formField id="ok" '
                                                          'type="boolean"/>'),
        '<bpmn:intermediateCatchEvent id="ready_to_ship"><bpmn:conditionalEventDefinition>'
        "<bpmn:condition>${ok}</bpmn:condition></bpmn:conditionalEventDefinition>"
        "</bpmn:intermediateCatchEvent>", user_task("ship"), '<bpmn:endEvent id="end"/>',
        flow("start", "fill"), flow("fill", "ready_to_ship"), flow("ready_to_ship", "ship"),
        flow("ship", "end")])
    [model] = load_processes(process(body, {"QA": ["start", "fill", "ready_to_ship", "ship",
                                                   "end"]}), "intermediate.bpmn")
    assert ready(step(Instance.start(model), "fill", {"ok": True})) == ["ship"]
    waiting = step(Instance.start(model), "fill", {"ok": False})
    assert ready(waiting) == [] and waiting.status != ERROR
