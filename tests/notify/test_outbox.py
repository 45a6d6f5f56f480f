"""The outbox: who is told of what, written in the step's own transaction."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from services.errors import InvalidInput
from services.identity.access import actor_named
from services.identity.actor import Actor
from services.pay import payroll_runs
from services.persistence.models import Delivery, Notification, OrgChange
from services.persistence.statuses import Channel, NotificationKind
from services.workflow import instances, tasks
from tests.notify.support import WEBHOOK_SECRET, demo_org, fail_at_commit, import_org, opt_in
from tests.services.helpers import DELIVERY, complete, deploy, ready_task

QA_CHANNELS = {"webhook": "https://hooks.example/qa?token=abc", "secret": WEBHOOK_SECRET,
               "robot": {"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                         "secret": "SECxyz"}}


@pytest.fixture
def org(store):
    import_org(store, demo_org(QA_CHANNELS, **{"li.qa": {"email": "li.na@example.com",
                                                          "locale": "zh-CN"}}))
    deploy(store)
    deploy(store, "contract_approval.bpmn")
    return store


def rows(store, model):
    with store.reading() as uow:
        return list(uow.session.scalars(select(model).order_by(model.created_at)))


def start_as(store, username, key="inbound_materials", data=None):
    with store.writing() as uow:
        return instances.start_process(uow, key, data, username).id


def test_a_ready_task_tells_the_opted_in_members_and_the_departments_channels(org):
    opt_in(org, "li.qa")
    instance_id = start_as(org, "zhang.proc")
    complete(org, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    [note] = rows(org, Notification)
    assert (note.recipient, note.kind, note.in_app) == ("li.qa", NotificationKind.TASK_READY, True)
    inspect = ready_task(org, instance_id, "inspect_goods")
    assert note.task_id == inspect.id and note.payload["task"]["department_name"] == "质量部"
    channels = {(d.channel, d.target, d.locale) for d in rows(org, Delivery)}
    assert channels == {(Channel.EMAIL, "li.na@example.com", "zh-CN"),
                        (Channel.WEBHOOK, "qa", "en"), (Channel.ROBOT, "qa", "en")}
    # The first task (procurement's) told nobody: no one there opted in, no channels.
    assert all(d.target != "procurement" for d in rows(org, Delivery))


def test_members_who_did_not_opt_in_hear_nothing_of_their_departments_tasks(org):
    instance_id = start_as(org, "zhang.proc")
    complete(org, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    assert rows(org, Notification) == []
    assert {d.channel for d in rows(org, Delivery)} == {Channel.WEBHOOK, Channel.ROBOT}


def test_email_off_keeps_the_in_app_notification_only(org):
    opt_in(org, "li.qa", email=False)
    complete(org, start_as(org, "zhang.proc"), "register_delivery", "zhang.proc", DELIVERY)
    assert [n.recipient for n in rows(org, Notification)] == ["li.qa"]
    assert Channel.EMAIL not in {d.channel for d in rows(org, Delivery)}


def test_a_rolled_back_completion_notifies_nobody(org):
    opt_in(org, "li.qa")
    instance_id = start_as(org, "zhang.proc")
    task = ready_task(org, instance_id, "register_delivery")
    with pytest.raises(RuntimeError):
        with org.writing() as uow:
            fail_at_commit(uow)
            instances.complete_task(uow, actor_named(uow, "zhang.proc"), task.id, DELIVERY)
    assert rows(org, Notification) == [] and rows(org, Delivery) == []
    assert ready_task(org, instance_id, "register_delivery").id == task.id  # nothing happened
    complete(org, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    assert [n.recipient for n in rows(org, Notification)] == ["li.qa"]


def test_the_initiator_hears_that_the_instance_finished(org):
    instance_id = start_as(org, "zhang.proc")
    complete(org, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    complete(org, instance_id, "inspect_goods", "li.qa", {"result": "pass", "defects": 0})
    complete(org, instance_id, "warehouse_intake", "guo.wh",
             {"storage_location": "A-3", "received_quantity": 10})
    [note] = [n for n in rows(org, Notification) if n.recipient == "zhang.proc"]
    assert note.kind == NotificationKind.INSTANCE_FINISHED
    assert note.process_instance_id == instance_id


def test_a_rejected_contract_tells_its_initiator_so(org):
    instance_id = start_as(org, "xu.sales", "contract_approval",
                           {"title": "钢材合同", "counterparty": "华东钢铁", "amount": 5000})
    complete(org, instance_id, "submit_contract", "xu.sales", {"contract_summary": "steel"})
    complete(org, instance_id, "legal_review", "cao.legal",
             {"terms_comply": False, "risks_addressed": True, "decision": "reject"})
    [note] = [n for n in rows(org, Notification) if n.recipient == "xu.sales"]
    assert note.kind == NotificationKind.INSTANCE_REJECTED
    assert note.payload["instance"]["outcome"] == "rejected"


def test_an_assignment_tells_the_assignee(org):
    instance_id = start_as(org, "zhang.proc")
    complete(org, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    task = ready_task(org, instance_id, "inspect_goods")
    with org.writing() as uow:
        tasks.assign(uow, actor_named(uow, "wang.qa"), task.id, "he.qa")
    [note] = rows(org, Notification)
    assert (note.recipient, note.kind, note.payload["by"]) == (
        "he.qa", NotificationKind.TASK_ASSIGNED, "wang.qa")


def test_a_final_payroll_run_tells_each_employee_their_payslip_is_ready(org):
    hr = Actor("zhao.hr", "hr", frozenset({"hr"}), frozenset())
    with org.writing() as uow:
        run = payroll_runs.create_run(uow, hr, "2026-11", "UTC")
    assert rows(org, Notification) == []  # a draft tells nobody
    with org.writing() as uow:
        payroll_runs.approve(uow, Actor("qian.hr", "hr", frozenset({"hr"}), frozenset()), run.id)
    assert rows(org, Notification) == []  # nor does an approval
    with org.writing() as uow:
        payroll_runs.finalize(uow, hr, run.id)
    notes = rows(org, Notification)
    assert notes and {n.kind for n in notes} == {NotificationKind.PAYSLIP_READY}
    assert "li.qa" in {n.recipient for n in notes} and all(
        n.payload == {"run": {"id": run.id, "period": "2026-11"}, "username": n.recipient}
        for n in notes)
    assert len({n.recipient for n in notes}) == len(notes)


def test_the_org_file_refuses_bad_notification_settings_by_line(store):
    text = demo_org({"webhook": "ftp://x", "robot": {"kind": "wechat", "url": "https://r"}},
                    **{"li.qa": {"email": "not-an-address", "locale": "fr"}})
    with pytest.raises(InvalidInput) as refused:
        import_org(store, text)
    problems = "\n".join(refused.value.errors)
    for expected in ("departments[2].notify.webhook: must be an http(s) URL",
                     "departments[2].notify.secret: required with webhook",
                     "departments[2].notify.robot.kind: required: one of dingtalk",
                     "departments[2].notify.robot.secret: required",
                     "employees[7].email: must be an email address",
                     "employees[7].locale: must be one of en, zh-CN"):
        assert expected in problems, problems
    assert all(line.startswith("org.yaml:") for line in refused.value.errors)


def test_notification_secrets_stay_out_of_the_org_change_log(org):
    with org.reading() as uow:
        logged = [change.after for change in uow.session.scalars(
            select(OrgChange).where(OrgChange.entity_key == "qa"))]
    assert logged and WEBHOOK_SECRET not in str(logged) and "SECxyz" not in str(logged)
    assert "token=" not in str(logged)
    assert logged[0]["notify"] == ["robot", "secret", "webhook"]
