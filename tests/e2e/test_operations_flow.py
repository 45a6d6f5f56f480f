"""Operations from the pages: an admin repairs an errored instance from its incident page
(data fix, then retry), and a designer previews a migration of running instances as a
diff of duties, runs it and watches its progress."""
from __future__ import annotations

import re

from playwright.sync_api import APIRequestContext, Page, expect

from tests.e2e.conftest import shot, sign_in
from tests.services.migration_diagrams import inspection
from tests.services.test_repair import scripted

API = "/api/v1"


def token(request: APIRequestContext, username: str) -> dict:
    answer = request.post(f"{API}/auth/token", data={"username": username, "password": "demo"})
    assert answer.ok, answer.text()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def deploy(request: APIRequestContext, headers: dict, name: str, source: bytes) -> None:
    answer = request.post(f"{API}/process-definitions", headers=headers, multipart={
        "file": {"name": name, "mimeType": "application/xml", "buffer": source}})
    assert answer.ok, answer.text()


def start(request: APIRequestContext, headers: dict, key: str, business_key: str) -> dict:
    answer = request.post(f"{API}/process-instances", headers=headers,
                          data={"process_key": key, "business_key": business_key})
    assert answer.status == 201, answer.text()
    return answer.json()


def test_an_admin_fixes_an_errored_instance_from_its_incident_page(new_page):
    page: Page = new_page()
    admin = token(page.request, "admin")
    deploy(page.request, admin, "scripted.bpmn", scripted())
    inspector = token(page.request, "li.qa")
    started = start(page.request, inspector, "scripted", "SCRIPT-1")
    failed = page.request.post(f"{API}/tasks/{started['tasks'][0]['id']}/complete",
                               headers=inspector, data={"data": {}})
    assert failed.json()["status"] == "error"

    sign_in(page, "admin")
    page.goto("/incidents")
    page.locator("table a", has_text=re.compile(r"^\d+$")).first.click()
    expect(page.locator("#instance-status")).to_have_text("error")
    expect(page.get_by_role("alert").first).to_contain_text("name 'x' is not defined")
    shot(page, "incident-errored")
    page.locator("#fix-set").fill('{"x": 41}')
    page.locator("#fix-reason").fill("x was never asked for")
    page.get_by_role("button", name="Fix data").click()
    expect(page.locator("pre").last).to_contain_text('"x": 41')
    page.locator("#retry-reason").fill("x is set now")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#instance-status")).to_have_text("running")
    shot(page, "incident-retried")
    instance = page.request.get(f"{API}/process-instances/{started['id']}", headers=admin).json()
    assert instance["status"] == "running" and instance["data"]["y"] == 42
    assert [action["kind"] for action in instance["actions"]] == ["data_fix", "retry"]


def test_a_designer_previews_the_duties_then_runs_a_migration(new_page):
    page: Page = new_page()
    designer = token(page.request, "chen.design")
    deploy(page.request, designer, "inspection.bpmn", inspection(1))
    inspector = token(page.request, "li.qa")
    ids = [start(page.request, inspector, "inspection", f"LOT-{n}")["id"] for n in range(3)]
    deploy(page.request, designer, "inspection.bpmn", inspection(2))

    sign_in(page, "chen.design")
    page.goto("/designer")
    page.locator("section.card", has=page.locator("#proc-inspection")).get_by_role(
        "link", name="Migrate running instances").click()
    expect(page.locator("#migrate-from")).to_have_value("1")
    expect(page.locator("#migrate-to")).to_have_value("2")
    page.get_by_role("button", name="Preview the migration").click()

    approve = page.locator('#duty-diff tr[data-element="approve"]')
    expect(approve).to_contain_text("qa")
    expect(approve.locator("td").nth(3)).to_have_text("warehouse")
    expect(page.locator('#duty-diff tr[data-element="inspect"]')).to_contain_text(
        "new fields: inspection_no")
    expect(page.locator("#plan-summary")).to_have_text(
        "3 of 3 instances can be migrated; 0 left out.")
    row = page.locator(f'#instance-plan tr[data-instance="{ids[0]}"]')
    expect(row).to_contain_text("inspect → inspect")
    expect(row).to_contain_text("timer remind planned again")
    shot(page, "migration-preview")

    page.locator("#migrate-reason").fill("inspection numbers are required now")
    page.get_by_role("button", name="Migrate 3 instances").click()
    expect(page).to_have_url(re.compile(r"/designer/migrations/\d+$"))
    expect(page.locator("#migration-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#migration-counts")).to_contain_text("3 migrated")
    shot(page, "migration-done")
    instance = page.request.get(f"{API}/process-instances/{ids[0]}", headers=designer)
    assert instance.status == 404  # the designer sees no instance he has no duty in
    admin = token(page.request, "admin")
    migrated = page.request.get(f"{API}/process-instances/{ids[0]}", headers=admin).json()
    assert migrated["version"] == 2 and migrated["actions"][0]["kind"] == "migrated"
