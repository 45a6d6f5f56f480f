"""Messages and signals from outside, delivered to the waiting instances (SQLite and
PostgreSQL; each catch in a sandbox worker)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import EventSubscription, InstanceAction
from services.workflow import correlation, instances, lifecycle
from tests.engine.bpmn_builder import HEADER, flow, user_task
from tests.services.helpers import complete, deploy, import_demo_org, ready_task


def lane(lane_id: str, nodes: list[str]) -> str:
    refs = "".join(f"<bpmn:flowNodeRef>{node}</bpmn:flowNodeRef>" for node in nodes)
    return f'<bpmn:laneSet id="set_{lane_id}"><bpmn:lane id="{lane_id}" name="QA">{refs}' \
           "</bpmn:lane></bpmn:laneSet>"


PAYMENT = (HEADER + '<bpmn:message id="m_pay" name="payment"/>'
           '<bpmn:message id="m_order" name="order placed"/><bpmn:signal id="s_stop" name="stop"/>'
           '<bpmn:process id="payment" isExecutable="true">'
           + lane("l1", ["start", "fill", "recv", "halt", "after", "end"])
           + '<bpmn:startEvent id="start"/>' + user_task("fill")
           + '<bpmn:receiveTask id="recv" messageRef="m_pay"/>'
           '<bpmn:intermediateCatchEvent id="halt"><bpmn:signalEventDefinition signalRef="s_stop"/>'
           "</bpmn:intermediateCatchEvent>" + user_task("after") + '<bpmn:endEvent id="end"/>'
           + flow("start", "fill") + flow("fill", "recv") + flow("recv", "halt")
           + flow("halt", "after") + flow("after", "end") + "</bpmn:process>"
           '<bpmn:process id="ordering" isExecutable="true">'
           + lane("l2", ["placed", "handle", "done"])
           + '<bpmn:startEvent id="placed"><bpmn:messageEventDefinition messageRef="m_order"/>'
           "</bpmn:startEvent>" + user_task("handle") + '<bpmn:endEvent id="done"/>'
           + flow("placed", "handle") + flow("handle", "done")
           + "</bpmn:process></bpmn:definitions>").encode()


@pytest.fixture
def demo(store):
    import_demo_org(store)
    deploy(store, "payment.bpmn", PAYMENT)
    return store


def waiting_for_payment(store, business_key: str, order: int) -> int:
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "payment", {"order": order}, "admin",
                                              business_key).id
    complete(store, instance_id, "fill", "li.qa", {})
    return instance_id


def send(store, name, username="admin", **kwargs):
    with store.writing() as uow:
        return correlation.send_message(uow, actor_named(uow, username), name, **kwargs)


def signal(store, name, data=None, username="admin"):
    with store.writing() as uow:
        return correlation.send_signal(uow, actor_named(uow, username), name, data)


def data_of(store, instance_id):
    with store.reading() as uow:
        return instances.get_instance(uow, instance_id).data


def waits(store, instance_id) -> list[tuple[str, str, str]]:
    with store.reading() as uow:
        return sorted(uow.session.execute(select(
            EventSubscription.kind, EventSubscription.name, EventSubscription.element_id)
            .where(EventSubscription.process_instance_id == instance_id)).all())


def test_a_message_moves_the_one_instance_its_business_key_names(demo):
    first, second = waiting_for_payment(demo, "PO-1", 7), waiting_for_payment(demo, "PO-2", 8)
    assert waits(demo, second) == [("message", "payment", "recv")]
    answer, replayed = send(demo, "payment", business_key="PO-2", data={"amount": 5})
    assert answer == {"name": "payment", "message_id": None, "instances": [second]}
    assert not replayed
    assert data_of(demo, second)["amount"] == 5 and "amount" not in data_of(demo, first)
    assert waits(demo, second) == [("signal", "stop", "halt")]
    assert waits(demo, first) == [("message", "payment", "recv")]
    with demo.reading() as uow:
        action = uow.session.scalars(select(InstanceAction)).one()
    assert (action.process_instance_id, action.kind, action.actor) == (second, "message", "admin")
    assert action.details["caught_by"] == ["recv"]


def test_a_message_correlates_by_process_variables(demo):
    waiting_for_payment(demo, "PO-1", 7)
    second = waiting_for_payment(demo, "PO-1", 8)
    answer, _ = send(demo, "payment", correlation={"order": 8})
    assert answer["instances"] == [second]


def test_no_match_is_404_and_several_are_409_unless_all(demo):
    first, second = waiting_for_payment(demo, "PO-1", 7), waiting_for_payment(demo, "PO-2", 8)
    with pytest.raises(NotFound, match="business key 'PO-3'"):
        send(demo, "payment", business_key="PO-3")
    with pytest.raises(NotFound):
        send(demo, "no such message")
    with pytest.raises(Conflict, match="2 process instances wait"):
        send(demo, "payment")
    answer, _ = send(demo, "payment", deliver_all=True)
    assert answer["instances"] == [first, second]
    with pytest.raises(NotFound):  # nobody waits any more
        send(demo, "payment")


def test_the_same_message_id_answers_as_the_first_time_and_moves_nothing_twice(demo):
    first, second = waiting_for_payment(demo, "PO-1", 7), waiting_for_payment(demo, "PO-2", 8)
    answer, replayed = send(demo, "payment", business_key="PO-1", message_id="bank-42")
    assert (answer["instances"], replayed) == ([first], False)
    again, replayed = send(demo, "payment", business_key="PO-2", message_id="bank-42")
    assert (again, replayed) == (answer, True)
    assert waits(demo, second) == [("message", "payment", "recv")]
    with pytest.raises(InvalidInput):
        send(demo, "stop", message_id="bank-42")
    with demo.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(InstanceAction)) == 1


def test_a_signal_reaches_every_running_instance_waiting_for_it(demo):
    first, second, held = (waiting_for_payment(demo, f"PO-{n}", n) for n in (1, 2, 3))
    send(demo, "payment", deliver_all=True)
    with demo.writing() as uow:
        lifecycle.suspend(uow, actor_named(uow, "admin"), held, "audit")
    assert signal(demo, "stop", {"reason_code": "R1"}) == {"name": "stop",
                                                            "instances": [first, second]}
    assert ready_task(demo, first, "after") and ready_task(demo, second, "after")
    assert data_of(demo, first)["reason_code"] == "R1"
    assert waits(demo, held) == [("signal", "stop", "halt")]
    assert signal(demo, "stop") == {"name": "stop", "instances": []}


def test_a_message_start_event_waits_for_its_message(demo):
    with demo.writing() as uow:
        instance_id = instances.start_process(uow, "ordering", None, "admin", "SO-1").id
    assert waits(demo, instance_id) == [("message", "order placed", "placed")]
    answer, _ = send(demo, "order placed", business_key="SO-1", data={"customer": "华东"})
    assert answer["instances"] == [instance_id]
    assert ready_task(demo, instance_id, "handle")
    assert data_of(demo, instance_id)["customer"] == "华东"


def test_a_cancelled_instance_waits_for_nothing_and_only_admins_send(demo):
    instance_id = waiting_for_payment(demo, "PO-1", 7)
    with pytest.raises(PermissionDenied):
        send(demo, "payment", "wang.qa")
    with pytest.raises(PermissionDenied):
        signal(demo, "stop", username="li.qa")
    with pytest.raises(InvalidInput):
        send(demo, "payment", data={"_hidden": 1})
    with demo.writing() as uow:
        lifecycle.cancel(uow, actor_named(uow, "admin"), instance_id, "duplicate")
    assert waits(demo, instance_id) == []
    with pytest.raises(NotFound):
        send(demo, "payment")


def test_two_racing_sends_of_one_message_id_move_the_instance_once(demo):
    instance_id = waiting_for_payment(demo, "PO-1", 7)
    barrier, answers = threading.Barrier(2), []

    def run():
        barrier.wait()
        answers.append(send(demo, "payment", message_id="bank-7", data={"amount": 1}))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(replayed for _, replayed in answers) == [False, True]
    assert answers[0][0] == answers[1][0] == {"name": "payment", "message_id": "bank-7",
                                              "instances": [instance_id]}
    with demo.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(InstanceAction)) == 1
