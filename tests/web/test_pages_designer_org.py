"""Designer and organisation pages through Flask's test client, on SQLite and PostgreSQL."""
from __future__ import annotations

import html
import io
import json
import re

import pytest

from services.settings import Settings
from tests.conftest import read_bpmn
from tests.services.helpers import PASS, DELIVERY, complete, deploy, import_demo_org, start
from web.app import create_app

INBOUND = read_bpmn("inbound_materials.bpmn")
# Two problems: an unknown lane (line 157, warehouse_intake) and a bad due date (line 98).
INVALID = INBOUND.replace(b'name="Warehouse"', b'name="Nowhere"') \
                 .replace(b'camunda:dueDate="PT4H"', b'camunda:dueDate="soonish"')
CHANGED = INBOUND.replace(b'name="Warehouse intake"', b'name="Warehouse intake (v2)"')

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(store):
    import_demo_org(store)
    for name in ("inbound_materials.bpmn", "contract_approval.bpmn"):
        deploy(store, name)
    return create_app(Settings(store.database_url), store=store)


def csrf(client, path: str = "/sign-in") -> str:
    page = client.get(path)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no csrf token on {path}"
    return match.group(1)


def signed_in(app, username: str):
    """A test client signed in through the form; returns (client, fresh csrf token)."""
    client = app.test_client()
    response = client.post("/sign-in", data={"username": username, "password": "demo",
                                             "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, csrf(client, "/inbox")  # the session is renewed on sign-in


def text(response) -> str:
    return response.get_data(as_text=True)


# ---- designer ----------------------------------------------------------------------

def test_designer_lists_versions_and_uploads(app):
    client, token = signed_in(app, "chen.design")
    page = client.get("/designer")
    assert page.status_code == 200
    body = text(page)
    assert "inbound_materials" in body and "contract_approval" in body
    assert "/designer/processes/inbound_materials/1/diagram.bpmn?download=1" in body
    assert "/designer/modeler?key=inbound_materials&amp;version=1" in body
    assert 'enctype="multipart/form-data"' in body and '<label for="bpmn-file">' in body

    upload = client.post("/designer/upload", data={
        "csrf_token": token, "file": (io.BytesIO(CHANGED), "inbound_materials.bpmn")},
        content_type="multipart/form-data")
    assert upload.status_code == 302
    body = text(client.get("/designer"))
    assert "Deployed inbound_materials v2." in body
    assert 'data-key="inbound_materials" data-version="2"' in body
    assert 'data-key="inbound_materials" data-version="1"' in body  # older versions stay listed
    assert "chen.design" in body

    again = client.post("/designer/upload", data={
        "csrf_token": token, "file": (io.BytesIO(CHANGED), "inbound_materials.bpmn")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "inbound_materials v2 is unchanged" in text(again)

    xml = client.get("/designer/processes/inbound_materials/2/diagram.bpmn?download=1")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert "attachment" in xml.headers["Content-Disposition"]
    assert b"Warehouse intake (v2)" in xml.data
    view = client.get("/designer/processes/inbound_materials/2")
    assert view.status_code == 200
    assert 'data-xml-url="/designer/processes/inbound_materials/2/diagram.bpmn"' in text(view)
    assert client.get("/designer/processes/inbound_materials/9").status_code == 404


def test_invalid_upload_lists_problems_and_embeds_the_diagram(app):
    client, token = signed_in(app, "chen.design")
    response = client.post("/designer/upload", data={
        "csrf_token": token, "file": (io.BytesIO(INVALID), "broken.bpmn")},
        content_type="multipart/form-data")
    assert response.status_code == 422
    body = text(response)
    items = re.findall(r'<li data-element-id="([^"]*)" data-line="([^"]*)">(.*?)</li>', body, re.S)
    found = {(element, line) for element, line, _ in items}
    assert found == {("inspect_goods", "98"), ("warehouse_intake", "157")}
    assert "line 157" in body and "names no known department" in body
    assert 'href="#uploaded-diagram" class="problem-element" data-element-id="warehouse_intake"' in body
    problems = re.search(r"data-problems='([^']*)'", body).group(1)
    assert set(json.loads(html.unescape(problems))) == {"inspect_goods", "warehouse_intake"}
    embedded = re.search(r'<script type="application/json" id="uploaded-xml">(.*?)</script>',
                         body, re.S).group(1)
    assert json.loads(embedded) == INVALID.decode("utf-8")  # the refused file, verbatim
    assert "</bpmn:definitions>" not in embedded  # escaped: cannot close the script element
    assert "/static/modeler.js" in body
    # nothing was deployed
    assert 'data-version="2"' not in text(client.get("/designer"))


def test_upload_without_file_and_unparseable_upload(app):
    client, token = signed_in(app, "chen.design")
    missing = client.post("/designer/upload", data={"csrf_token": token},
                          content_type="multipart/form-data")
    assert missing.status_code == 422 and "Choose a .bpmn file" in text(missing)
    garbage = client.post("/designer/upload", data={
        "csrf_token": token, "file": (io.BytesIO(b"<bpmn:definitions"), "x.bpmn")},
        content_type="multipart/form-data")
    assert garbage.status_code == 422 and "malformed XML" in text(garbage)


def test_designer_pages_need_designer_or_admin(app):
    staff, token = signed_in(app, "li.qa")
    assert staff.get("/designer").status_code == 403
    assert staff.get("/designer/modeler").status_code == 403
    assert staff.get("/designer/processes/inbound_materials/1/diagram.bpmn").status_code == 403
    upload = staff.post("/designer/upload", data={
        "csrf_token": token, "file": (io.BytesIO(CHANGED), "inbound_materials.bpmn")},
        content_type="multipart/form-data")
    assert upload.status_code == 403
    assert staff.post("/designer/deploy-xml", json={"key": "x", "xml": CHANGED.decode()},
                      headers={"X-CSRF-Token": token}).status_code == 403
    assert "/designer" not in text(staff.get("/inbox"))  # not in the navigation either
    admin, _ = signed_in(app, "admin")
    assert admin.get("/designer").status_code == 200
    anonymous = app.test_client()
    assert anonymous.get("/designer").status_code == 302


def test_deploy_xml_endpoint(app):
    client, token = signed_in(app, "chen.design")
    headers = {"X-CSRF-Token": token}
    ok = client.post("/designer/deploy-xml", json={"key": "inbound_materials",
                                                   "xml": CHANGED.decode("utf-8")}, headers=headers)
    assert ok.status_code == 201
    assert ok.json["ok"] is True and ok.json["key"] == "inbound_materials"
    assert ok.json["version"] == 2 and ok.json["created"] is True
    same = client.post("/designer/deploy-xml", json={"key": "inbound_materials",
                                                     "xml": CHANGED.decode("utf-8")}, headers=headers)
    assert same.status_code == 200 and same.json["created"] is False and same.json["version"] == 2

    bad = client.post("/designer/deploy-xml", json={"key": "inbound_materials",
                                                    "xml": INVALID.decode("utf-8")}, headers=headers)
    assert bad.status_code == 422 and bad.json["ok"] is False
    assert {(e["element_id"], e["line"]) for e in bad.json["errors"]} == {
        ("inspect_goods", 98), ("warehouse_intake", 157)}
    assert all(e["file"] == "inbound_materials.bpmn" and e["message"] for e in bad.json["errors"])
    empty = client.post("/designer/deploy-xml", json={"key": "k"}, headers=headers)
    assert empty.status_code == 422 and empty.json["errors"]

    # no CSRF token, or a wrong one: refused before anything happens
    assert client.post("/designer/deploy-xml", json={"key": "inbound_materials",
                                                     "xml": INVALID.decode()}).status_code == 400
    assert client.post("/designer/deploy-xml", json={"xml": CHANGED.decode()},
                       headers={"X-CSRF-Token": "forged"}).status_code == 400
    # and nothing new was deployed by the refused requests
    listing = text(client.get("/designer"))
    assert 'data-version="2"' in listing and 'data-version="3"' not in listing


def test_modeler_page_loads_a_version_or_a_new_diagram(app, store):
    deploy(store, source=CHANGED)
    client, token = signed_in(app, "chen.design")
    page = client.get("/designer/modeler?key=inbound_materials&version=1")
    assert page.status_code == 200
    body = text(page)
    embedded = json.loads(re.search(r'<script type="application/json" id="modeler-xml">(.*?)</script>',
                                    body, re.S).group(1))
    assert embedded == INBOUND.decode("utf-8")
    assert 'id="deploy-button"' in body and 'id="deploy-result"' in body
    # Flask-WTF signs the session's token with a timestamp: it differs from page to page
    embedded_token = re.search(r'data-csrf-token="([^"]+)"', body).group(1)
    assert token.split(".")[0] == embedded_token.split(".")[0]
    assert "/vendor/bpmn-modeler.js" in body and "/vendor/bpmn-js.css" in body
    assert "/static/modeler.js" in body
    latest = text(client.get("/designer/modeler?key=inbound_materials"))
    assert "Warehouse intake (v2)" in latest and "inbound_materials v2" in latest
    new = text(client.get("/designer/modeler"))
    assert "bpmn:definitions" in new and "New diagram" in new
    assert client.get("/designer/modeler?key=nope").status_code == 404
    assert client.get("/designer/modeler?key=inbound_materials&version=7").status_code == 404
    assert client.get("/vendor/bpmn-modeler.js").status_code == 200
    assert client.get("/static/modeler.js").status_code == 200


# ---- organisation ------------------------------------------------------------------

def test_org_chart_for_a_head(app):
    client, _ = signed_in(app, "wang.qa")
    page = client.get("/org")
    assert page.status_code == 200
    body = text(page)
    assert "质量部" in body
    for name in ("王芳", "李娜", "何静"):
        assert name in body
    assert "Inspector" in body and "Head of Quality" in body
    assert "Inspect goods" in body  # a step QA owns in the deployed diagram
    assert "8000.00" not in body and "Base salary" not in body  # no pay for a manager
    assert "/org/duty-matrix" in body


def test_org_chart_for_staff_hides_other_departments(app):
    client, _ = signed_in(app, "li.qa")
    body = text(client.get("/org"))
    assert "质量部" in body and "李娜" in body and "何静" in body
    assert "Inspect goods" in body  # duties from the deployed models, without the duty matrix
    assert 'id="dept-procurement"' in body  # collaborates with QA in inbound materials
    assert "法务部" not in body and "冯涛" not in body and 'id="dept-legal"' not in body
    assert "Legal review" not in body
    assert "8000.00" not in body
    assert "/org/duty-matrix" not in body


def test_org_chart_shows_pay_to_hr(app):
    client, _ = signed_in(app, "zhao.hr")
    body = text(client.get("/org"))
    assert "法务部" in body and "Base salary" in body and "8000.00" in body


def test_duty_matrix_page(app, store):
    instance = start(store)
    complete(store, instance, "register_delivery", "zhang.proc", DELIVERY)
    complete(store, instance, "inspect_goods", "li.qa", PASS)
    head, _ = signed_in(app, "wang.qa")
    page = head.get("/org/duty-matrix")
    assert page.status_code == 200
    body = text(page)
    assert "Legend" in body and "质量部" in body and "法务部" in body
    row = re.search(r'<tr id="step-inbound_materials-inspect_goods"[^>]*>(.*?)</tr>', body, re.S).group(1)
    cells = {department: classes for classes, department
             in re.findall(r'<td class="([^"]*)" data-department="([^"]*)">', row)}
    assert "owner" in cells["qa"] and "owner" not in cells["legal"]
    assert "100%" in row
    staff, _ = signed_in(app, "li.qa")
    assert staff.get("/org/duty-matrix").status_code == 403


def test_duty_matrix_highlights_overlaps(app, store):
    shared = INBOUND.replace(b'<bpmn:userTask id="inspect_goods" name="Inspect goods"',
                             b'<bpmn:userTask id="inspect_goods" name="Inspect goods" '
                             b'camunda:candidateGroups="production"')
    deploy(store, source=shared)
    client, _ = signed_in(app, "sun.prod")
    body = text(client.get("/org/duty-matrix"))
    row = re.search(r'<tr id="step-inbound_materials-inspect_goods" class="([^"]*)"', body).group(1)
    assert "overlap" in row
    assert re.search(r'<td class="cell owner overlap" data-department="production">', body)
    assert 'id="overlap-list"' in body
    calm = re.search(r'<tr id="step-inbound_materials-register_delivery" class="([^"]*)"', body)
    assert "overlap" not in calm.group(1)


def test_nul_characters_in_page_requests_are_refused_cleanly(store):
    import_demo_org(store)
    client = create_app(Settings(store.database_url), store=store).test_client()
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/sign-in", data={"username": "li.qa", "password": "demo", "csrf_token": token})
    assert client.get("/tasks/abc%00def").status_code == 404
    assert client.get("/inbox?process=a%00b").status_code == 400


def test_the_api_ignores_a_signed_in_page_session(app):
    """A browser's session cookie never authenticates an API call: only a bearer token does."""
    client, _ = signed_in(app, "li.qa")
    assert client.get("/inbox").status_code == 200  # the cookie works for pages
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "Set-Cookie" not in response.headers
