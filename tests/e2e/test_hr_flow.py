"""HR sets a KPI scheme, runs and finalises payroll, and downloads the CSV; a manager
opens the dashboard."""
from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect
from pypdf import PdfReader

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
    expect(page.locator("#prepared-by")).to_contain_text("zhao.hr")
    expect(page.locator("#approve-button")).to_have_count(0)  # not for the preparer
    shot(page, "hr-run-draft")
    run_url = page.url

    second = new_page()  # four eyes: another HR user approves the run
    sign_in(second, "qian.hr")
    second.goto(run_url)
    second.locator("#approve-button").click()
    expect(second.locator("#approved-by")).to_contain_text("qian.hr")
    shot(second, "hr-run-approved")

    page.reload()
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


def test_hr_previews_a_scheme_change_and_an_employee_downloads_a_payslip_pdf(new_page, tmp_path):
    """After test_scheme_payroll_and_csv (same server): this month's run is final."""
    page = new_page()
    sign_in(page, "zhao.hr")
    page.goto("/hr/schemes/qa")
    page.locator("#ind-0-target").fill("1.0")  # passed inspections: 0.9 -> 1.0
    page.locator("#preview-months").fill("2")
    page.locator("#preview-until").fill(dt.date.today().strftime("%Y-%m"))
    page.locator("#preview-scheme").click()
    expect(page.locator("#what-if")).to_be_visible()
    expect(page.locator("#what-if-people")).to_have_attribute("data-rendered", "true")
    expect(page.locator('#what-if-employees tr[data-username="li.qa"] .delta')).to_contain_text("-")
    expect(page.locator("#ind-0-target")).to_have_value("1.0")  # nothing saved, form kept
    shot(page, "hr-scheme-what-if")

    employee = new_page()
    sign_in(employee, "li.qa")
    employee.goto("/payslips")
    shot(employee, "my-payslips")
    with employee.expect_download() as download:
        employee.locator("a.payslip-pdf").first.click()
    target = tmp_path / "payslip.pdf"
    download.value.save_as(target)
    reader = PdfReader(str(target))
    text = "".join(p.extract_text(extraction_mode="layout") for p in reader.pages).replace("\x00", "")
    assert "李娜" in text and "li.qa" in text
