"""Input and output parameters (camunda:inputOutput, zeebe:ioMapping): locals made as an
element starts, outputs written back as it ends, values of every kind, and the refusals."""
from __future__ import annotations

import json

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from engine.runtime import COMPLETED, ERROR, Instance
from tests.engine.bpmn_builder import flow, process

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


def io(*parameters: str) -> str:
    return ("<bpmn:extensionElements><camunda:inputOutput>" + "".join(parameters)
            + "</camunda:inputOutput></bpmn:extensionElements>")


def parameter(kind: str, name: str, value: str) -> str:
    return f'<camunda:{kind}Parameter name="{name}">{value}</camunda:{kind}Parameter>'


def with_review(extensions: str, zeebe: bool = False) -> bytes:
    """start -> review (a task with an embedded HTML form: it takes plain variables) -> end."""
    review = (f'<bpmn:userTask id="review" name="review" camunda:formKey="embedded:app:r.html">'
              f"{extensions}</bpmn:userTask>")
    source = process("\n".join(['<bpmn:startEvent id="start"/>', review,
                                '<bpmn:endEvent id="end"/>', flow("start", "review"),
                                flow("review", "end")]), {"QA": ["start", "review", "end"]})
    return source.replace(b"<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ".encode()) \
        if zeebe else source


def start(source: bytes, data: dict):
    """Started, then stored and restored as every step is (the locals' hidden values too)."""
    [model] = load_processes(source, "io.bpmn")
    instance = Instance.start(model, data)
    return Instance.restore(model, json.loads(json.dumps(instance.dump())))


def test_inputs_are_locals_of_the_task_and_outputs_are_written_back():
    instance = start(with_review(io(
        parameter("input", "greeting", "Hello"),
        parameter("input", "limit", "${amount * 2}"),
        parameter("input", "amount", "${amount + 1}"),  # hides the process variable
        parameter("input", "choices", "<camunda:list><camunda:value>a</camunda:value>"
                                      "<camunda:value>${amount}</camunda:value></camunda:list>"),
        parameter("input", "terms", '<camunda:map><camunda:entry key="days">30</camunda:entry>'
                                    '<camunda:entry key="empty"/></camunda:map>'),
        parameter("input", "doubled", '<camunda:script scriptFormat="python">amount * 2'
                                      "</camunda:script>"),
        parameter("output", "verdict", "#{approved ? 'yes' : 'no'}"),
        parameter("output", "seen_limit", "${limit}"))), {"amount": 10})
    [task] = instance.ready_tasks()
    data = instance.task_data(task.id)
    assert (data["greeting"], data["limit"], data["amount"]) == ("Hello", 20, 11)
    # Every input is computed from the data before the element (as Camunda 7 does).
    assert data["choices"] == ["a", 10] and data["terms"] == {"days": "30", "empty": None}
    assert data["doubled"] == 20
    instance.complete(task.id, {"approved": True})
    assert instance.status == COMPLETED
    assert instance.data["verdict"] == "yes" and instance.data["seen_limit"] == 20
    assert instance.data["amount"] == 10 and instance.data["approved"] is True
    assert not {"greeting", "limit", "choices", "terms", "doubled"} & instance.data.keys()


def test_zeebe_io_mapping_reads_feel():
    extensions = ('<bpmn:extensionElements><zeebe:ioMapping>'
                  '<zeebe:input source="=amount * 3" target="tripled"/>'
                  '<zeebe:output source="=tripled + 1" target="result"/>'
                  '<zeebe:output source="=tripled" target="report.tripled"/>'
                  '<zeebe:output source="=amount" target="from.Vacation Days"/>'
                  '<zeebe:output source="demo@example.org" target="from.email"/>'
                  "</zeebe:ioMapping></bpmn:extensionElements>")
    instance = start(with_review(extensions, zeebe=True), {"amount": 2})
    [task] = instance.ready_tasks()
    assert instance.task_data(task.id)["tripled"] == 6
    instance.complete(task.id, {})
    assert instance.data["result"] == 7 and "tripled" not in instance.data
    assert instance.data["report"] == {"tripled": 6}
    assert instance.data["from"] == {"Vacation Days": 2, "email": "demo@example.org"}


def test_a_subprocess_sees_its_inputs_and_maps_its_outputs():
    inner = ('<bpmn:startEvent id="inner_start"/>'
             '<bpmn:scriptTask id="work" scriptFormat="python"><bpmn:script>made = base * 10'
             '</bpmn:script></bpmn:scriptTask><bpmn:endEvent id="inner_end"/>'
             + flow("inner_start", "work") + flow("work", "inner_end"))
    mapped = io(parameter("input", "base", "${amount + 1}"),
                parameter("output", "total", "${made}"))
    sub = f'<bpmn:subProcess id="sub">{mapped}{inner}</bpmn:subProcess>'
    source = process("\n".join(['<bpmn:startEvent id="start"/>', sub, '<bpmn:endEvent id="end"/>',
                                flow("start", "sub"), flow("sub", "end")]))
    instance = start(source, {"amount": 4})
    assert instance.status == COMPLETED
    assert instance.data["total"] == 50 and "base" not in instance.data


def test_an_expression_that_fails_when_run_stops_the_instance_at_the_element():
    [model] = load_processes(with_review(io(parameter("input", "x", "${missing + 1}"))), "io.bpmn")
    instance = Instance.start(model, {"amount": 1})
    assert instance.status == ERROR and instance.error.element_id == "review"
    assert "parameter 'x'" in str(instance.error)


@pytest.mark.parametrize("value, message", [
    ('<camunda:script scriptFormat="ruby">1</camunda:script>',
     "script format 'ruby' is not supported; scripts are sandboxed Python, JavaScript or Groovy"),
    ('<camunda:script scriptFormat="javascript">new Date()</camunda:script>',
     "script (javascript): line 1, column 1: 'new' is not supported"),
    ('<camunda:script scriptFormat="python">import os</camunda:script>',
     "one Python expression giving its value"),
    ("#{a &amp;&amp;}", "(juel): line 1, column"),
    ("<camunda:list><camunda:value>${__import__('os')}</camunda:value></camunda:list>",
     "'__import__' is not allowed"),
])
def test_parameters_are_checked_at_deploy_time_with_their_line(value, message):
    with pytest.raises(BpmnValidationError) as refused:
        start(with_review(io(parameter("input", "x", value))), {})
    [problem] = refused.value.problems
    assert problem.element_id == "review" and problem.line and message in problem.message, \
        str(problem)


def test_a_parameter_name_must_be_usable_in_expressions():
    with pytest.raises(BpmnValidationError, match="must be usable in expressions"):
        start(with_review(io(parameter("input", "_secret", "1"))), {})


def feel_script_then_review(script: str, outputs: str = "") -> bytes:
    """start -> a Camunda 8 script task (`zeebe:script`) -> review -> end."""
    mapping = f"<zeebe:ioMapping>{outputs}</zeebe:ioMapping>" if outputs else ""
    task = (f'<bpmn:scriptTask id="price" name="Price"><bpmn:extensionElements>{script}'
            f"{mapping}</bpmn:extensionElements></bpmn:scriptTask>")
    source = process("\n".join(['<bpmn:startEvent id="start"/>', task,
                                '<bpmn:userTask id="review" name="review"/>',
                                '<bpmn:endEvent id="end"/>', flow("start", "price"),
                                flow("price", "review"), flow("review", "end")]),
                     {"QA": ["start", "price", "review", "end"]})
    return source.replace(b"<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ".encode())


def test_a_camunda_8_script_task_stores_its_feel_value_under_its_result_variable():
    instance = start(feel_script_then_review(
        '<zeebe:script expression="=sum(for line in lines return line.qty * 2)" '
        'resultVariable="total"/>'), {"lines": [{"qty": 1}, {"qty": 4}]})
    [review] = instance.ready_tasks()
    assert review.element_id == "review" and instance.task_data(review.id)["total"] == 10


def test_a_camunda_8_script_tasks_outputs_read_its_result():
    instance = start(feel_script_then_review(
        '<zeebe:script expression="={net: amount, gross: amount * 2}" resultVariable="price"/>',
        '<zeebe:output source="=price.gross + 1" target="charged"/>'), {"amount": 5})
    [review] = instance.ready_tasks()
    data = instance.task_data(review.id)
    assert data["price"] == {"net": 5, "gross": 10} and data["charged"] == 11


@pytest.mark.parametrize("script, message", [
    ('<zeebe:script expression="=1 +"/>', "zeebe:script resultVariable '': a script needs a "
                                          "resultVariable"),
    ('<zeebe:script expression="=1 +" resultVariable="x"/>', "'=1 +' (feel): line 1"),
    ('<zeebe:script expression="=" resultVariable="x"/>', "the script's expression is empty"),
])
def test_a_camunda_8_script_task_is_checked_at_deploy_time_with_its_line(script, message):
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(feel_script_then_review(script), "io.bpmn")
    [problem] = refused.value.problems
    assert problem.element_id == "price" and problem.line and message in problem.message, \
        str(problem)
