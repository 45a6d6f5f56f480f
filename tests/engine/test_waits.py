"""A wait nothing can satisfy is refused at deploy time, where it is."""
from __future__ import annotations

import pytest

from engine.errors import BpmnValidationError
from engine.loader import load_processes
from tests.engine.bpmn_builder import HEADER, flow, user_task


def waiting_on(event: str, declarations: str = "") -> bytes:
    body = "\n".join(['<bpmn:startEvent id="start"/>', event, user_task("after"),
                      '<bpmn:endEvent id="end"/>', flow("start", "wait"), flow("wait", "after"),
                      flow("after", "end")])
    lanes = "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>"
                    for ref in ("start", "wait", "after", "end"))
    return (f'{HEADER}\n{declarations}<bpmn:process id="proc" isExecutable="true">'
            f'<bpmn:laneSet id="ls"><bpmn:lane id="l" name="QA">{lanes}</bpmn:lane>'
            f"</bpmn:laneSet>{body}</bpmn:process></bpmn:definitions>").encode()


def catch(definition: str) -> str:
    return f'<bpmn:intermediateCatchEvent id="wait">{definition}</bpmn:intermediateCatchEvent>'


@pytest.mark.parametrize("event,declarations", [
    ('<bpmn:receiveTask id="wait" messageRef="paid"/>', '<bpmn:message id="paid" name="Paid"/>'),
    (catch('<bpmn:messageEventDefinition messageRef="paid"/>'),
     '<bpmn:message id="paid" name="Paid"/>'),
    (catch('<bpmn:signalEventDefinition signalRef="stop"/>'),
     '<bpmn:signal id="stop" name="Stop"/>'),
])
def test_a_named_message_or_signal_wait_deploys(event, declarations):
    [model] = load_processes(waiting_on(event, declarations), "wait.bpmn")
    assert model.key == "proc"


@pytest.mark.parametrize("event,declarations,message", [
    ('<bpmn:receiveTask id="wait"/>', "", "waits for a message but names none"),
    (catch("<bpmn:messageEventDefinition/>"), "", "waits for a message but names none"),
    (catch('<bpmn:messageEventDefinition messageRef="ghost"/>'), "",
     "messageRef 'ghost' names no bpmn:message"),
    (catch('<bpmn:messageEventDefinition messageRef="paid"/>'), '<bpmn:message id="paid"/>',
     "bpmn:message 'paid' has no name"),
    (catch("<bpmn:signalEventDefinition/>"), "", "waits for a signal but names none"),
    (catch('<bpmn:conditionalEventDefinition><bpmn:condition> </bpmn:condition>'
           '</bpmn:conditionalEventDefinition>'), "", "conditional event has no condition"),
])
def test_a_wait_nothing_can_satisfy_is_refused_where_it_is(event, declarations, message):
    with pytest.raises(BpmnValidationError) as refused:
        load_processes(waiting_on(event, declarations), "wait.bpmn")
    assert [(problem.element_id, message in problem.message)
            for problem in refused.value.problems][:1] == [("wait", True)]
    assert refused.value.problems[0].line is not None
