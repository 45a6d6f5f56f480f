"""Versions of one inspection process for the migration tests, the page and the bench.

v1: start -> inspect (QA) -> approve (QA) -> end, with a reminder timer on inspect.
v2: inspect asks for a required `inspection_no`, is due in two days, its timer waits
    longer, and approve moves to the Warehouse.
v3: as v1, but `inspect` was renamed `check`: instances waiting at inspect need a mapping.
"""
from __future__ import annotations

from services.workflow import instances
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import deploy

KEY = "inspection"
RESULT = ('<camunda:formField id="result" type="enum">'
          '<camunda:value id="pass" name="pass"/><camunda:value id="fail" name="fail"/>'
          '<camunda:validation><camunda:constraint name="required"/></camunda:validation>'
          '</camunda:formField>')
INSPECTION_NO = ('<camunda:formField id="inspection_no" type="string"><camunda:validation>'
                 '<camunda:constraint name="required"/></camunda:validation>'
                 '</camunda:formField>')


def inspection(version: int = 1) -> bytes:
    inspect = "check" if version == 3 else "inspect"
    fields = RESULT + (INSPECTION_NO if version == 2 else "")
    due = ' camunda:dueDate="P2D"' if version == 2 else ""
    wait = "PT5H" if version == 2 else "PT2H"
    body = ['<bpmn:startEvent id="start"/>', user_task(inspect, fields, due),
            user_task("approve"), '<bpmn:endEvent id="end"/>',
            f'<bpmn:boundaryEvent id="remind" attachedToRef="{inspect}" cancelActivity="false">'
            f'<bpmn:timerEventDefinition><bpmn:timeDuration>{wait}</bpmn:timeDuration>'
            '</bpmn:timerEventDefinition></bpmn:boundaryEvent>',
            '<bpmn:endEvent id="reminded"/>',
            flow("start", inspect), flow(inspect, "approve"), flow("approve", "end"),
            flow("remind", "reminded")]
    approver = "Warehouse" if version == 2 else "QA"
    lanes = {"QA": ["start", inspect, "end", "remind", "reminded"], approver: ["approve"]} \
        if approver != "QA" else {"QA": ["start", inspect, "approve", "end", "remind",
                                         "reminded"]}
    return process("\n".join(body), lanes, process_id=KEY)


def deploy_version(store, version: int) -> None:
    [deployed] = deploy(store, "inspection.bpmn", inspection(version))
    assert deployed.definition.version == version


def start_many(store, count: int) -> list[int]:
    ids = []
    for number in range(count):
        with store.writing() as uow:
            ids.append(instances.start_process(uow, KEY, None, "li.qa",
                                               business_key=f"LOT-{number}").id)
    return ids
