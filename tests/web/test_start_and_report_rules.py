"""Who may start a process, whose duty report a manager reads, and the range of `long`
fields: through the REST API and the pages, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from services.settings import Settings
from tests.conftest import read_bpmn
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import deploy, import_demo_org
from tests.web.test_pages_designer_org import signed_in, text
from web.app import create_app

INBOUND = read_bpmn("inbound_materials.bpmn")
# The inbound process, started by Legal and by li.qa instead of its start lane (Procurement).
LEGAL_STARTS = INBOUND.replace(
    b'<bpmn:process id="inbound_materials"',
    b'<bpmn:process id="legal_inbound" camunda:candidateStarterGroups="Legal" '
    b'camunda:candidateStarterUsers="li.qa"')
# A start event in no lane; the one duty is QA's by candidate group.
NO_START_LANE = process("\n".join([
    '<bpmn:startEvent id="start"/>', user_task("check", attrs='camunda:candidateGroups="QA"'),
    '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")]),
    process_id="unlaned")


@pytest.fixture
def app(store):
    import_demo_org(store)
    deploy(store, "inbound_materials.bpmn")
    deploy(store, "legal_inbound.bpmn", LEGAL_STARTS)
    deploy(store, "unlaned.bpmn", NO_START_LANE)
    return create_app(Settings(store.database_url), store=store)


@pytest.fixture
def api(app):
    client, tokens = app.test_client(), {}

    def call(username: str, method: str, path: str, body=None):
        if username not in tokens:
            tokens[username] = client.post("/api/v1/auth/token", json={
                "username": username, "password": "demo"}).json["token"]
        return client.open(path, method=method, json=body,
                           headers={"Authorization": f"Bearer {tokens[username]}"})
    return call


def start_status(api, username: str, key: str) -> int:
    return api(username, "POST", "/api/v1/process-instances", {"process_key": key}).status_code


def test_a_head_cannot_read_the_report_of_someone_outside_his_departments(api):
    report = "/api/v1/reports/employees/{}?period=2026-01"
    refused = api("wang.qa", "GET", report.format("zhang.proc"))
    assert refused.status_code == 403
    assert "managers of the departments they oversee" in refused.json["detail"]
    assert api("wang.qa", "GET", report.format("li.qa")).status_code == 200
    assert api("zheng.proc", "GET", report.format("zhang.proc")).status_code == 200
    assert api("liu.gm", "GET", report.format("zhang.proc")).status_code == 200  # the whole company
    assert api("wang.qa", "GET", report.format("nobody.at.all")).status_code == 403
    assert api("zhang.proc", "GET", report.format("zhang.proc")).status_code == 200
    assert api("zhao.hr", "GET", report.format("zhang.proc")).status_code == 200


def test_a_process_is_started_by_its_start_lanes_department_and_admins_only(api):
    refused = api("li.qa", "POST", "/api/v1/process-instances",
                  {"process_key": "inbound_materials", "data": {"x": "y" * 100_000}})
    assert refused.status_code == 403  # before the data is even looked at
    assert refused.json["detail"] == ("li.qa may not start 'inbound_materials'; "
                                      "it is started by: procurement")
    assert start_status(api, "zhang.proc", "inbound_materials") == 201
    assert start_status(api, "admin", "inbound_materials") == 201
    assert start_status(api, "zheng.proc", "inbound_materials") == 201
    assert start_status(api, "sun.prod", "inbound_materials") == 403  # has a duty, not the start
    assert start_status(api, "li.qa", "no_such_process") == 404


def test_candidate_starter_groups_and_users_replace_the_start_lane(api):
    assert start_status(api, "cao.legal", "legal_inbound") == 201
    assert start_status(api, "li.qa", "legal_inbound") == 201
    assert start_status(api, "he.qa", "legal_inbound") == 403
    assert start_status(api, "zhang.proc", "legal_inbound") == 403
    assert start_status(api, "admin", "legal_inbound") == 201


def test_a_start_event_in_no_lane_is_started_by_the_departments_with_duties_in_it(api):
    assert start_status(api, "he.qa", "unlaned") == 201
    assert start_status(api, "zhang.proc", "unlaned") == 403


def test_the_process_page_offers_only_what_one_may_start_and_refuses_the_rest(app):
    client, token = signed_in(app, "li.qa")
    page = text(client.get("/processes"))
    assert "/processes/legal_inbound/start" in page and "/processes/unlaned/start" in page
    assert "/processes/inbound_materials/start" not in page
    refused = client.post("/processes/inbound_materials/start", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "it is started by: procurement" in text(refused)
    started = client.post("/processes/unlaned/start", data={"csrf_token": token})
    assert started.status_code == 302 and "/instances/" in started.headers["Location"]
    clerk, _ = signed_in(app, "lin.proc")
    assert "/processes/inbound_materials/start" in text(clerk.get("/processes"))
    guard, _ = signed_in(app, "guo.wh")
    assert "No process that you may start is deployed." in text(guard.get("/processes"))


@pytest.mark.parametrize("quantity", [2**63, -10**30])
def test_a_long_field_refuses_numbers_beyond_64_bits(api, quantity):
    started = api("zhang.proc", "POST", "/api/v1/process-instances",
                  {"process_key": "inbound_materials"})
    [register] = started.json["tasks"]
    refused = api("zhang.proc", "POST", f"/api/v1/tasks/{register['id']}/complete",
                  {"data": {"supplier": "S", "material": "M", "quantity": quantity}})
    assert refused.status_code == 422
    assert list(refused.json["errors"]) == ["quantity"]
    assert "Must be a whole number from -9223372036854775808 to 9223372036854775807 (64-bit)." \
        in refused.json["errors"]["quantity"]
