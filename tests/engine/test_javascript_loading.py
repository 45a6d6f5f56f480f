"""JavaScript in diagrams: script tasks, execution and task listeners and inputOutput
parameter scripts deploy, run in the sandbox, and refuse what is outside the subset at
deploy time with file, line, element and the position inside the script."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest

from engine.loader import load_processes
from engine.runtime import COMPLETED, ERROR, Instance
from tests.engine import scripts
from tests.engine.scripts import deploy_refusal, diagram, line_holding


script_task = functools.partial(scripts.script_task, script_format="javascript")
listener = functools.partial(scripts.listener, script_format="javascript")


def start(source: bytes, data: dict):
    [model] = load_processes(source, "js.bpmn")
    return model, Instance.start(model, data)


def test_a_javascript_script_task_sets_variables_and_its_result_variable():
    script = ("var lines = execution.getVariable('lines');\n"
              "var total = 0;\n"
              "for (var line of lines) { total += line.qty * line.price }\n"
              "execution.setVariable('total', total);\n"
              "var scratch = 'local only';\n"
              "total &gt; 100 ? 'review' : 'auto'")
    model, instance = start(diagram(script_task(script, extra=' camunda:resultVariable="route"')),
                            {"lines": [{"qty": 2, "price": 30}, {"qty": 1, "price": 50}]})
    assert model.warnings == ()
    [task] = instance.ready_tasks()
    data = instance.task_data(task.id)
    assert data["total"] == 110 and data["route"] == "review" and "scratch" not in data


def test_javascript_listeners_run_at_their_moments():
    model, instance = start(diagram(
        script_task("execution.setVariable('seen', ['calc'])"),
        listener("executionListener", "start",
                 "execution.setVariable('seen', execution.getVariable('seen').concat(['start']))")
        + listener("taskListener", "create",
                   "if (!!task.getVariable('seen')) { task.setVariable('created', true) }")
        + listener("taskListener", "complete",
                   "task.setVariable('doubled', task.getVariable('amount') * 2)")), {"amount": 21})
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["seen"] == ["calc", "start"]
    assert instance.task_data(task.id)["created"] is True
    instance.complete(task.id, {})
    assert instance.status == COMPLETED and instance.data["doubled"] == 42


def test_a_javascript_parameter_script_gives_the_parameter_its_value():
    io = ('<camunda:inputOutput><camunda:inputParameter name="label">'
          '<camunda:script scriptFormat="JavaScript">\n'
          "  var n = execution.getVariable('amount');\n"
          "  'Amount: ' + n\n"
          '</camunda:script></camunda:inputParameter></camunda:inputOutput>')
    _, instance = start(diagram(script_task("1"), io), {"amount": 7})
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["label"] == "Amount: 7"


def test_a_failing_javascript_script_stops_the_instance_at_its_element_and_line():
    _, instance = start(diagram(script_task("var a = 1;\nvar b = nothing.field;")),
                        {"nothing": None})
    assert instance.status == ERROR and instance.error.element_id == "calc"
    assert "cannot read property 'field' of null" in str(instance.error)


@pytest.mark.parametrize("task, extensions, line, message", [
    (script_task("var a = 1;\nvar d = new Date();"), "", "new Date",
     "calc: script (javascript): line 2, column 9: 'new' is not supported"),
    (script_task("\n  var x = Java.type('java.io.File')"), "", "Java.type",
     "calc: script (javascript): line 1, column 14: Java.type() is not supported"),
    (script_task("x = 1", script_format="ruby"), "", None,
     "script format 'ruby' is not supported; scripts are sandboxed Python, JavaScript or Groovy"),
    (script_task("1"), listener("executionListener", "start", "function f() {}"), None,
     "review: execution listener (start) script (javascript): line 1, column 1: function "
     "declarations are not supported"),
])
def test_javascript_outside_the_subset_is_refused_at_deploy_time(task, extensions, line,
                                                                   message):
    source = diagram(task, extensions)
    problem = deploy_refusal(source, "js.bpmn")
    assert message in str(problem)
    if line is not None:  # the file's line that holds the refused text
        assert problem.line == line_holding(source, line)


def test_a_listener_using_task_api_dutyflow_cannot_map_deploys_left_out_with_a_warning():
    model, instance = start(diagram(script_task("1"), listener(
        "taskListener", "create", "task.setAssignee(execution.getVariable('approver'))")),
        {"approver": "li"})
    [warning] = model.warnings
    assert "task.setAssignee() is not available" in str(warning)
    assert "the listener is left out" in str(warning)
    assert instance.ready_tasks()


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "interop"
SPIN_EXAMPLE = SHARED / "camunda-examples" / "spin__dataformat-configuration-global__testProcess.bpmn"


@pytest.mark.skipif(not SPIN_EXAMPLE.exists(), reason="the shared interop files are not here")
@pytest.mark.parametrize("car", [{"price": 12500, "brand": "Q"}, '{"price": 12500}'])
def test_camundas_spin_example_reads_the_price_from_the_car_json(car):
    [model] = load_processes(SPIN_EXAMPLE.read_bytes(), SPIN_EXAMPLE.name,
                             default_owner="interop")
    instance = Instance.start(model, {"car": car})
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["price"] == 12500
