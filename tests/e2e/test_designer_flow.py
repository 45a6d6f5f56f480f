"""A designer uploads a broken diagram, sees the error on the element, fixes it in the
modeler and deploys it as version 2."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import BPMN_DIR
from tests.e2e.conftest import shot, sign_in

ORIGINAL = (BPMN_DIR / "inbound_materials.bpmn").read_text("utf-8")
BROKEN = ORIGINAL.replace('name="Warehouse"', 'name="Nobody"')
FIXED = ORIGINAL.replace('name="Warehouse intake"', 'name="Warehouse intake and labelling"')


def test_broken_upload_then_fix_in_the_modeler(new_page, tmp_path):
    assert BROKEN != ORIGINAL and FIXED != ORIGINAL
    page = new_page()
    sign_in(page, "chen.design")
    page.goto("/designer")
    broken = tmp_path / "inbound_materials.bpmn"
    broken.write_text(BROKEN, "utf-8")
    page.set_input_files("#bpmn-file", str(broken))
    page.locator("#bpmn-file").evaluate("input => input.form.requestSubmit()")
    problems = page.locator("#upload-problems")
    expect(problems).to_contain_text("'Nobody' names no known department")
    expect(problems).to_contain_text("warehouse_intake")
    expect(page.locator("#uploaded-diagram .djs-element.problem").first).to_be_attached()
    shot(page, "designer-upload-errors")

    page.goto("/designer/modeler?key=inbound_materials")
    expect(page.locator("#modeler[data-rendered=true]")).to_be_attached()
    page.locator("#xml-panel summary").click()
    status = page.locator("#xml-status")
    expect(status).to_have_attribute("data-state", "loaded")  # else it overwrites our text
    editor = page.locator("#xml-editor")
    editor.fill(BROKEN)
    page.locator("#xml-apply").click()
    expect(status).to_have_attribute("data-state", "applied")
    page.locator("#deploy-button").click()
    result = page.locator("#deploy-result")
    expect(result).to_have_attribute("data-state", "error")
    expect(result).to_contain_text("Nobody")
    shot(page, "modeler-deploy-errors")

    editor.fill(FIXED)
    page.locator("#xml-apply").click()
    expect(status).to_have_attribute("data-state", "applied")
    page.locator("#deploy-button").click()
    expect(result).to_have_attribute("data-state", "ok")
    expect(result).to_contain_text(re.compile(r"inbound_materials v2"))
    shot(page, "modeler-deployed")
    page.goto("/designer")
    expect(page.get_by_text(re.compile(r"v2")).first).to_be_visible()
    shot(page, "designer")
