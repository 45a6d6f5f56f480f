"""Staff do the inbound-materials duties across three departments in a real browser."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import shot, sign_in


def open_task(page: Page, name: str, instance: str | None = None) -> None:
    """The inbox's first task of that name, or that instance's (the demo has several)."""
    page.goto("/inbox")
    scope = page.locator(f"[data-instance-id='{instance}']") if instance else page
    scope.get_by_role("link", name=name).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def submit(page: Page) -> None:
    page.get_by_role("button", name=re.compile("^(Complete|完成)$")).click()


def test_inbound_materials_with_qa_fail_and_redelivery(new_page):
    buyer, inspector, storekeeper = new_page(), new_page(), new_page()
    sign_in(buyer, "zhang.proc")
    shot(buyer, "inbox")
    open_task(buyer, "Register supplier delivery")
    instance = buyer.locator("p.muted a").first.inner_text()
    expect(buyer.locator(".diagram[data-rendered=true]")).to_be_visible()  # bpmn-js rendered it
    shot(buyer, "task-form")
    buyer.get_by_label("Supplier").fill("华东钢铁")
    submit(buyer)  # material and quantity missing: errors shown next to the fields, input kept
    expect(buyer.locator("#e-material")).to_be_visible()
    expect(buyer.get_by_label("Supplier")).to_have_value("华东钢铁")
    shot(buyer, "task-form-errors")
    buyer.get_by_label("Material").fill("冷轧钢板")
    buyer.get_by_label("Quantity").fill("10")
    submit(buyer)
    expect(buyer.locator(".flash")).to_contain_text("Register supplier delivery")

    sign_in(inspector, "li.qa")
    open_task(inspector, "Inspect goods", instance)
    inspector.get_by_label("Inspection result").select_option("fail")
    inspector.get_by_label("Number of defects").fill("3")
    submit(inspector)

    open_task(buyer, "Return goods to supplier", instance)
    buyer.get_by_label("Return reference").fill("RMA-1")
    submit(buyer)
    open_task(buyer, "Receive redelivery", instance)
    buyer.get_by_label("Redelivery note").fill("second lot")
    submit(buyer)

    open_task(inspector, "Inspect goods", instance)
    inspector.get_by_label("Inspection result").select_option("pass")
    inspector.get_by_label("Number of defects").fill("0")
    instance_link = inspector.locator("p.muted a").first
    instance_url = instance_link.get_attribute("href")
    submit(inspector)

    sign_in(storekeeper, "guo.wh")
    open_task(storekeeper, "Warehouse intake", instance)
    storekeeper.get_by_label("Storage location").fill("A-3")
    storekeeper.get_by_label("Received quantity").fill("10")
    submit(storekeeper)

    storekeeper.goto(instance_url)
    expect(storekeeper.locator("#instance-status")).to_have_text("completed")
    expect(storekeeper.locator(".timeline li")).to_have_count(6)
    expect(storekeeper.locator(".diagram[data-rendered=true]")).to_be_visible()
    shot(storekeeper, "instance")


def test_staff_cannot_open_another_departments_task(new_page):
    buyer, inspector = new_page(), new_page()
    sign_in(buyer, "zhang.proc")
    buyer.goto("/inbox")
    href = buyer.get_by_role("link", name="Register supplier delivery").first.get_attribute("href")
    sign_in(inspector, "li.qa")
    response = inspector.goto(href)
    assert response.status == 404
    shot(inspector, "foreign-task-404")


def test_switch_to_chinese(new_page):
    page = new_page()
    sign_in(page, "li.qa")
    page.get_by_label("Language").select_option("zh")
    expect(page.get_by_role("heading", level=1)).to_have_text("待办")
    shot(page, "inbox-zh")
    chinese_browser = new_page(locale="zh-CN")
    chinese_browser.goto("/sign-in")
    expect(chinese_browser.get_by_role("heading", level=1)).to_have_text("登录")


def test_phone_layout(new_page):
    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(phone, "zhang.proc")
    shot(phone, "inbox-phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
