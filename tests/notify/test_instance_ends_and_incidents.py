"""Whichever step ends an instance (a completion, a move, a retry, a message) tells its
initiator once; every new incident tells the designers and admins (issue 15)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.identity.access import actor_named
from services.notify.messages import render
from services.persistence.models import Employee, Incident, Notification
from services.persistence.statuses import NotificationKind
from services.workflow import correlation, instances, modification, repair
from tests.engine.bpmn_builder import HEADER, flow, process, user_task
from tests.services.helpers import complete, deploy, import_demo_org, ready_task
from tests.notify.support import fail_at_commit
from tests.services.test_correlation import lane
from web.notifications import catalogs

ENDS = (NotificationKind.INSTANCE_FINISHED, NotificationKind.INSTANCE_REJECTED)


def last_script(script: str) -> bytes:
    """start -> fill (QA) -> script -> end: the script's step ends the instance."""
    nodes = ["start", "fill", "run", "end"]
    body = ['<bpmn:startEvent id="start"/>', user_task("fill"), '<bpmn:endEvent id="end"/>',
            f'<bpmn:scriptTask id="run" scriptFormat="python"><bpmn:script>{script}'
            "</bpmn:script></bpmn:scriptTask>"]
    body += [flow(a, b) for a, b in zip(nodes, nodes[1:])]
    return process("\n".join(body), {"QA": nodes}, process_id="last_script")


PAID = (HEADER + '<bpmn:message id="m_pay" name="payment"/>'
        '<bpmn:process id="paid" isExecutable="true">'
        + lane("l1", ["start", "fill", "recv", "end"])
        + '<bpmn:startEvent id="start"/>' + user_task("fill")
        + '<bpmn:receiveTask id="recv" messageRef="m_pay"/><bpmn:endEvent id="end"/>'
        + flow("start", "fill") + flow("fill", "recv") + flow("recv", "end")
        + "</bpmn:process></bpmn:definitions>").encode()


@pytest.fixture
def org(store):
    import_demo_org(store)
    return store


def started(store, key: str, by: str = "li.qa", business_key: str | None = None) -> int:
    with store.writing() as uow:
        instance_id = instances.start_process(uow, key, None, by, business_key).id
    return instance_id


def notes(store, *kinds) -> list[tuple[str, str, int | None]]:
    with store.reading() as uow:
        return [(n.recipient, n.kind, n.process_instance_id) for n in uow.session.scalars(
            select(Notification).where(Notification.kind.in_(kinds)).order_by(Notification.id))]


def as_admin(store, call, *args):
    with store.writing() as uow:
        return call(uow, actor_named(uow, "admin"), *args)


def test_a_move_to_the_end_tells_the_initiator_once(org):
    deploy(org, "last_script.bpmn", last_script("done = True"))
    instance_id = started(org, "last_script")
    row = as_admin(org, modification.move, instance_id, "fill", "end", "nothing left to do")
    assert row.status == "completed"
    assert notes(org, *ENDS) == [("li.qa", NotificationKind.INSTANCE_FINISHED, instance_id)]


def test_a_retry_that_ends_the_instance_tells_the_initiator_it_was_rejected(org):
    deploy(org, "last_script.bpmn", last_script("outcome = 'rejected' if x else 'ok'"))
    instance_id = started(org, "last_script")
    assert complete(org, instance_id, "fill", "li.qa", {}).status == "error"
    assert notes(org, *ENDS) == []
    as_admin(org, repair.fix_data, instance_id, {"x": True}, [], "x was never asked for")
    assert as_admin(org, repair.retry, instance_id, "x is set now").status == "completed"
    assert notes(org, *ENDS) == [("li.qa", NotificationKind.INSTANCE_REJECTED, instance_id)]


def test_a_message_that_ends_the_instance_tells_the_initiator_once(org):
    deploy(org, "paid.bpmn", PAID)
    instance_id = started(org, "paid", by="he.qa", business_key="PO-9")
    complete(org, instance_id, "fill", "li.qa", {})
    assert notes(org, *ENDS) == []  # waiting for the payment
    with org.writing() as uow:
        correlation.send_message(uow, actor_named(uow, "admin"), "payment",
                                 business_key="PO-9")
    assert notes(org, *ENDS) == [("he.qa", NotificationKind.INSTANCE_FINISHED, instance_id)]
    with org.reading() as uow:
        [note] = uow.session.scalars(select(Notification).where(
            Notification.kind == NotificationKind.INSTANCE_FINISHED)).all()
    assert note.payload["instance"] == {"id": instance_id, "process_key": "paid",
                                        "process_labels": {},  # none drawn in this diagram
                                        "business_key": "PO-9", "outcome": None}


def test_each_new_incident_tells_every_designer_and_admin_with_a_link_to_it(org):
    deploy(org, "last_script.bpmn", last_script("y = x + 1"))
    instance_id = started(org, "last_script", by="he.qa")
    assert notes(org, NotificationKind.INCIDENT_OPENED) == []
    assert complete(org, instance_id, "fill", "li.qa", {}).status == "error"
    with org.reading() as uow:
        repairers = sorted(e.username for e in uow.session.scalars(select(Employee))
                           if e.active and {"designer", "admin"} & set(e.roles or ()))
        [incident] = uow.session.scalars(select(Incident)).all()
        [note] = uow.session.scalars(select(Notification).where(
            Notification.kind == NotificationKind.INCIDENT_OPENED).limit(1)).all()
    assert "chen.design" in repairers and "admin" in repairers and "li.qa" not in repairers
    assert sorted(r for r, _, _ in notes(org, NotificationKind.INCIDENT_OPENED)) == repairers
    assert {i for _, _, i in notes(org, NotificationKind.INCIDENT_OPENED)} == {instance_id}
    english = render(note.kind, note.payload, catalogs().gettext("en"), "https://duty.example")
    assert english.title == "Incident in last_script"
    assert english.body.startswith(f"last_script #{instance_id} failed at run: ")
    assert "'x'" in english.body and english.url == f"https://duty.example/incidents/{incident.id}"
    chinese = render(note.kind, note.payload, catalogs().gettext("zh-CN"), "")
    assert chinese.title == "last_script 发生故障" and "在 run 处出错" in chinese.body
    as_admin(org, repair.retry, instance_id, "try once more")  # fails again: a new incident
    assert len(notes(org, NotificationKind.INCIDENT_OPENED)) == 2 * len(repairers)


def test_a_failed_step_whose_commit_fails_records_no_incident_and_tells_nobody(org):
    deploy(org, "last_script.bpmn", last_script("y = x + 1"))
    instance_id = started(org, "last_script", by="he.qa")
    task = ready_task(org, instance_id, "fill")
    with pytest.raises(RuntimeError):
        with org.writing() as uow:
            fail_at_commit(uow)
            instances.complete_task(uow, actor_named(uow, "li.qa"), task.id, {})
    with org.reading() as uow:
        assert uow.session.scalars(select(Incident)).all() == []
    assert notes(org, NotificationKind.INCIDENT_OPENED) == []
