"""The lifecycle endpoints over HTTP: answers, problems and the instance's history."""
from __future__ import annotations

from tests.services.helpers import DELIVERY, complete, deploy, ready_task, start
from tests.web.sign_in_helpers import app, bearer  # noqa: F401 - the app fixture

REASON = {"reason": "库存盘点"}


def test_suspend_then_complete_answers_409_and_the_history_shows_who_and_why(app, store):
    deploy(store)
    instance_id = start(store)
    client = app.test_client()
    head, clerk = bearer(client, "zheng.proc"), bearer(client, "zhang.proc")
    suspended = client.post(f"/api/v1/process-instances/{instance_id}/suspend",
                            headers=head, json=REASON)
    assert suspended.status_code == 200, suspended.json
    assert suspended.json["status"] == "suspended"
    [action] = suspended.json["actions"]
    assert (action["kind"], action["actor"], action["reason"], action["status_before"],
            action["status_after"]) == ("suspend", "zheng.proc", "库存盘点", "running", "suspended")
    task = ready_task(store, instance_id, "register_delivery")
    refused = client.post(f"/api/v1/tasks/{task.id}/complete", headers=clerk,
                          json={"data": DELIVERY})
    assert refused.status_code == 409 and "is suspended" in refused.json["detail"]
    assert refused.content_type == "application/problem+json"
    listed = client.get("/api/v1/process-instances?status=suspended", headers=head).json
    assert [row["id"] for row in listed] == [instance_id]
    resumed = client.post(f"/api/v1/process-instances/{instance_id}/resume", headers=head,
                          json=REASON)
    assert resumed.json["status"] == "running"
    assert [a["kind"] for a in resumed.json["actions"]] == ["suspend", "resume"]
    complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)


def test_a_reason_is_required(app, store):
    deploy(store)
    instance_id = start(store)
    client = app.test_client()
    answer = client.post(f"/api/v1/process-instances/{instance_id}/cancel",
                         headers=bearer(client, "admin"), json={})
    assert answer.status_code == 422 and "reason" in answer.json["errors"]
    blank = client.post(f"/api/v1/process-instances/{instance_id}/cancel",
                        headers=bearer(client, "admin"), json={"reason": "  "})
    assert blank.status_code == 422 and "reason" in blank.json["errors"]
