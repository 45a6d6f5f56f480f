"""Reminders and escalation of tasks left open, from the diagram or the department."""
from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.errors import InvalidInput
from services.identity.access import actor_named
from services.identity.actor import Actor
from services.pay import payroll_runs, payslips
from services.notify import follow_ups
from payroll.aggregation import measure
from payroll.periods import Period
from payroll.schemes import Indicator
from services.persistence.models import (Escalation, Notification, Task, TaskEvent,
                                         TaskFollowUp, utcnow)
from services.reporting import dashboard
from services.persistence.statuses import NotificationKind
from services.settings import Settings
from services.workflow import instances
from tests.conftest import read_bpmn
from tests.notify.support import demo_org, import_org
from tests.services.helpers import DELIVERY, PASS, complete, deploy, ready_task, start
from tests.web.sign_in_helpers import page_sign_in
from web.app import create_app

INSPECT = b'<bpmn:userTask id="inspect_goods" name="Inspect goods" camunda:dueDate="PT4H">\n' \
          b'      <bpmn:extensionElements>'


def with_follow_ups(remind: str | None = "PT1H", escalate: str | None = "PT2H") -> bytes:
    properties = "".join(f'<camunda:property name="dutyflow:{name}" value="{value}" />'
                         for name, value in (("remindAfter", remind), ("escalateAfter", escalate))
                         if value)
    return read_bpmn("inbound_materials.bpmn").replace(
        INSPECT, INSPECT + f"<camunda:properties>{properties}</camunda:properties>".encode())


@pytest.fixture
def org(store):
    import_org(store, demo_org())
    return store


def inspection(store):
    """An inspection that became ready now; returns (its task row, when it became ready)."""
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    task = ready_task(store, instance_id, "inspect_goods")
    return task, task.created_at


def notes(store, kind):
    with store.reading() as uow:
        return sorted(n.recipient for n in uow.session.scalars(
            select(Notification).where(Notification.kind == kind)))


def escalations(store):
    with store.reading() as uow:
        return [(e.level, e.department_key, e.notified) for e in uow.session.scalars(
            select(Escalation).order_by(Escalation.id))]


def test_a_reminder_goes_once_to_everyone_who_may_take_the_task(org):
    deploy(org, source=with_follow_ups(escalate=None))
    task, ready = inspection(org)
    assert follow_ups.run_due(org, ready + dt.timedelta(minutes=59)) == 0
    assert follow_ups.run_due(org, ready + dt.timedelta(hours=1)) == 1
    assert notes(org, NotificationKind.TASK_REMINDER) == ["he.qa", "li.qa", "wang.qa"]
    assert follow_ups.run_due(org, ready + dt.timedelta(hours=5)) == 0  # once
    assert escalations(org) == []


def test_escalation_climbs_to_each_head_above_after_each_interval(org):
    deploy(org, source=with_follow_ups(remind=None, escalate="PT2H"))
    task, ready = inspection(org)
    follow_ups.run_due(org, ready + dt.timedelta(hours=1))
    assert escalations(org) == []
    follow_ups.run_due(org, ready + dt.timedelta(hours=2))
    assert escalations(org) == [(1, "qa", "wang.qa")]
    follow_ups.run_due(org, ready + dt.timedelta(hours=3, minutes=59))
    assert len(escalations(org)) == 1  # the next one is due 2 h after the first
    follow_ups.run_due(org, ready + dt.timedelta(hours=4))
    follow_ups.run_due(org, ready + dt.timedelta(hours=6))
    assert escalations(org) == [(1, "qa", "wang.qa"), (2, "production", "sun.prod"),
                                (3, "company", "liu.gm")]
    follow_ups.run_due(org, ready + dt.timedelta(days=30))  # the top: nobody further
    assert len(escalations(org)) == 3
    assert notes(org, NotificationKind.TASK_ESCALATED) == ["liu.gm", "sun.prod", "wang.qa"]
    with org.reading() as uow:
        recorded = uow.session.scalars(select(Escalation).order_by(Escalation.id)).first()
        assert recorded.at == ready + dt.timedelta(hours=2) and recorded.task_id == task.id


def test_department_defaults_apply_to_tasks_without_their_own(store):
    import_org(store, demo_org(qa={"remind_after": "PT30M", "escalate_after": "P1D"}))
    deploy(store)
    task, ready = inspection(store)
    with store.reading() as uow:
        row = uow.session.get(TaskFollowUp, task.id)
        assert (row.remind_at, row.escalate_at) == (ready + dt.timedelta(minutes=30),
                                                    ready + dt.timedelta(days=1))


def test_a_completed_task_is_neither_reminded_nor_escalated(org):
    deploy(org, source=with_follow_ups())
    task, ready = inspection(org)
    complete(org, task.process_instance_id, "inspect_goods", "li.qa", PASS)
    assert follow_ups.run_due(org, ready + dt.timedelta(days=1)) == 0
    assert notes(org, NotificationKind.TASK_REMINDER) == [] and escalations(org) == []
    with org.reading() as uow:
        assert uow.session.get(TaskFollowUp, task.id) is None


def test_two_workers_remind_and_escalate_once(org):
    deploy(org, source=with_follow_ups(remind="PT1H", escalate="PT1H"))
    for _ in range(5):
        inspection(org)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1, minutes=1)
    barrier = threading.Barrier(2)

    def work():
        barrier.wait()
        follow_ups.run_due(org, later)

    workers = [threading.Thread(target=work) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert len(notes(org, NotificationKind.TASK_REMINDER)) == 5 * 3
    assert escalations(org) == [(1, "qa", "wang.qa")] * 5


def test_a_bad_interval_is_refused_at_deploy_with_its_line(org):
    with pytest.raises(InvalidInput) as refused:
        deploy(org, source=with_follow_ups(remind="soon"))
    [problem] = refused.value.errors
    assert problem["element_id"] == "inspect_goods" and problem["line"] > 60
    assert "dutyflow:remindAfter 'soon' must be an ISO 8601 duration" in problem["message"]


def test_the_org_file_refuses_a_bad_default_interval(store):
    with pytest.raises(InvalidInput) as refused:
        import_org(store, demo_org(qa={"remind_after": "4 hours"}))
    assert any("departments[2].remind_after: must be an ISO 8601 duration" in problem
               for problem in refused.value.errors)


def test_escalation_free_rate_counts_the_completions_never_escalated(org):
    """li.qa completes two inspections, one of them after it was escalated: 1 of 2 never
    was. The completion event records it; payroll's measure reads it."""
    deploy(org, source=with_follow_ups(remind=None, escalate="PT2H"))
    late, ready = inspection(org)
    assert follow_ups.run_due(org, ready + dt.timedelta(hours=2)) == 1
    prompt, _ = inspection(org)
    for task in (late, prompt):
        complete(org, task.process_instance_id, "inspect_goods", "li.qa", PASS)
    indicator = Indicator("escalation_free_rate", Decimal(100), Decimal(1))
    with org.reading() as uow:
        events = uow.session.scalars(select(TaskEvent).where(
            TaskEvent.element_id == "inspect_goods").order_by(TaskEvent.id)).all()
        measured = measure(uow.session.connection(), TaskEvent.__table__, Task.__table__,
                           Period.of(events[0].completed_at), [indicator], ["li.qa"])
    assert [event.escalated for event in events] == [True, False]
    assert measured["li.qa"][indicator.key] == Decimal("0.5")


def test_the_task_page_shows_who_was_told_of_its_escalation(org):
    deploy(org, source=with_follow_ups(remind=None, escalate="PT2H"))
    task, ready = inspection(org)
    client = create_app(Settings(org.database_url), store=org).test_client()
    page_sign_in(client, "li.qa")
    assert 'id="escalations"' not in client.get(f"/tasks/{task.id}").get_data(as_text=True)
    follow_ups.run_due(org, ready + dt.timedelta(hours=2))
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'id="escalations"' in page and "told wang.qa" in page and "level 1" in page


def overdue_inspection(store, ready: dt.datetime) -> Task:
    """An inspection that became ready at `ready` (due 4 h later), left open."""
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "zhang.proc",
                                              now=ready).id
    register = ready_task(store, instance_id, "register_delivery")
    with store.writing() as uow:
        instances.complete_task(uow, actor_named(uow, "zhang.proc"), register.id, DELIVERY,
                                now=ready)
    return ready_task(store, instance_id, "inspect_goods")


def test_the_dashboards_overdue_list_says_whether_and_to_whom_each_task_was_escalated(org):
    """Two overdue inspections, one escalated twice (QA's head, then production's): the
    dashboard's overdue list shows both escalations of the one, "no" for the other."""
    deploy(org, source=with_follow_ups(remind=None, escalate="PT2H"))
    ready = utcnow().replace(microsecond=0) - dt.timedelta(days=1)
    escalated = overdue_inspection(org, ready)
    follow_ups.run_due(org, ready + dt.timedelta(hours=2))
    follow_ups.run_due(org, ready + dt.timedelta(hours=4))
    calm = overdue_inspection(org, ready + dt.timedelta(hours=5))
    with org.reading() as uow:
        listed = {row["id"]: row["escalations"] for row in dashboard.overdue_tasks(
            uow, actor_named(uow, "wang.qa"), now=ready + dt.timedelta(hours=10))}
    assert listed[calm.id] == []
    assert [(e["level"], e["department"], e["notified"], e["at"]) for e in listed[escalated.id]] \
        == [(1, "qa", "wang.qa", ready + dt.timedelta(hours=2)),
            (2, "production", "sun.prod", ready + dt.timedelta(hours=4))]
    client = create_app(Settings(org.database_url), store=org).test_client()
    page_sign_in(client, "wang.qa")
    page = client.get("/dashboard").get_data(as_text=True)
    rows = dict(re.findall(r'<tr class="overdue" data-task-id="([^"]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {escalated.id, calm.id}
    assert "level 1" in rows[escalated.id] and "told wang.qa" in rows[escalated.id]
    assert "level 2" in rows[escalated.id] and "told sun.prod" in rows[escalated.id]
    assert "level" not in rows[calm.id] and ">no<" in rows[calm.id]
    task_page = client.get(f"/tasks/{escalated.id}").get_data(as_text=True)
    assert "level 2" in task_page and "told sun.prod" in task_page  # the same records


def test_payslip_evidence_names_who_was_told_of_each_escalated_completion(org):
    """li.qa's late inspection was escalated to QA's head before she completed it: her
    payslip's evidence (API and page) says so, with when; the prompt one says no."""
    deploy(org, source=with_follow_ups(remind=None, escalate="PT2H"))
    late, ready = inspection(org)
    follow_ups.run_due(org, ready + dt.timedelta(hours=2))
    prompt, _ = inspection(org)
    for task in (late, prompt):
        complete(org, task.process_instance_id, "inspect_goods", "li.qa", PASS)
    hr = Actor("zhao.hr", "hr", frozenset({"hr"}), frozenset())
    period = str(Period.of(utcnow()))
    with org.writing() as uow:
        run = payroll_runs.create_run(uow, hr, period, "UTC")
    with org.reading() as uow:
        evidence = {item["event_id"]: item for item in
                    payslips.payslip(uow, hr, run.id, "li.qa", "UTC")["evidence"]
                    if item["task"] == "inspect_goods"}
    by_task = {item["process_instance_id"]: item for item in evidence.values()}
    assert by_task[late.process_instance_id]["escalations"] == [
        {"level": 1, "department": "qa", "notified": "wang.qa",
         "at": (ready + dt.timedelta(hours=2)).isoformat().replace("+00:00", "Z")}]
    assert by_task[prompt.process_instance_id]["escalations"] == []
    client = create_app(Settings(org.database_url), store=org).test_client()
    page_sign_in(client, "zhao.hr")
    page = client.get(f"/hr/payroll-runs/{run.id}/payslips/li.qa").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-event-id="(\d+)">(.*?)</tr>', page, re.S))
    late_row = rows[str(by_task[late.process_instance_id]["event_id"])]
    assert "level 1" in late_row and "told wang.qa" in late_row
    assert ">no<" in rows[str(by_task[prompt.process_instance_id]["event_id"])]


def test_chinese_pages_name_the_department_an_escalation_climbed_to_not_its_key(org):
    """QA's overdue inspection escalated to QA's head, then production's: the task page,
    wang.qa's dashboard (production is not among his departments) and the payslip's
    evidence name 质量部 and 生产部 in Chinese."""
    deploy(org, source=with_follow_ups(remind=None, escalate="PT2H"))
    ready = utcnow().replace(microsecond=0) - dt.timedelta(days=1)
    escalated = overdue_inspection(org, ready)
    follow_ups.run_due(org, ready + dt.timedelta(hours=2))
    follow_ups.run_due(org, ready + dt.timedelta(hours=4))
    client = create_app(Settings(org.database_url), store=org).test_client()
    page_sign_in(client, "wang.qa")
    chinese = {"Accept-Language": "zh"}
    task_page = client.get(f"/tasks/{escalated.id}", headers=chinese).get_data(as_text=True)
    dashboard_page = client.get("/dashboard", headers=chinese).get_data(as_text=True)
    for page in (task_page, dashboard_page):
        assert "· 质量部 ·" in page and "· 生产部 ·" in page
        assert "· qa ·" not in page and "· production ·" not in page
    complete(org, escalated.process_instance_id, "inspect_goods", "li.qa", PASS)
    hr = Actor("zhao.hr", "hr", frozenset({"hr"}), frozenset())
    with org.writing() as uow:
        run = payroll_runs.create_run(uow, hr, str(Period.of(utcnow())), "UTC")
    page_sign_in(client, "zhao.hr")
    slip = client.get(f"/hr/payroll-runs/{run.id}/payslips/li.qa",
                      headers=chinese).get_data(as_text=True)
    assert "· 生产部 ·" in slip and "· production ·" not in slip
