"""HR sets a KPI scheme, runs and finalises payroll, and downloads the CSV; a manager
opens the dashboard."""
from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in


def test_scheme_payroll_and_csv(new_page, tmp_path):
    page = new_page()
    sign_in(page, "zhao.hr")
    page.goto("/hr/schemes/procurement")
    before = page.locator("#scheme-version").inner_text()
    while page.locator("#ind-1-metric").count():  # start from one row
        page.locator(".remove-row, button:has-text('Remove indicator')").last.click()
    page.locator("#ind-0-metric").select_option("on_time_rate")
    page.locator("#ind-0-weight").fill("60")
    page.locator("#ind-0-target").fill("0.9")
    expect(page.locator("#weight-total")).to_have_text("60")
    expect(page.locator("#weight-message")).to_be_visible()
    page.locator("#add-row").click()
    page.locator("#ind-1-metric").select_option("completed_count")
    page.locator("#ind-1-weight").fill("40")
    page.locator("#ind-1-target").fill("5")
    expect(page.locator("#weight-total")).to_have_text("100")
    expect(page.locator("#weight-message")).to_be_hidden()
    shot(page, "hr-scheme-editor")
    page.locator("#save-scheme").click()
    expect(page.locator("#scheme-version")).not_to_have_text(before)

    page.goto("/hr")
    # The demo has run the last two months; three months back has no run yet.
    period = (dt.date.today().replace(day=1) - dt.timedelta(days=70)).strftime("%Y-%m")
    page.locator("#run-period").fill(period)
    page.locator("#run-payroll-button").click()
    expect(page.locator("#run-status")).to_contain_text(re.compile("draft", re.I))
    shot(page, "hr-run-draft")
    page.locator("form:has(#finalize-button) input[type=checkbox]").check()
    page.locator("#finalize-button").click()
    expect(page.locator("#run-status")).to_contain_text(re.compile("final", re.I))
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    target = tmp_path / "payroll.csv"
    download.value.save_as(target)
    text = target.read_text("utf-8-sig")
    assert text.splitlines()[0].startswith("username,") and "li.qa" in text
    shot(page, "hr-run-final")
    page.get_by_role("link", name=re.compile("li.qa|李娜")).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("li.qa|李娜"))
    shot(page, "hr-payslip")


def test_manager_dashboard(new_page):
    page = new_page()
    sign_in(page, "wang.qa")
    page.goto("/dashboard")
    expect(page.locator("canvas").first).to_be_visible()
    shot(page, "dashboard")
    page.goto("/org")
    shot(page, "org-chart")
    page.goto("/org/duty-matrix")
    shot(page, "duty-matrix")
