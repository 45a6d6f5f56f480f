"""The incident page (fix data, retry) and the instance page's lifecycle forms, signed in
through the form with CSRF tokens, in English and Chinese (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from services.persistence.models import Incident
from services.settings import Settings
from services.workflow import instances
from tests.services.helpers import DELIVERY, complete, deploy, import_demo_org, start
from tests.services.test_repair import scripted
from web.app import create_app

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(store):
    import_demo_org(store)
    deploy(store)
    deploy(store, "scripted.bpmn", scripted())
    return create_app(Settings(store.database_url, secret_key="test"), store=store)


class Browser:
    def __init__(self, app, username: str):
        self.client = app.test_client()
        self.post("/sign-in", "/sign-in", {"username": username, "password": "demo"},
                  expect=302)

    def get(self, path: str, expect: int = 200) -> str:
        page = self.client.get(path)
        assert page.status_code == expect, page.get_data(as_text=True)[:2000]
        return page.get_data(as_text=True)

    def post(self, form_page: str, path: str, data: dict, expect: int = 302):
        token = TOKEN.search(self.get(form_page)).group(1)
        answer = self.client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == expect, answer.get_data(as_text=True)[:2000]
        return answer


def failed_instance(store) -> tuple[int, int]:
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "scripted", None, "li.qa").id
    complete(store, instance_id, "fill", "li.qa", {})
    with store.reading() as uow:
        incident = uow.session.scalars(select(Incident)).one()
    return instance_id, incident.id


def test_an_admin_fixes_the_data_and_retries_from_the_incident_page(app, store):
    instance_id, incident_id = failed_instance(store)
    admin = Browser(app, "admin")
    listing = admin.get("/incidents")
    assert f"/incidents/{incident_id}" in listing and "name &#39;x&#39; is not defined" in listing
    page = f"/incidents/{incident_id}"
    assert "Fix data" in admin.get(page)
    refused = admin.post(page, f"{page}/data", {"set": "[1]", "unset": "", "reason": "x"},
                         expect=422)
    assert "JSON object" in refused.get_data(as_text=True)
    admin.post(page, f"{page}/data", {"set": json.dumps({"x": 41}), "unset": "",
                                      "reason": "x was never asked for"})
    assert '"x": 41' in admin.get(page)
    admin.post(page, f"{page}/retry", {"version": "1", "reason": "fixed"})
    after = admin.get(page)
    assert 'id="instance-status">running' in after and "Retried" in after
    with store.reading() as uow:
        assert instances.get_instance(uow, instance_id).data["y"] == 42
    history = admin.get(f"/instances/{instance_id}")
    assert "data_fix" in history and "x was never asked for" in history


def test_an_admin_moves_past_the_failing_script_from_the_incident_page(app, store):
    instance_id, incident_id = failed_instance(store)
    page = f"/incidents/{incident_id}"
    admin = Browser(app, "admin")
    assert 'name="from" value="run"' in admin.get(page)
    refused = admin.post(page, f"{page}/move", {"from": "run", "to": "nowhere", "reason": "x"},
                         expect=422)
    assert "nowhere is not an element" in refused.get_data(as_text=True)
    admin.post(page, f"{page}/move", {"from": "run", "to": "after", "reason": "obsolete"})
    assert "Moved" in admin.get(page)
    with store.reading() as uow:
        assert instances.get_instance(uow, instance_id).status == "running"
    assert "Move the token" not in Browser(app, "chen.design").get(page)  # admins only


def test_the_incident_pages_speak_chinese(app, store):
    _, incident_id = failed_instance(store)
    admin = Browser(app, "admin")
    admin.post("/inbox", "/language", {"lang": "zh"})
    page = admin.get(f"/incidents/{incident_id}")
    assert "修正数据" in page and "重试失败的步骤" in page
    assert "故障" in admin.get("/incidents")


def test_incident_pages_are_for_admins_and_designers_and_need_the_csrf_token(app, store):
    _, incident_id = failed_instance(store)
    Browser(app, "li.qa").get("/incidents", expect=403)
    Browser(app, "li.qa").get(f"/incidents/{incident_id}", expect=403)
    designer = Browser(app, "chen.design")
    designer.get(f"/incidents/{incident_id}")
    forged = designer.client.post(f"/incidents/{incident_id}/retry", data={"reason": "x"})
    assert forged.status_code == 400


def test_a_head_suspends_and_resumes_from_the_instance_page_and_the_starter_withdraws(app, store):
    instance_id = start(store)
    head = Browser(app, "wang.qa")
    page = f"/instances/{instance_id}"
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    assert "Suspend" in head.get(page)
    head.post(page, f"{page}/suspend", {"reason": "stock count"})
    body = head.get(page)
    assert 'id="instance-status">suspended' in body and "stock count" in body
    head.post(page, f"{page}/resume", {"reason": "done"})
    assert 'id="instance-status">running' in head.get(page)

    with store.writing() as uow:
        own = instances.start_process(uow, "inbound_materials", None, "zhang.proc").id
    starter = Browser(app, "zhang.proc")
    own_page = f"/instances/{own}"
    assert "Withdraw" in starter.get(own_page) and "Suspend" not in starter.get(own_page)
    starter.post(own_page, f"{own_page}/cancel", {"reason": ""})  # refused: flashed
    assert "a reason is required" in starter.get(own_page)
    starter.post(own_page, f"{own_page}/cancel", {"reason": "wrong supplier"})
    assert 'id="instance-status">cancelled' in starter.get(own_page)
