"""A QA inspector photographs the goods on a phone; the head sees the photo in the history.
A staff member's own KPI page shows what the payroll run of the month paid."""
from __future__ import annotations

import datetime as dt
import re

from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in
from tests.e2e.test_notifications_flow import register_a_delivery
from tests.e2e.test_staff_flow import open_task, submit

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


def test_a_phone_photo_completes_the_inspection_and_shows_in_the_history(new_page, tmp_path):
    buyer = new_page()
    sign_in(buyer, "zhang.proc")
    register_a_delivery(buyer)

    photo = tmp_path / "delivery-note.jpg"
    Image.new("RGB", (1200, 900), (180, 40, 40)).save(photo, "JPEG", quality=85)
    phone = new_page(**PHONE)
    sign_in(phone, "li.qa")
    open_task(phone, "Inspect goods")
    camera = phone.locator("#f-photos")
    expect(camera).to_have_attribute("accept", "image/*")
    expect(camera).to_have_attribute("capture", "environment")
    instance_url = phone.locator("p.muted a").first.get_attribute("href")
    with phone.expect_file_chooser() as chooser:
        camera.click()
    assert chooser.value.is_multiple()
    chooser.value.set_files(str(photo))
    phone.get_by_label("Inspection result").select_option("pass")
    phone.get_by_label("Number of defects").fill("0")
    shot(phone, "phone-inspection-with-photo")
    submit(phone)
    expect(phone.locator(".flash")).to_contain_text("Inspect goods")

    head = new_page()
    sign_in(head, "wang.qa")
    head.goto(instance_url)
    thumbnail = head.locator(".timeline img.thumb")
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_have_attribute("alt", "delivery-note.jpg")
    thumbnail.scroll_into_view_if_needed()
    head.wait_for_function("img => img.complete && img.naturalWidth === 320",
                           arg=thumbnail.element_handle())
    shot(head, "instance-history-thumbnail")
    # The link under the thumbnail is the photo itself, for the head as for the inspector.
    original = head.request.get(head.locator(".timeline a.file").get_attribute("href"))
    assert original.status == 200 and original.headers["content-type"] == "image/jpeg"
    assert original.body() == photo.read_bytes()
    # A storekeeper sees the instance's history only after warehouse work, and never the photo.
    outsider = new_page()
    sign_in(outsider, "guo.wh")
    assert outsider.request.get(head.locator(".timeline a.file").get_attribute("href")
                                ).status == 404


def _last_month() -> str:
    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


def test_my_kpi_page_matches_the_payroll_run(new_page):
    period = _last_month()
    hr = new_page()
    sign_in(hr, "zhao.hr")
    hr.goto("/hr")  # the demo ran last month: zhao.hr prepared it, qian.hr approved it
    hr.get_by_role("link", name=period, exact=True).click()
    expect(hr.locator("#run-status")).to_contain_text(re.compile("final", re.I))
    run_kpi = hr.locator("tr[data-username='li.qa'] td.num").nth(1).inner_text()  # KPI score

    for locale, heading in (("en-US", "My performance"), ("zh-CN", "我的绩效")):
        staff = new_page(locale=locale)
        sign_in(staff, "li.qa")
        staff.get_by_role("link", name=heading).click()
        expect(staff.get_by_role("heading", level=1)).to_contain_text(heading)
        staff.locator("#period").fill(period)
        staff.locator("form.filters button[type=submit]").click()
        expect(staff.get_by_role("heading", level=1)).to_contain_text(period)
        expect(staff.locator("#kpi-score")).to_have_text(run_kpi)
        slip_link = staff.locator("#my-payslips a", has_text=period)
        expect(slip_link).to_be_visible()
        shot(staff, f"my-kpi-{locale}")
        mine = staff.locator("#my-indicators tbody tr").all_inner_texts()
        staff.locator("#my-payslips a", has_text=period).click()
        expect(staff.locator("#kpi-score")).to_have_text(run_kpi)  # the payslip says the same
        paid = staff.locator("#payslip-indicators tbody tr").all_inner_texts()
        assert mine == paid, (mine, paid)
