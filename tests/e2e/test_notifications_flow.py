"""The bell in a real browser: an inspector who opted in sees a new QA task counted."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import shot, sign_in
from tests.e2e.test_staff_flow import open_task, submit


def opt_in_to_department_tasks(page: Page) -> None:
    """From the bell to the notifications page: hear of every new task of my department."""
    page.locator("#bell").click()
    page.get_by_label("Every new task of my department").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Your notification settings are saved.")


def register_a_delivery(buyer: Page) -> None:
    """Procurement's first step: QA's inspection becomes ready."""
    open_task(buyer, "Register supplier delivery")
    buyer.get_by_label("Supplier").fill("华东钢铁")
    buyer.get_by_label("Material").fill("冷轧钢板")
    buyer.get_by_label("Quantity").fill("10")
    submit(buyer)
    expect(buyer.locator(".flash")).to_contain_text("Register supplier delivery")


def test_the_bell_counts_a_new_task_and_clears_when_read(new_page):
    inspector, buyer = new_page(), new_page()
    sign_in(inspector, "he.qa")
    bell = inspector.locator("#bell")
    before = int(bell.locator("#unread-count").inner_text())  # the demo's payslip notice
    opt_in_to_department_tasks(inspector)
    sign_in(buyer, "zhang.proc")
    register_a_delivery(buyer)

    inspector.goto("/inbox")
    expect(bell.locator("#unread-count")).to_have_text(str(before + 1))
    expect(bell).to_have_class(re.compile("has-unread"))
    shot(inspector, "bell-unread")
    bell.click()
    expect(inspector.locator(".notifications li.unread")).to_have_count(before + 1)
    expect(inspector.get_by_role("link", name="New task: Inspect goods")).to_be_visible()
    shot(inspector, "notifications")
    inspector.get_by_role("button", name="Mark all as read").click()
    expect(bell.locator("#unread-count")).to_have_text("0")
    inspector.get_by_role("link", name="New task: Inspect goods").click()
    expect(inspector.get_by_role("heading", level=1)).to_have_text("Inspect goods")
