"""HR downloads the org as a spreadsheet, moves inspection to production in it, uploads it,
reads the preview (Chinese department names) and confirms."""
from __future__ import annotations

import re

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in


def waiting_inspection(api) -> int:
    """A delivery registered by procurement: its inspection waits in QA's inbox."""
    token = api.post("/api/v1/auth/token", data={"username": "zhang.proc", "password": "demo"}
                     ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    started = api.post("/api/v1/process-instances", headers=headers,
                       data={"process_key": "inbound_materials"}).json()
    done = api.post(f"/api/v1/tasks/{started['tasks'][0]['id']}/complete", headers=headers,
                    data={"data": {"supplier": "华东钢铁", "material": "steel", "quantity": 10}})
    assert done.ok, done.text()
    return next(task["id"] for task in done.json()["tasks"] if task["element_id"] == "inspect_goods")


def test_hr_previews_and_confirms_an_org_spreadsheet(new_page, tmp_path):
    page = new_page(locale="zh-CN")
    waiting = waiting_inspection(page.request)
    sign_in(page, "zhao.hr")
    page.goto("/hr#org")
    with page.expect_download() as download:
        page.locator("#org-export-xlsx").click()
    workbook = tmp_path / "org.xlsx"
    download.value.save_as(workbook)
    book = load_workbook(workbook)
    departments, employees = book["departments"], book["employees"]
    header = [cell.value for cell in departments[1]]
    for row in departments.iter_rows(min_row=2):
        cells = dict(zip(header, row))
        if cells["key"].value == "qa":
            cells["name"].value = "质检组"  # QA no longer answers to the lane 质量部 ...
        if cells["key"].value == "production":
            cells["lanes"].value = "Production, 质量部"  # ... production does
    header = [cell.value for cell in employees[1]]
    for row in employees.iter_rows(min_row=2):
        cells = dict(zip(header, row))
        if cells["username"].value == "li.qa":
            cells["department"].value = "production"
    book.save(workbook)

    page.locator("#org-file").set_input_files(str(workbook))
    page.locator("#org-preview-button").click()
    step = page.locator('tr[data-step="inbound_materials:inspect_goods"]')
    expect(step).to_contain_text("质量部")
    expect(step).to_contain_text("生产部")
    expect(page.locator('#org-people tr[data-username="li.qa"]')).to_contain_text("李娜")
    expect(page.locator("#org-people")).to_contain_text("生产部")
    expect(page.locator("#org-preview-note")).to_contain_text("尚未做任何变更")
    moving = page.locator(f'#org-tasks tr[data-task-id="{waiting}"]')
    expect(moving).to_contain_text("质量部")
    expect(moving).to_contain_text("生产部")
    shot(page, "hr-org-preview")
    moves = page.locator("#org-tasks tr[data-task-id]").count()  # the demo's open inspections
    assert moves >= 1
    page.locator("#org-confirm-button").click()
    expect(page.locator(".flash").first).to_contain_text(re.compile("已从 org.xlsx 导入组织"))
    expect(page.locator(".flash").first).to_contain_text(f"{moves} 个待办任务已转移")
    shot(page, "hr-org-imported")
    page.goto("/org")
    expect(page.locator("body")).to_contain_text("质检组")
