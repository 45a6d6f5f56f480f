"""Camunda's forms quickstart in Chromium: a designer deploys the diagram with its two `.form`
files on the designer page, the start and task pages draw them with form-js's viewer, a
required field is refused in the browser, and the approver completes the task on a phone;
a form's file picker carries a phone photo into the instance history. Screenshots at
1280 px and 390 px."""
from __future__ import annotations

import json
import re

from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in
from tests.e2e.test_attachments_and_kpi import PHONE
from tests.e2e.test_staff_flow import open_task, submit
from tests.web.test_camunda_forms_api import PHOTO_DIAGRAM, PHOTO_FORM, quickstart_files


def test_the_quickstart_forms_render_refuse_a_missing_field_and_complete(new_page, tmp_path):
    paths = []
    for name, source in quickstart_files():
        (tmp_path / name).write_bytes(source)
        paths.append(str(tmp_path / name))
    designer = new_page()
    sign_in(designer, "chen.design")
    designer.goto("/designer")
    designer.locator("#bpmn-file").set_input_files(paths)
    designer.get_by_role("button", name="Upload and deploy").click()
    expect(designer.locator(".flash")).to_contain_text("Deployed camundaFormsQuickstart v1")

    admin = new_page()
    sign_in(admin, "admin")
    admin.goto("/processes")
    section = admin.locator("section", has=admin.get_by_role("heading",
                                                             name=re.compile("Camunda Forms Quickstart")))
    expect(section.locator(".fjs-form")).to_be_visible()  # drawn by form-js
    section.get_by_role("button", name="Start").click()
    expect(section.locator(".fjs-form-field-error").first).to_contain_text("Field is required.")
    shot(admin, "camunda-start-form-required-1280")
    section.get_by_label("Creditor").fill("ACME 华东")
    section.get_by_label("Amount").fill("1250")
    section.get_by_label("Invoice Number").fill("C-77")
    section.get_by_role("button", name="Start").click()
    expect(admin.locator(".flash")).to_contain_text("Started Camunda Forms Quickstart")

    phone = new_page(**PHONE)
    sign_in(phone, "li.qa")
    open_task(phone, "Approve Invoice")
    form = phone.locator(".camunda-form")
    expect(form.get_by_label("Creditor")).to_have_value("ACME 华东")  # prefilled from process data
    task_url = phone.url
    submit(phone)
    error = form.locator(".fjs-form-field-error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("Field is required.")
    assert phone.url == task_url  # refused in the browser: nothing was sent
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "camunda-task-form-required-390")
    desktop = new_page()
    sign_in(desktop, "li.qa")
    open_task(desktop, "Approve Invoice")
    expect(desktop.locator(".camunda-form .fjs-form")).to_be_visible()
    shot(desktop, "camunda-task-form-1280")

    form.get_by_label("Approved?").fill("true")
    form.get_by_label("Approved By").fill("li.qa")
    shot(phone, "camunda-task-form-filled-390")
    submit(phone)
    expect(phone.locator(".flash")).to_contain_text("Done: Approve Invoice")
    shot(phone, "camunda-task-done-390")


def test_a_camunda_form_file_picker_carries_a_phone_photo_into_the_history(new_page, tmp_path):
    diagram, form = tmp_path / "photographed.bpmn", tmp_path / "photo.form"
    diagram.write_bytes(PHOTO_DIAGRAM)
    form.write_text(json.dumps(PHOTO_FORM))
    designer = new_page()
    sign_in(designer, "chen.design")
    designer.goto("/designer")
    designer.locator("#bpmn-file").set_input_files([str(diagram), str(form)])
    designer.get_by_role("button", name="Upload and deploy").click()
    expect(designer.locator(".flash")).to_contain_text("Deployed photographed v1")

    photo = tmp_path / "delivery-note.jpg"
    Image.new("RGB", (800, 600), (40, 160, 90)).save(photo, "JPEG", quality=85)
    phone = new_page(**PHONE)
    sign_in(phone, "li.qa")
    phone.goto("/processes")
    section = phone.locator("section",
                            has=phone.get_by_role("heading", name=re.compile("photographed")))
    section.get_by_role("button", name="Start").click()
    open_task(phone, "Photograph the note")
    picker = phone.locator(".camunda-form .fjs-form-field-filepicker")
    expect(picker).to_be_visible()
    submit(phone)  # no photo yet: form-js refuses in the browser
    expect(picker.locator(".fjs-form-field-error")).to_contain_text("Field is required.")
    expect(picker.locator("input[type=file]")).to_have_attribute("capture", "environment")
    picker.locator("input[type=file]").set_input_files(str(photo))
    expect(picker).to_contain_text("delivery-note.jpg")
    phone.locator(".camunda-form").get_by_label("Remark").fill("label torn")
    shot(phone, "camunda-file-picker-390")
    instance_url = phone.locator("p.muted a").first.get_attribute("href")
    submit(phone)
    expect(phone.locator(".flash")).to_contain_text("Done: Photograph the note")

    phone.goto(instance_url)
    thumbnail = phone.locator(".timeline img.thumb")
    expect(thumbnail).to_have_count(1)
    expect(thumbnail).to_have_attribute("alt", "delivery-note.jpg")
    original = phone.request.get(phone.locator(".timeline a.file").get_attribute("href"))
    assert original.status == 200 and original.body() == photo.read_bytes()
    shot(phone, "camunda-file-picker-history-390")
