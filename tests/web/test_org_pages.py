"""The org file on the HR page: download, upload, preview, confirm; HR and admins only."""
from __future__ import annotations

import io
import re
from html import unescape

import pytest
from openpyxl import load_workbook

from services.settings import Settings
from tests.services.helpers import DELIVERY, complete, deploy, import_demo_org, ready_task, start
from tests.services.test_reorganisation import MOVED, ORPHANED, contents
from tests.web.sign_in_helpers import csrf_of, page_sign_in
from web.app import create_app

HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


@pytest.fixture
def client(store):
    import_demo_org(store)
    deploy(store)
    app = create_app(Settings(store.database_url, secret_key="test"), store=store)
    return app.test_client()


def upload(client, text: str, name: str = "org.yaml", **kwargs):
    return client.post("/hr/org/preview", content_type="multipart/form-data", **kwargs, data={
        "csrf_token": csrf_of(client, "/hr"), "file": (io.BytesIO(text.encode("utf-8")), name)})


def test_hr_previews_then_confirms_an_org_file(client, store):
    instance_id = start(store)
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    page_sign_in(client, "zhao.hr")
    assert 'id="org-preview-button"' in client.get("/hr").text
    before = contents(store)
    preview = upload(client, MOVED)
    assert preview.status_code == 200
    html = unescape(preview.text)
    assert contents(store) == before
    assert 'data-step="inbound_materials:inspect_goods"' in html and "生产部" in html
    assert "李娜" in html and 'data-username="li.qa"' in html
    form = dict(HIDDEN.findall(preview.text))
    done = client.post("/hr/org/import", data=form, follow_redirects=True)
    assert "1 open task(s) moved" in unescape(done.text)
    assert ready_task(store, instance_id, "inspect_goods").department_key == "production"
    again = client.post("/hr/org/import", data=form, follow_redirects=True)  # a stale preview
    assert "preview the file again" in unescape(again.text)


def test_a_refused_or_broken_file_is_shown_and_changes_nothing(client, store):
    page_sign_in(client, "admin")
    refused = unescape(upload(client, ORPHANED).text)
    assert "route to no department" in refused and "质量部" in refused
    assert 'id="org-confirm-button"' not in refused
    broken = upload(client, "employees: [{username: x}]\n")
    assert broken.status_code == 422 and "org.yaml:1: employees[0].name: required" in unescape(broken.text)
    exported = client.get("/hr/org/export?format=xlsx")
    assert load_workbook(io.BytesIO(exported.data)).sheetnames == ["departments", "employees"]


def test_staff_may_not_use_the_org_file_pages(client):
    page_sign_in(client, "li.qa")
    assert client.get("/hr/org/export").status_code == 403
    assert client.get("/hr/org/template").status_code == 403
    assert upload(client, MOVED).status_code == 403


def test_a_chinese_preview_names_the_steps_and_departments_not_their_keys(client):
    """QA's inspection moves to production; another file gives customer service a new key,
    so the department known by the old one is deactivated."""
    page_sign_in(client, "zhao.hr")
    chinese = {"Accept-Language": "zh"}
    moved = unescape(upload(client, MOVED, headers=chinese).text)
    step = moved.split('data-step="inbound_materials:inspect_goods"')[1].split("</tr>")[0]
    assert "<td>检验来货 <span" in step and "Inspect goods" not in step
    dropped = MOVED.replace("customer_service", "service_desk")  # a new key: the old one goes
    counts = unescape(upload(client, dropped, headers=chinese).text)
    assert "停用的部门: 客服部" in counts and "停用的部门: customer_service" not in counts
