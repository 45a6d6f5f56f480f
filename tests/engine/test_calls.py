"""Call activities into other files and Camunda 8 loops, as the loader reads them and the
engine runs them (the services' child instances: tests/services/test_call_activities.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from engine.runtime import Instance
from tests.engine.bpmn_builder import flow, process, user_task

ZEEBE = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'
INTEROP = Path(__file__).resolve().parents[2].parent / "shared" / "interop"


def around(task: str, extra: str = "") -> bytes:
    source = process("\n".join(['<bpmn:startEvent id="start"/>', task, user_task("after"),
                                '<bpmn:endEvent id="end"/>', flow("start", "work"),
                                flow("work", "after"), flow("after", "end"), extra]),
                     {"QA": ["start", "work", "after", "end"]})
    return source.replace(b"<bpmn:definitions ", f"<bpmn:definitions {ZEEBE} ".encode())


def problems_of(source: bytes) -> list[str]:
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(source, "calls.bpmn")
    return [str(problem) for problem in refused.value.problems]


def test_a_call_into_another_file_reads_its_binding_and_mappings():
    [model] = load_processes(around(
        '<bpmn:callActivity id="work" calledElement="review" '
        'camunda:calledElementBinding="version" camunda:calledElementVersion="3">'
        '<bpmn:extensionElements><camunda:in source="a" target="b"/>'
        '<camunda:in sourceExpression="${amount &gt; 10}" target="big"/>'
        '<camunda:in businessKey="#{execution.processBusinessKey}"/>'
        '<camunda:out variables="all"/></bpmn:extensionElements></bpmn:callActivity>'),
        "calls.bpmn")
    call = model.calls["work"]
    assert (call.called, call.binding, call.version, call.line) == ("review", "version", 3, 8)
    assert [(m.source, m.target, m.expression) for m in call.inputs][0] == ("a", "b", False)
    assert call.inputs[1].expression and call.outputs_all and not call.inputs_all
    assert call.business_key == "processBusinessKey"


def test_a_call_into_a_process_of_the_same_file_stays_a_subworkflow():
    body = process("\n".join([
        '<bpmn:startEvent id="start"/>', '<bpmn:callActivity id="work" calledElement="inner"/>',
        '<bpmn:endEvent id="end"/>', flow("start", "work"), flow("work", "end")]))
    inner = (b'<bpmn:process id="inner" isExecutable="true"><bpmn:startEvent id="i"/>'
             b'<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="ie" sourceRef="i" targetRef="e"/>'
             b"</bpmn:process>")
    [model, _] = load_processes(body.replace(b"</bpmn:definitions>",
                                             inner + b"</bpmn:definitions>"), "calls.bpmn")
    assert model.calls == {} and "inner" in model.subprocess_specs


@pytest.mark.parametrize("attributes,message", [
    ('calledElement="${which}"', "an expression cannot name the process to call"),
    ('calledElement="r" camunda:calledElementBinding="newest"', "is not one of"),
    ('calledElement="r" camunda:calledElementBinding="version"', "must be a version number"),
    ('', "names no process to call"),
])
def test_a_call_that_cannot_be_resolved_is_refused_with_its_line(attributes, message):
    [problem] = problems_of(around(f'<bpmn:callActivity id="work" {attributes}/>'))
    assert problem.startswith("calls.bpmn:8: work: ") and message in problem


def test_a_bad_mapping_expression_is_refused_naming_the_mapping():
    [problem] = problems_of(around(
        '<bpmn:callActivity id="work" calledElement="r"><bpmn:extensionElements>'
        '<camunda:in sourceExpression="${a +}" target="b"/></bpmn:extensionElements>'
        "</bpmn:callActivity>"))
    assert "work: camunda:in sourceExpression '${a +}'" in problem


def test_the_call_waits_with_its_child_variables_and_completes_with_the_mapped_outputs():
    [model] = load_processes(around(
        '<bpmn:callActivity id="work"><bpmn:extensionElements>'
        '<zeebe:calledElement processId="review" propagateAllChildVariables="false"/>'
        '<zeebe:ioMapping><zeebe:input source="= amount * 2" target="double"/>'
        '<zeebe:output source="= verdict" target="outcome"/></zeebe:ioMapping>'
        "</bpmn:extensionElements></bpmn:callActivity>"), "calls.bpmn")
    instance = Instance.start(model, {"amount": 21})
    [(task_id, element_id)] = instance.ready_calls()
    request = instance.call_request(task_id, element_id)
    assert request.variables == {"amount": 21, "double": 42} and request.called == "review"
    instance.complete_call(task_id, {"verdict": "fine", "noise": 1})
    assert instance.data["outcome"] == "fine" and "noise" not in instance.data
    assert [task.element_id for task in instance.ready_tasks()] == ["after"]


def test_a_zeebe_loop_on_a_user_task_makes_one_task_per_item_and_collects_outputs():
    loop = ('<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
            '<zeebe:loopCharacteristics inputCollection="= signers" inputElement="signer" '
            'outputCollection="votes" outputElement="= signer + &quot;:&quot; + vote"/>'
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>")
    [model] = load_processes(around(
        '<bpmn:userTask id="work"><bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="vote" type="string"/></camunda:formData>'
        f"</bpmn:extensionElements>{loop}</bpmn:userTask>"), "calls.bpmn")
    instance = Instance.start(model, {"signers": ["li", "wang"]})
    tasks = [task for task in instance.ready_tasks() if task.element_id == "work"]
    assert sorted(instance.task_data(task.id)["signer"] for task in tasks) == ["li", "wang"]
    for task in reversed(tasks):
        instance.complete(task.id, {"vote": "yes"})
    assert instance.data["votes"] == ["li:yes", "wang:yes"]
    assert [task.element_id for task in instance.ready_tasks()] == ["after"]


def test_a_zeebe_loop_over_an_expression_makes_one_instance_per_item_of_its_value():
    loop = ('<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
            '<zeebe:loopCharacteristics inputCollection="= for n in 1..count return n * 10" '
            'inputElement="share"/></bpmn:extensionElements>'
            "</bpmn:multiInstanceLoopCharacteristics>")
    [model] = load_processes(around(f'<bpmn:userTask id="work">{loop}</bpmn:userTask>'),
                             "calls.bpmn")
    instance = Instance.start(model, {"count": 3})
    tasks = [task for task in instance.ready_tasks() if task.element_id == "work"]
    assert sorted(instance.task_data(task.id)["share"] for task in tasks) == [10, 20, 30]
    for task in tasks:
        instance.complete(task.id, {})
    [after] = instance.ready_tasks()
    assert after.element_id == "after"
    assert "loopItems_work" not in instance.task_data(after.id)  # the list it made is gone


def test_a_zeebe_loop_whose_expression_gives_no_list_puts_the_instance_in_error_at_it():
    loop = ('<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
            '<zeebe:loopCharacteristics inputCollection="= order.lines" inputElement="line"/>'
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>")
    [model] = load_processes(around(f'<bpmn:userTask id="work">{loop}</bpmn:userTask>'),
                             "calls.bpmn")
    instance = Instance.start(model, {})
    assert instance.status == "error" and instance.error.element_id == "work"
    assert "gave null, not a list" in str(instance.error)


@pytest.mark.parametrize("collection, message", [
    ("= [1,", "zeebe:loopCharacteristics inputCollection '= [1,': line 1, column 6"),
    ("=", "zeebe:loopCharacteristics needs an inputCollection"),
])
def test_a_zeebe_loop_input_collection_is_checked_at_deploy_time(collection, message):
    loop = ('<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements>'
            f'<zeebe:loopCharacteristics inputCollection="{collection}" inputElement="x"/>'
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics>")
    problems = problems_of(around(f'<bpmn:callActivity id="work" calledElement="r">{loop}'
                                  "</bpmn:callActivity>"))
    assert any(problem.startswith("calls.bpmn:") and "work: " + message in problem
               for problem in problems), problems


def test_the_miwg_multi_instance_call_activity_loads():
    path = INTEROP / "miwg-reference" / "C.9.2.bpmn"
    if not path.exists():
        pytest.skip("../shared/interop is not beside the checkout")
    [model] = load_processes(path.read_bytes(), path.name, default_owner="ops")
    assert model.calls["CallActivity_RequestDocument"].called == "requestDocument_en"
