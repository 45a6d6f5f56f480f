"""Camunda execution and task listeners: Python scripts run in the sandbox at start and end
(task listeners at create and complete); what cannot run deploys with a warning."""
from __future__ import annotations

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from engine.runtime import COMPLETED, ERROR, Instance
from tests.engine.bpmn_builder import flow, process


def listener(kind: str, event: str, body: str) -> str:
    return f'<camunda:{kind} event="{event}">{body}</camunda:{kind}>'


def python(script: str, script_format: str = "python") -> str:
    return f'<camunda:script scriptFormat="{script_format}">{script}</camunda:script>'


def diagram(*listeners: str, on: str = "review") -> bytes:
    extensions = f"<bpmn:extensionElements>{''.join(listeners)}</bpmn:extensionElements>"
    review = (f'<bpmn:userTask id="review" name="review">'
              f'{extensions if on == "review" else ""}</bpmn:userTask>')
    start = f'<bpmn:startEvent id="start">{extensions if on == "start" else ""}</bpmn:startEvent>'
    return process("\n".join([start, review, '<bpmn:endEvent id="end"/>',
                              flow("start", "review"), flow("review", "end")]),
                   {"QA": ["start", "review", "end"]})


def run(source: bytes, data: dict | None = None):
    [model] = load_processes(source, "listeners.bpmn")
    instance = Instance.start(model, data or {"amount": 10})
    return model, instance


def test_execution_and_task_listeners_run_python_at_start_and_end():
    model, instance = run(diagram(
        listener("executionListener", "start", python("seen = ['start']")),
        listener("taskListener", "create", python("seen = seen + ['create']")),
        listener("taskListener", "complete", python("total = amount * 2")),
        listener("executionListener", "end", python("seen = seen + ['end']"))))
    assert model.warnings == ()
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["seen"] == ["start", "create"]
    instance.complete(task.id, {})
    assert instance.status == COMPLETED
    assert instance.data["seen"] == ["start", "create", "end"] and instance.data["total"] == 20


def test_a_start_event_listener_runs_when_the_instance_starts():
    _, instance = run(diagram(listener("executionListener", "end", python("opened = True")),
                              on="start"))
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["opened"] is True


def test_a_failing_listener_stops_the_instance_with_an_error_at_the_element():
    _, instance = run(diagram(listener("executionListener", "start", python("x = missing + 1"))))
    assert instance.status == ERROR and instance.error.element_id == "review"
    assert "missing" in str(instance.error)


@pytest.mark.parametrize("body, message", [
    ('', "has nothing DutyFlow can run"),
    (python("x", "ruby"), "script format 'ruby' is not supported"),
])
def test_listeners_that_cannot_run_deploy_with_a_warning(body, message):
    model, instance = run(diagram(listener("taskListener", "create", body)))
    [warning] = model.warnings
    assert (warning.file, warning.element_id) == ("listeners.bpmn", "review") and warning.line
    assert message in warning.message and "left out" in warning.message
    assert instance.ready_tasks()


@pytest.mark.parametrize("attribute", ["class", "delegateExpression", "expression"])
def test_java_listeners_deploy_with_a_warning_like_java_delegates(attribute):
    source = diagram(f'<camunda:executionListener event="start" {attribute}="org.example.Audit"/>')
    model, _ = run(source)
    [warning] = model.warnings
    assert "cannot run in DutyFlow" in warning.message and "org.example.Audit" in warning.message


@pytest.mark.parametrize("listeners", [
    '<zeebe:executionListeners><zeebe:executionListener eventType="end" type="audit"/>'
    "</zeebe:executionListeners>",
    '<zeebe:taskListeners><zeebe:taskListener eventType="completing" type="audit"/>'
    "</zeebe:taskListeners>",
])
def test_camunda_8_listeners_are_jobs_left_out_with_a_warning(listeners):
    zeebe = b'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" '
    source = diagram(listeners).replace(b"<bpmn:definitions ", b"<bpmn:definitions " + zeebe)
    model, instance = run(source)
    [warning] = model.warnings
    assert (warning.file, warning.element_id) == ("listeners.bpmn", "review") and warning.line
    assert "of job type 'audit' is a job for a worker" in warning.message
    assert "left out" in warning.message and instance.ready_tasks()


def test_a_listener_on_an_event_without_a_moment_deploys_with_a_warning():
    model, _ = run(diagram(listener("taskListener", "assignment", python("x = 1"))))
    [warning] = model.warnings
    assert "event 'assignment' has no moment in DutyFlow" in warning.message


def test_a_python_listener_that_the_sandbox_refuses_is_refused_with_its_line():
    with pytest.raises(BpmnValidationError) as refused:
        run(diagram(listener("executionListener", "start", python("import os"))))
    [problem] = refused.value.problems
    assert problem.element_id == "review" and problem.line and "script" in problem.message
