"""Groovy in diagrams: script tasks, execution and task listeners and inputOutput parameter
scripts deploy, run in the sandbox, and refuse what is outside the subset at deploy time with
file, line, element and the position inside the script; Camunda's own example with a groovy
script task runs."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from engine.loader import load_processes
from engine.runtime import COMPLETED, ERROR, Instance
from tests.engine import scripts
from tests.engine.scripts import deploy_refusal, diagram, line_holding


script_task = functools.partial(scripts.script_task, script_format="groovy")
listener = functools.partial(scripts.listener, script_format="groovy")


def start(source: bytes, data: dict):
    [model] = load_processes(source, "groovy.bpmn")
    return model, Instance.start(model, data)


def test_a_groovy_script_task_sets_variables_and_its_result_variable():
    script = ("def lines = execution.getVariable('lines')\n"
              "def total = lines.sum { it.qty * it.price }\n"
              "execution.setVariable('total', total)\n"
              "execution.setVariable('skus', lines.collect { it.sku }.join(', '))\n"
              "def scratch = 'local only'\n"
              "total &gt; 100 ? 'review' : 'auto'")
    model, instance = start(diagram(script_task(script, extra=' camunda:resultVariable="route"')),
                            {"lines": [{"sku": "A", "qty": 2, "price": 30},
                                       {"sku": "B", "qty": 1, "price": 50}]})
    assert model.warnings == ()
    [task] = instance.ready_tasks()
    data = instance.task_data(task.id)
    assert data["total"] == 110 and data["route"] == "review" and data["skus"] == "A, B"
    assert "scratch" not in data


def test_groovy_listeners_run_at_their_moments():
    model, instance = start(diagram(
        script_task("execution.setVariable('seen', ['calc'])"),
        listener("executionListener", "start",
                 "execution.setVariable('seen', execution.getVariable('seen') + ['start'])")
        + listener("taskListener", "create",
                   "if (task.getVariable('seen')) { task.setVariable('created', true) }")
        + listener("taskListener", "complete",
                   "task.setVariable('doubled', task.getVariable('amount') * 2)")), {"amount": 21})
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["seen"] == ["calc", "start"]
    assert instance.task_data(task.id)["created"] is True
    instance.complete(task.id, {})
    assert instance.status == COMPLETED and instance.data["doubled"] == 42


def test_a_groovy_parameter_script_gives_the_parameter_its_value():
    io = ('<camunda:inputOutput><camunda:inputParameter name="label">'
          '<camunda:script scriptFormat="Groovy">\n'
          "  def n = execution.getVariable('amount')\n"
          '  "Amount: ${n}"\n'
          '</camunda:script></camunda:inputParameter></camunda:inputOutput>')
    _, instance = start(diagram(script_task("1"), io), {"amount": 7})
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["label"] == "Amount: 7"


def test_a_failing_groovy_script_stops_the_instance_at_its_element_and_line():
    _, instance = start(diagram(script_task("def a = 1\ndef b = nothing.field")),
                        {"nothing": None})
    assert instance.status == ERROR and instance.error.element_id == "calc"
    assert "Cannot get property 'field' on null object" in str(instance.error)


@pytest.mark.parametrize("task, extensions, line, message", [
    (script_task("def a = 1\ndef d = new Date()"), "", "new Date",
     "calc: script (groovy): line 2, column 9: 'new' is not supported"),
    (script_task("\n  def out = 'ls'.execute()"), "", "execute",
     "calc: script (groovy): line 1, column 16: 'execute' is not supported"),
    (script_task("def x = 1\n  System.exit(0)"), "", "System.exit",
     "calc: script (groovy): line 2, column 3: 'System' is not supported"),
    (script_task("x = 1", script_format="xslt"), "", None,
     "script format 'xslt' is not supported; scripts are sandboxed Python, JavaScript or "
     "Groovy"),
    (script_task("1"), listener("executionListener", "start", "Eval.me('1')"), None,
     "review: execution listener (start) script (groovy): line 1, column 1: 'Eval' is not "
     "supported"),
])
def test_groovy_outside_the_subset_is_refused_at_deploy_time(task, extensions, line, message):
    source = diagram(task, extensions)
    problem = deploy_refusal(source, "groovy.bpmn")
    assert message in str(problem)
    if line is not None:  # the file's line that holds the refused text
        assert problem.line == line_holding(source, line)


def test_a_refused_groovy_parameter_script_names_its_position():
    io = ('<camunda:inputOutput><camunda:inputParameter name="x">'
          '<camunda:script scriptFormat="groovy">def r = name =~ /a/</camunda:script>'
          '</camunda:inputParameter></camunda:inputOutput>')
    problem = deploy_refusal(diagram(script_task("1"), io), "groovy.bpmn")
    assert "script (groovy): line 1, column 14: regular expressions are not supported" \
        in str(problem)


def test_a_groovy_listener_using_task_api_dutyflow_cannot_map_deploys_left_out():
    model, instance = start(diagram(script_task("1"), listener(
        "taskListener", "create", "task.setAssignee(execution.getVariable('approver'))")),
        {"approver": "li"})
    [warning] = model.warnings
    assert "script (groovy)" in str(warning) and "task.setAssignee() is not available" \
        in str(warning) and "the listener is left out" in str(warning)
    assert instance.ready_tasks()


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "interop"
PARSE_BPMN = SHARED / "camunda-examples" / "bpmn-model-api__parse-bpmn__process.bpmn"


@pytest.mark.skipif(not PARSE_BPMN.exists(), reason="the shared interop files are not here")
def test_camundas_model_api_example_with_a_groovy_script_task_deploys_and_runs_it():
    [model] = load_processes(PARSE_BPMN.read_bytes(), PARSE_BPMN.name, default_owner="interop")
    assert not any("groovy" in str(warning) or "scriptTask" in str(warning)
                   for warning in model.warnings)
    instance = Instance.start(model, {"name": "test", "age": 0})
    # The Java expression of its service task waits as an external task; a worker sets foo.
    [external] = instance.ready_external()
    instance.complete_external(external.id, {"foo": "bar"})
    [task] = instance.ready_tasks()
    assert task.element_id == "userTaskB"
    instance.complete(task.id, {})
    assert instance.status == COMPLETED  # `println 'hello world'` ran in the sandbox
