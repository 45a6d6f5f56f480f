"""Countersign (会签) and or-sign (或签): a multi-instance user task with one instance per
signer, on a real database and real sandbox workers."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from payroll.periods import Period
from payroll.schemes import parse_scheme
from services.errors import Conflict, InvalidInput
from services.pay.kpi import measure_period
from services.persistence.models import ProcessInstance, Task, TaskEvent, utcnow
from tests.engine.bpmn_builder import flow, process
from tests.services.helpers import import_demo_org
from tests.services.test_people_routing import complete, deploy, inbox, open_tasks, start

SIGNERS = ["li.qa", "he.qa", "wang.qa"]


def countersign(condition: str | None, sequential: bool = False,
                collection: str = "${signers}") -> bytes:
    """start -> sign (one instance per signer) -> gateway on the outcomes -> accept | redo."""
    completion = (f'<bpmn:completionCondition xsi:type="bpmn:tFormalExpression">{condition}'
                  f"</bpmn:completionCondition>") if condition else ""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:userTask id="sign" name="Sign" camunda:assignee="${signer}" '
        'camunda:dueDate="PT1H">'
        '<bpmn:extensionElements><camunda:formData>'
        '<camunda:formField id="approved" type="boolean"/>'
        "</camunda:formData></bpmn:extensionElements>"
        f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}" '
        f'camunda:collection="{collection}" camunda:elementVariable="signer">{completion}'
        "</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>",
        '<bpmn:exclusiveGateway id="verdict" default="f_verdict_redo"/>',
        '<bpmn:userTask id="accept" name="Accept"/>', '<bpmn:userTask id="redo" name="Redo"/>',
        '<bpmn:endEvent id="end"/>',
        flow("start", "sign"), flow("sign", "verdict"),
        flow("verdict", "accept", "${all(o['approved'] for o in signers_outcomes)}"),
        flow("verdict", "redo"), flow("accept", "end"), flow("redo", "end")])
    return process(body, {"QA": ["start", "sign", "verdict", "accept", "redo", "end"]},
                   process_id="countersign")


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


def signing(store, instance_id: int) -> dict[str, str]:
    """signer -> task id of the instance's open signing tasks."""
    return {task.assignee: task.id for task in open_tasks(store, instance_id)
            if task.element_id == "sign"}


def sign(store, username: str, task_id: str, approved: bool = True):
    from services.identity.access import actor_named
    from services.workflow import instances
    with store.writing() as uow:
        return instances.complete_task(uow, actor_named(uow, username), task_id,
                                       {"approved": approved})


def statuses(store, instance_id: int) -> dict[str, str]:
    with store.reading() as uow:
        return {task.assignee: task.status for task in uow.session.scalars(select(Task).where(
            Task.process_instance_id == instance_id, Task.element_id == "sign"))}


def events(store) -> list[tuple[str, str]]:
    with store.reading() as uow:
        return [(event.element_id, event.completed_by) for event in uow.session.scalars(
            select(TaskEvent).order_by(TaskEvent.id))]


def instance_data(store, instance_id: int) -> dict:
    with store.reading() as uow:
        return uow.session.get(ProcessInstance, instance_id).data


def test_two_of_three_countersign_withdraws_the_third_and_credits_only_the_signers(org):
    deploy(org, countersign("${nrOfCompletedInstances >= 2}"))
    instance = start(org, "li.qa", {"signers": SIGNERS}, key="countersign")
    tasks = signing(org, instance.id)
    assert set(tasks) == set(SIGNERS)
    assert all(tasks[name] in inbox(org, name) for name in SIGNERS)
    sign(org, "he.qa", tasks["he.qa"])
    assert set(signing(org, instance.id)) == {"li.qa", "wang.qa"}
    done = sign(org, "wang.qa", tasks["wang.qa"])
    assert [task.element_id for task in done.ready] == ["accept"]
    assert statuses(org, instance.id) == {"he.qa": "completed", "wang.qa": "completed",
                                          "li.qa": "withdrawn"}
    assert events(org) == [("sign", "he.qa"), ("sign", "wang.qa")]
    assert instance_data(org, instance.id)["signers_outcomes"] == [
        {"signer": "he.qa", "approved": True}, {"signer": "wang.qa", "approved": True}]
    with pytest.raises(Conflict, match="withdrawn"):  # nobody's to do any more
        complete(org, "li.qa", tasks["li.qa"])
    period = Period.of(utcnow())
    scheme = parse_scheme({"indicators": [{"metric": "completion_rate", "weight": 100,
                                           "target": 1}]})
    with org.reading() as uow:
        measured = measure_period(uow, period, {"qa": scheme}, SIGNERS)
    rates = {name: next(iter(values.values())) for name, values in measured.items()}
    assert "li.qa" not in rates  # neither credit nor a penalty for the withdrawn task
    assert rates["he.qa"] == rates["wang.qa"] == 1


def test_or_sign_one_signature_is_enough_and_a_refusal_reaches_the_gateway(org):
    deploy(org, countersign("${nrOfCompletedInstances >= 1}"))
    instance = start(org, "li.qa", {"signers": SIGNERS}, key="countersign")
    tasks = signing(org, instance.id)
    done = sign(org, "li.qa", tasks["li.qa"], approved=False)
    assert [task.element_id for task in done.ready] == ["redo"]
    assert statuses(org, instance.id) == {"li.qa": "completed", "he.qa": "withdrawn",
                                          "wang.qa": "withdrawn"}
    assert events(org) == [("sign", "li.qa")]


def test_without_a_condition_every_signer_signs(org):
    deploy(org, countersign(None))
    instance = start(org, "li.qa", {"signers": SIGNERS}, key="countersign")
    for name, task_id in signing(org, instance.id).items():
        done = sign(org, name, task_id)
    assert [task.element_id for task in done.ready] == ["accept"]
    assert sorted(name for _, name in events(org)) == sorted(SIGNERS)


def test_sequential_countersign_asks_one_signer_after_the_other_until_the_condition(org):
    deploy(org, countersign("${nrOfCompletedInstances >= 2}", sequential=True))
    instance = start(org, "li.qa", {"signers": SIGNERS}, key="countersign")
    assert list(signing(org, instance.id)) == ["li.qa"]
    sign(org, "li.qa", signing(org, instance.id)["li.qa"])
    assert list(signing(org, instance.id)) == ["he.qa"]
    done = sign(org, "he.qa", signing(org, instance.id)["he.qa"])
    assert [task.element_id for task in done.ready] == ["accept"]
    assert statuses(org, instance.id) == {"li.qa": "completed", "he.qa": "completed"}
    assert events(org) == [("sign", "li.qa"), ("sign", "he.qa")]


def test_a_signer_outside_the_owning_department_puts_the_instance_in_error(org):
    deploy(org, countersign("${nrOfCompletedInstances >= 2}"))
    instance = start(org, "li.qa", {"signers": ["li.qa", "zhang.proc"]}, key="countersign")
    assert instance.status == "error" and "'zhang.proc' belongs to department" in instance.error


@pytest.mark.parametrize("collection, message", [
    ("", "needs camunda:collection"),
    ("${signers[0]}", "needs camunda:collection"),
])
def test_deploy_refuses_a_countersign_without_a_collection_variable(org, collection, message):
    with pytest.raises(InvalidInput) as caught:
        deploy(org, countersign(None, collection=collection))
    assert any(message in error["message"] and error["element_id"] == "sign"
               for error in caught.value.errors), caught.value.errors


def test_an_interrupting_timer_cancels_the_countersign_rather_than_withdrawing_it(org):
    import datetime as dt

    from services.workflow import worker
    source = countersign("${nrOfCompletedInstances >= 2}").replace(
        b'<bpmn:endEvent id="end"/>',
        b'<bpmn:endEvent id="end"/><bpmn:boundaryEvent id="late" attachedToRef="sign">'
        b'<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration>'
        b'</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
        b'<bpmn:sequenceFlow id="f_late_redo" sourceRef="late" targetRef="redo"/>')
    deploy(org, source)
    instance = start(org, "li.qa", {"signers": SIGNERS}, key="countersign")
    sign(org, "li.qa", signing(org, instance.id)["li.qa"])
    assert worker.run_due_timers(org, utcnow() + dt.timedelta(hours=2)) == 1
    assert statuses(org, instance.id) == {"li.qa": "completed", "he.qa": "cancelled",
                                          "wang.qa": "cancelled"}
    assert [task.element_id for task in open_tasks(org, instance.id)] == ["redo"]
