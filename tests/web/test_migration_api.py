"""POST /migrations (plan and run) and GET /migrations/{id} over HTTP."""
from __future__ import annotations

import time

from tests.services.helpers import complete
from tests.services.migration_diagrams import KEY, deploy_version, start_many
from tests.web.sign_in_helpers import app, bearer  # noqa: F401 - the app fixture

URL = "/api/v1/migrations"


def versions(store, *numbers):
    for number in numbers:
        deploy_version(store, number)


def wait_done(client, headers, migration_id, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = client.get(f"{URL}/{migration_id}", headers=headers)
        assert answer.status_code == 200, answer.json
        if answer.json["status"] == "completed":
            return answer.json
        time.sleep(0.1)
    raise AssertionError("the migration did not finish")


def test_a_designer_previews_then_runs_a_migration_and_follows_its_progress(app, store):
    versions(store, 1)
    ids = start_many(store, 3)
    versions(store, 2, 3)
    client = app.test_client()
    designer = bearer(client, "chen.design")
    request = {"process_key": KEY, "from_version": 1, "to_version": 3}
    plan = client.post(URL, headers=designer, json=request)
    assert plan.status_code == 200, plan.json
    assert plan.json["summary"] == {"instances": 3, "migratable": 0, "left_out": 3}
    assert plan.json["instances"][0]["left_out"] == [
        "inspect is active and the new version has no element inspect: map it to one"]
    mapped = client.post(URL, headers=designer, json={**request, "mapping": {"inspect": "check"},
                                                       "instance_ids": ids[:2]})
    assert mapped.json["summary"] == {"instances": 2, "migratable": 2, "left_out": 0}
    assert mapped.json["instances"][0]["mapped"][0] == {"element_before": "inspect",
                                                  "element_after": "check"}
    duties = {row["element_before"]: row for row in mapped.json["duties"]}
    assert duties["inspect"]["element_after"] == "check"

    started = client.post(URL, headers=designer, json={
        **request, "mapping": {"inspect": "check"}, "dry_run": False, "reason": "检查改名"})
    assert started.status_code == 202, started.json
    done = wait_done(client, designer, started.json["id"])
    assert (done["total"], done["migrated"], done["left_out"], done["percent"]) == (3, 3, 0, 100)
    assert done["reason"] == "检查改名" and done["requested_by"] == "chen.design"
    instance = client.get(f"/api/v1/process-instances/{ids[0]}",
                          headers=bearer(client, "admin")).json
    assert instance["version"] == 3
    assert [action["kind"] for action in instance["actions"]] == ["migrated"]
    assert client.post(f"{URL}/{started.json['id']}/resume",
                       headers=designer).status_code == 409
    complete(store, ids[0], "check", "li.qa", {"result": "pass"})


def test_migration_problems(app, store):
    versions(store, 1)
    start_many(store, 1)
    versions(store, 2)
    client = app.test_client()
    admin = bearer(client, "admin")
    base = {"process_key": KEY, "from_version": 1, "to_version": 2}
    staff = client.post(URL, headers=bearer(client, "li.qa"), json=base)
    assert staff.status_code == 403
    assert client.get(f"{URL}/1", headers=bearer(client, "li.qa")).status_code == 403
    assert client.post(URL, headers=admin, json={**base, "process_key": "nope"}).status_code == 404
    assert client.get(f"{URL}/999", headers=admin).status_code == 404
    unknown = client.post(URL, headers=admin, json={**base, "to_version": 9})
    assert unknown.status_code == 422 and "to_version" in unknown.json["errors"]
    same = client.post(URL, headers=admin, json={**base, "to_version": 1})
    assert same.status_code == 422 and "already" in same.json["errors"]["to_version"][0]
    mapping = client.post(URL, headers=admin, json={**base, "mapping": {"ghost": "inspect"}})
    assert mapping.status_code == 422
    assert mapping.json["errors"]["mapping"] == {"ghost": ["ghost is not an element of version 1."]}
    no_reason = client.post(URL, headers=admin, json={**base, "dry_run": False})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    extra = client.post(URL, headers=admin, json={**base, "surprise": 1})
    assert extra.status_code == 422
    assert unknown.content_type == "application/problem+json"
