"""Routing to persons, transfer and absences over the REST API: shapes and refusals."""
from __future__ import annotations

import pytest

from services.settings import Settings
from tests.services.helpers import import_demo_org
from tests.services.test_people_routing import deploy, routed
from tests.web.test_api import sign_in
from web.app import create_app


@pytest.fixture
def client(store):
    import_demo_org(store)
    deploy(store, routed('camunda:candidateUsers="${[manager_of(starter), \'he.qa\']}"'))
    return create_app(Settings(store.database_url), store=store).test_client()


def test_a_routed_task_over_http_from_start_to_transfer(client):
    starter, head, inspector = (sign_in(client, name) for name in ("li.qa", "wang.qa", "he.qa"))
    started = client.post("/api/v1/process-instances", headers=starter,
                          json={"process_key": "routed"})
    assert started.status_code == 201, started.json
    [task] = started.json["tasks"]
    assert (task["assignee"], task["candidate_users"]) == (None, ["wang.qa", "he.qa"])
    assert client.get("/api/v1/tasks", headers=starter).json == []
    mine = client.get("/api/v1/tasks", headers=inspector).json
    assert [row["id"] for row in mine] == [task["id"]]
    claimed = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=inspector)
    assert claimed.json["assignee"] == "he.qa"
    refused = client.post(f"/api/v1/tasks/{task['id']}/transfer", headers=head,
                          json={"username": "zhang.proc", "reason": "busy"})
    assert refused.status_code == 422 and refused.content_type == "application/problem+json"
    assert "username" in refused.json["errors"] and "zhang.proc" in refused.json["detail"]
    blank = client.post(f"/api/v1/tasks/{task['id']}/transfer", headers=head,
                        json={"username": "li.qa"})
    assert blank.status_code == 422 and "reason" in blank.json["errors"]
    moved = client.post(f"/api/v1/tasks/{task['id']}/transfer", headers=head,
                        json={"username": "li.qa", "reason": "he.qa is at the supplier's"})
    assert moved.status_code == 200 and moved.json["assignee"] == "li.qa"
    [entry] = client.get(f"/api/v1/tasks/{task['id']}/history", headers=inspector).json
    assert (entry["action"], entry["from_username"], entry["to_username"], entry["actor"]) == \
        ("transferred", "he.qa", "li.qa", "wang.qa")


def test_absence_refusals_are_specific(client):
    person = sign_in(client, "li.qa")
    put = lambda body: client.put("/api/v1/employees/li.qa/absence", headers=person, json=body)  # noqa: E731
    window = {"from": "2026-12-01T09:00:00+08:00", "to": "2026-12-03T18:00:00+08:00"}
    naive = put({"from": "2026-12-01T09:00:00", "to": window["to"], "substitute": "he.qa"})
    assert naive.status_code == 422 and "from" in naive.json["errors"]
    elsewhere = put({**window, "substitute": "zhang.proc"})
    assert elsewhere.status_code == 422 and "substitute" in elsewhere.json["errors"]
    backwards = put({"from": window["to"], "to": window["from"], "substitute": "he.qa"})
    assert backwards.status_code == 422 and "to" in backwards.json["errors"]
    stored = put({**window, "substitute": "he.qa"})
    assert stored.status_code == 200
    assert stored.json == {"username": "li.qa", "from": "2026-12-01T01:00:00Z",
                           "to": "2026-12-03T10:00:00Z", "substitute": "he.qa",
                           "set_by": "li.qa", "set_at": stored.json["set_at"]}
    assert client.put("/api/v1/employees/ghost/absence", headers=person,
                      json={**window, "substitute": "he.qa"}).status_code == 404
    assert client.delete("/api/v1/employees/li.qa/absence", headers=person).status_code == 200
    assert client.delete("/api/v1/employees/li.qa/absence", headers=person).status_code == 404
