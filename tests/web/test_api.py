"""The REST API through Flask's test client, on SQLite and PostgreSQL."""
from __future__ import annotations

import io

import pytest

from services.settings import Settings
from tests.conftest import read_bpmn
from tests.services.helpers import DELIVERY, FAIL, PASS, deploy, import_demo_org
from web.app import create_app


@pytest.fixture
def client(store):
    import_demo_org(store)
    for name in ("inbound_materials.bpmn", "contract_approval.bpmn"):
        deploy(store, name)
    app = create_app(Settings(store.database_url), store=store)
    return app.test_client()


def sign_in(client, username: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def test_sign_in(client):
    assert client.post("/api/v1/auth/token", json={"username": "li.qa", "password": "nope"}
                       ).status_code == 401
    bad = client.post("/api/v1/auth/token", json={"username": "li.qa"})
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    assert "password" in bad.json["errors"]
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert client.get("/api/v1/tasks", headers=sign_in(client, "li.qa")).status_code == 200


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    assert "/api/v1/tasks/{task_id}/complete" in document["paths"]


def test_inbound_process_over_http(client):
    proc, qa, wh = sign_in(client, "zhang.proc"), sign_in(client, "li.qa"), sign_in(client, "guo.wh")
    started = client.post("/api/v1/process-instances", headers=proc,
                          json={"process_key": "inbound_materials", "business_key": "PO-9"})
    assert started.status_code == 201 and started.json["status"] == "running"
    [register] = started.json["tasks"]
    assert client.get(f"/api/v1/tasks/{register['id']}", headers=qa).status_code == 404
    detail = client.get(f"/api/v1/tasks/{register['id']}", headers=proc).json
    assert [f["id"] for f in detail["form"]["fields"]] == ["supplier", "material", "quantity"]
    invalid = client.post(f"/api/v1/tasks/{register['id']}/complete", headers=proc,
                          json={"data": {"quantity": 0}})
    assert invalid.status_code == 422 and set(invalid.json["errors"]) == {"supplier", "material",
                                                                          "quantity"}
    done = client.post(f"/api/v1/tasks/{register['id']}/complete", headers=proc,
                       json={"data": DELIVERY})
    assert done.status_code == 200
    [inspect] = done.json["tasks"]
    assert inspect["lane"] == "质量部" and inspect["department"] == "qa"
    assert client.post(f"/api/v1/tasks/{register['id']}/complete", headers=proc,
                       json={"data": DELIVERY}).status_code == 409
    inbox = client.get("/api/v1/tasks", headers=qa).json
    assert [t["id"] for t in inbox] == [inspect["id"]]
    assert client.post(f"/api/v1/tasks/{inspect['id']}/complete", headers=wh,
                       json={"data": PASS}).status_code == 404  # not even visible to the warehouse
    he = sign_in(client, "he.qa")
    assert client.post(f"/api/v1/tasks/{inspect['id']}/claim", headers=qa).status_code == 200
    assert client.post(f"/api/v1/tasks/{inspect['id']}/claim", headers=he).status_code == 409
    assert client.post(f"/api/v1/tasks/{inspect['id']}/complete", headers=he,
                       json={"data": PASS}).status_code == 409
    note = client.post(f"/api/v1/tasks/{inspect['id']}/comments", headers=qa,
                       json={"text": "waiting for the sample"})
    assert note.status_code == 201
    assert client.get(f"/api/v1/tasks/{inspect['id']}/comments", headers=qa).json[0]["text"] == \
        "waiting for the sample"
    failed = client.post(f"/api/v1/tasks/{inspect['id']}/complete", headers=qa, json={"data": FAIL})
    assert failed.json["tasks"][0]["element_id"] == "return_goods"
    instance = client.get(f"/api/v1/process-instances/{started.json['id']}", headers=proc).json
    assert [h["completed_by"] for h in instance["history"]] == ["zhang.proc", "li.qa"]
    assert instance["data"]["result"] == "fail"
    assert client.get(f"/api/v1/process-instances/{started.json['id']}", headers=wh).status_code == 404


def test_assign_needs_a_supervisor(client):
    proc = sign_in(client, "zhang.proc")
    started = client.post("/api/v1/process-instances", headers=proc,
                          json={"process_key": "inbound_materials"}).json
    task_id = started["tasks"][0]["id"]
    lin = client.post(f"/api/v1/tasks/{task_id}/assign", headers=proc, json={"username": "lin.proc"})
    assert lin.status_code == 403
    head = sign_in(client, "zheng.proc")
    assert client.post(f"/api/v1/tasks/{task_id}/assign", headers=head,
                       json={"username": "li.qa"}).status_code == 422
    assigned = client.post(f"/api/v1/tasks/{task_id}/assign", headers=head,
                           json={"username": "lin.proc"})
    assert assigned.status_code == 200 and assigned.json["assignee"] == "lin.proc"


def test_deploy_over_http(client):
    designer, staff = sign_in(client, "chen.design"), sign_in(client, "li.qa")
    upload = {"file": (io.BytesIO(read_bpmn("customer_complaint.bpmn")), "customer_complaint.bpmn")}
    assert client.post("/api/v1/process-definitions", headers=staff, data=upload,
                       content_type="multipart/form-data").status_code == 403
    upload = {"file": (io.BytesIO(read_bpmn("customer_complaint.bpmn")), "customer_complaint.bpmn")}
    created = client.post("/api/v1/process-definitions", headers=designer, data=upload,
                          content_type="multipart/form-data")
    assert created.status_code == 201 and created.json["version"] == 1
    again = {"file": (io.BytesIO(read_bpmn("customer_complaint.bpmn")), "customer_complaint.bpmn")}
    assert client.post("/api/v1/process-definitions", headers=designer, data=again,
                       content_type="multipart/form-data").status_code == 200
    broken = read_bpmn("customer_complaint.bpmn").replace(b'name="Customer Service"', b'name="Nobody"')
    refused = client.post("/api/v1/process-definitions", headers=designer,
                          data={"file": (io.BytesIO(broken), "broken.bpmn")},
                          content_type="multipart/form-data")
    assert refused.status_code == 422
    error = refused.json["errors"][0]
    assert error["file"] == "broken.bpmn" and error["line"] and error["element_id"]
    xml = client.get("/api/v1/process-definitions/customer_complaint/versions/1/bpmn", headers=staff)
    assert xml.status_code == 200 and xml.data.startswith(b"<?xml")
    keys = [d["key"] for d in client.get("/api/v1/process-definitions", headers=staff).json]
    assert keys == ["contract_approval", "customer_complaint", "inbound_materials"]


@pytest.mark.parametrize("username,endpoint,status", [
    ("li.qa", "/api/v1/duty-matrix", 403),
    ("wang.qa", "/api/v1/duty-matrix", 200),
    ("li.qa", "/api/v1/tasks?scope=all", 403),
    ("admin", "/api/v1/tasks?scope=all", 200),
    ("li.qa", "/api/v1/tasks?scope=everything", 422),
    ("li.qa", "/api/v1/tasks?limit=0", 422),
    ("li.qa", "/api/v1/process-instances/999", 404),
    ("li.qa", "/api/v1/process-definitions/x/versions/1/bpmn", 404),
])
def test_access_and_bad_input(client, username, endpoint, status):
    response = client.get(endpoint, headers=sign_in(client, username))
    assert response.status_code == status
    if status >= 400:
        assert response.content_type == "application/problem+json"


def test_org_visibility(client):
    staff = client.get("/api/v1/departments", headers=sign_in(client, "li.qa")).json
    keys = {d["key"] for d in staff}
    assert {"qa", "procurement", "warehouse", "production"} <= keys and "legal" not in keys
    people = client.get("/api/v1/employees", headers=sign_in(client, "li.qa")).json
    assert people and all("base_salary" not in p for p in people)
    hr = client.get("/api/v1/employees", headers=sign_in(client, "zhao.hr")).json
    assert all(p["base_salary"] for p in hr) and len(hr) > len(people)


def test_duty_matrix_reports_overlaps(client):
    proc = sign_in(client, "zhang.proc")
    started = client.post("/api/v1/process-instances", headers=proc,
                          json={"process_key": "inbound_materials"}).json
    client.post(f"/api/v1/tasks/{started['tasks'][0]['id']}/complete", headers=proc,
                json={"data": DELIVERY})
    matrix = client.get("/api/v1/duty-matrix", headers=sign_in(client, "wang.qa")).json
    step = next(s for s in matrix["steps"] if s["element_id"] == "register_delivery")
    assert step["owners"] == ["procurement"] and step["done_by"] == {"procurement": "1.0000"}
    assert not step["overlap"]


def test_twenty_clients_race_to_claim_and_complete(client):
    import threading
    proc = sign_in(client, "zhang.proc")
    started = client.post("/api/v1/process-instances", headers=proc,
                          json={"process_key": "inbound_materials"}).json
    task_id = started["tasks"][0]["id"]
    names = ("zhang.proc", "lin.proc", "zheng.proc")
    people = {name: sign_in(client, name) for name in names}
    for action, body in (("claim", None), ("complete", {"data": DELIVERY})):
        outcomes: list[tuple[str, int]] = []

        def run(name, action=action, body=body):
            response = client.post(f"/api/v1/tasks/{task_id}/{action}", headers=people[name],
                                   json=body)
            outcomes.append((name, response.status_code))

        threads = [threading.Thread(target=run, args=(names[i % 3],)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        winners = {name for name, status in outcomes if status == 200}
        assert len(winners) == 1, outcomes  # re-claiming one's own task is idempotent
        assert all(status == 409 for name, status in outcomes if name not in winners), outcomes
        if action == "complete":
            assert [status for _, status in outcomes].count(200) == 1, outcomes


def test_cursor_pagination_walks_every_task_once(client):
    proc = sign_in(client, "zhang.proc")
    for _ in range(7):
        client.post("/api/v1/process-instances", headers=proc, json={"process_key": "inbound_materials"})
    seen, url = [], "/api/v1/tasks?limit=3&sort=created_at"
    while url:
        response = client.get(url, headers=proc)
        assert response.status_code == 200
        seen += [task["id"] for task in response.json]
        cursor = response.headers.get("X-Next-Cursor")
        url = response.headers["Link"][1:].split(">")[0] if cursor else None
    assert len(seen) == len(set(seen)) == 7
    page_two = client.get("/api/v1/tasks?limit=3&page=2&sort=created_at", headers=proc).json
    assert [task["id"] for task in page_two] == seen[3:6]
    assert client.get("/api/v1/tasks?cursor=garbage", headers=proc).status_code == 422
