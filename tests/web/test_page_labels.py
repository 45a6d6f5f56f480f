"""Pages in the reader's language: the diagram's zh-CN labels, departments' own names and
translated refusals, through Flask's test client on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from payroll.periods import Period
from services.identity.access import actor_named
from services.pay import kpi, payroll_runs
from services.persistence.models import utcnow
from services.settings import Settings
from services.workflow import tasks
from tests.services.helpers import (DELIVERY, PASS, complete, deploy, import_demo_org,
                                   ready_task, start)
from tests.web.test_pages_designer_org import csrf, signed_in, text
from web.app import create_app


@pytest.fixture
def app(store):
    import_demo_org(store)
    deploy(store, "inbound_materials.bpmn")
    return create_app(Settings(store.database_url), store=store)


def chinese(app, username: str):
    client, token = signed_in(app, username)
    client.post("/language", data={"lang": "zh", "next": "/inbox", "csrf_token": token})
    return client


def test_a_chinese_inbox_task_and_instance_show_the_diagrams_labels(app, store):
    instance = start(store)
    complete(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    client = chinese(app, "li.qa")
    inbox = text(client.get("/inbox"))
    assert "检验来货" in inbox and "Inspect goods" not in inbox
    assert "来料入库：到货、检验、入库" in inbox  # the process
    assert "质量部" in inbox  # the department's own name, in the header and the row
    assert '<span class="who">李娜 · 质量部</span>' in inbox
    task_id = inbox.split('data-task-id="')[1].split('"')[0]
    task = text(client.get(f"/tasks/{task_id}"))
    assert "<h1>检验来货</h1>" in task
    assert "检验结果" in task and ">合格</option>" in task and ">不合格</option>" in task
    assert "Inspection result" not in task
    diagram = text(client.get(f"/instances/{instance}/diagram.bpmn"))
    assert 'name="检验来货"' in diagram and 'name="登记供应商到货"' in diagram
    page = text(client.get(f"/instances/{instance}"))
    assert "登记供应商到货" in page and "采购部" in page  # the history: step and department


def test_an_english_page_keeps_the_drawn_names(app, store):
    instance = start(store)
    complete(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    client, _ = signed_in(app, "li.qa")
    inbox = text(client.get("/inbox"))
    assert "Inspect goods" in inbox and "检验来货" not in inbox
    assert '<span class="who">李娜 · qa</span>' in inbox  # the department's key
    task_id = inbox.split('data-task-id="')[1].split('"')[0]
    assert "Inspection result" in text(client.get(f"/tasks/{task_id}"))
    assert 'name="Inspect goods"' in text(client.get(f"/instances/{instance}/diagram.bpmn"))


def test_a_refusal_is_flashed_in_the_readers_language(app, store):
    start(store)
    buyer, _ = signed_in(app, "zhang.proc")
    task_id = text(buyer.get("/inbox")).split('data-task-id="')[1].split('"')[0]
    client = chinese(app, "lin.proc")
    token = csrf(client, "/inbox")
    buyer_token = csrf(buyer, "/inbox")
    buyer.post(f"/tasks/{task_id}/claim", data={"csrf_token": buyer_token, "next": "/inbox"})
    client.post(f"/tasks/{task_id}/claim", data={"csrf_token": token, "next": "/inbox"})
    page = text(client.get("/inbox"))
    assert "该项已被他人改动或状态已变化，请刷新后重试。 详情：" in page


def test_a_chinese_payslip_names_the_evidence_as_translated(app, store):
    instance = start(store)
    complete(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    complete(store, instance, "inspect_goods", "li.qa", PASS)
    with store.writing() as uow:
        run = payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"),
                                      str(Period.of(utcnow())), "UTC").id
    page = text(chinese(app, "zhao.hr").get(f"/hr/payroll-runs/{run}/payslips/li.qa"))
    assert "检验来货" in page and "来料入库：到货、检验、入库" in page


def draft_run_with_a_qa_scheme(store) -> int:
    """li.qa's inspection this month, QA's KPI scheme, and this month's draft run."""
    instance = start(store)
    complete(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    complete(store, instance, "inspect_goods", "li.qa", PASS)
    with store.writing() as uow:
        hr = actor_named(uow, "zhao.hr")
        kpi.set_scheme(uow, hr, "qa", {"indicators": [
            {"metric": "completed_count", "weight": "100", "target": "1"}]})
    with store.writing() as uow:
        return payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"),
                                       str(Period.of(utcnow())), "UTC").id


def test_a_chinese_payroll_run_names_each_lines_department_and_scheme_not_its_key(app, store):
    run = draft_run_with_a_qa_scheme(store)
    page = text(chinese(app, "zhao.hr").get(f"/hr/payroll-runs/{run}"))
    assert "质量部 v1" in page and "qa v1" not in page  # the scheme versions used
    assert "<td>质量部" in page and "<td>采购部" in page  # li.qa's and zhang.proc's lines
    assert "<td>qa" not in page and "<td>procurement" not in page
    english, _ = signed_in(app, "zhao.hr")
    assert "<td>qa" in text(english.get(f"/hr/payroll-runs/{run}"))  # English keeps keys


def test_a_chinese_payslip_and_my_performance_name_the_department_not_its_key(app, store):
    run = draft_run_with_a_qa_scheme(store)
    slip = text(chinese(app, "zhao.hr").get(f"/hr/payroll-runs/{run}/payslips/li.qa"))
    assert "<td>质量部 · " in slip and "<td>qa" not in slip
    mine = text(chinese(app, "li.qa").get("/me/kpi"))
    assert '<p class="muted">质量部 · ' in mine and '<p class="muted">qa' not in mine


def test_a_chinese_scheme_editor_and_my_open_work_name_the_duties_as_translated(app, store):
    instance = start(store)
    complete(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    with store.writing() as uow:
        tasks.claim(uow, actor_named(uow, "li.qa"), ready_task(store, instance,
                                                                "inspect_goods").id)
    editor = text(chinese(app, "zhao.hr").get("/hr/schemes/qa"))
    assert ">检验来货 (inbound_materials)</option>" in editor and "Inspect goods" not in editor
    mine = text(chinese(app, "li.qa").get("/me/kpi"))
    assert f">检验来货</a> · 来料入库：到货、检验、入库 #{instance}" in mine
    assert "Inspect goods" not in mine
