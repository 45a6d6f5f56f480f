"""Which tasks wait for external workers, on what topic, and what deploys with a warning."""
from __future__ import annotations

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from tests.engine.bpmn_builder import flow, process, user_task

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


def around(task: str) -> bytes:
    source = process("\n".join(['<bpmn:startEvent id="start"/>', task, user_task("after"),
                                '<bpmn:endEvent id="end"/>', flow("start", "work"),
                                flow("work", "after"), flow("after", "end")]),
                     {"QA": ["start", "work", "after", "end"]})
    return source.replace(b"<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ".encode())


def model_of(task: str):
    [model] = load_processes(around(task), "work.bpmn")
    return model


@pytest.mark.parametrize("task,topic", [
    ('<bpmn:serviceTask id="work" camunda:type="external" camunda:topic="archive"/>', "archive"),
    ('<bpmn:sendTask id="work" camunda:type="external" camunda:topic="mail"/>', "mail"),
    ('<bpmn:businessRuleTask id="work" camunda:type="external" camunda:topic="decide"/>',
     "decide"),
    ('<bpmn:serviceTask id="work"><bpmn:extensionElements><zeebe:taskDefinition type="charge"/>'
     '</bpmn:extensionElements></bpmn:serviceTask>', "charge"),
    ('<bpmn:scriptTask id="work"><bpmn:extensionElements><zeebe:taskDefinition type="score"/>'
     '</bpmn:extensionElements></bpmn:scriptTask>', "score"),
])
def test_external_tasks_wait_on_their_topic_without_warnings(task, topic):
    model = model_of(task)
    assert model.external["work"].topic == topic and model.warnings == ()


@pytest.mark.parametrize("attribute,value", [
    ("camunda:class", "org.example.Charge"),
    ("camunda:delegateExpression", "${chargeService}"),
    ("camunda:expression", "${charger.charge(execution)}"),
])
def test_a_java_delegate_waits_on_its_own_text_as_topic_with_a_located_warning(attribute, value):
    model = model_of(f'<bpmn:serviceTask id="work" {attribute}="{value}"/>')
    assert model.external["work"].topic == value
    [warning] = model.warnings
    assert (warning.element_id, warning.file) == ("work", "work.bpmn") and warning.line
    assert "cannot run in DutyFlow" in warning.message


@pytest.mark.parametrize("task,message", [
    ('<bpmn:serviceTask id="work" camunda:type="external"/>', "needs a camunda:topic"),
    ('<bpmn:businessRuleTask id="work" camunda:decisionRef="approver" '
     'camunda:decisionRefBinding="deployment"/>',
     "decision 'approver' is not in the deployment: deploy its .dmn file together with the "
     "diagram"),
    ('<bpmn:businessRuleTask id="work" implementation="kp:dmn"/>',
     "implementation 'kp:dmn' is not one DutyFlow runs"),
    (f'<bpmn:serviceTask id="work" camunda:type="external" camunda:topic="{"t" * 201}"/>',
     "the limit is 200"),
])
def test_a_task_no_worker_could_take_is_refused_where_it_is(task, message):
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(around(task), "work.bpmn")
    [problem] = refused.value.problems
    assert problem.element_id == "work" and message in problem.message


def test_a_service_task_with_no_implementation_passes_through_as_drawn():
    model = model_of('<bpmn:serviceTask id="work"/>')
    assert model.external == {} and model.warnings == ()
