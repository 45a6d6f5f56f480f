"""The org file over the API: preview (HR, admin; nothing written), import, export, template."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from services.settings import Settings
from tests.services.helpers import DELIVERY, deploy, import_demo_org
from tests.services.test_reorganisation import MOVED, ORPHANED, contents
from tests.web.test_api import sign_in
from web.app import create_app


SIGN_INS = ("api_tokens",)  # each request notes when its token was last used


@pytest.fixture
def client(store):
    import_demo_org(store)
    deploy(store, "inbound_materials.bpmn")
    return create_app(Settings(store.database_url), store=store).test_client()


def upload(text: str | bytes, name: str = "org.yaml", **form) -> dict:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return {"data": {"file": (io.BytesIO(data), name), **form},
            "content_type": "multipart/form-data"}


def test_preview_is_for_hr_and_admins_and_writes_nothing(client, store):
    clerk, hr = sign_in(client, "zhang.proc"), sign_in(client, "zhao.hr")
    started = client.post("/api/v1/process-instances", headers=clerk,
                          json={"process_key": "inbound_materials"}).json
    client.post(f"/api/v1/tasks/{started['tasks'][0]['id']}/complete", headers=clerk,
                json={"data": DELIVERY})
    for who in ("zhang.proc", "wang.qa", "chen.design"):
        refused = client.post("/api/v1/org/preview", headers=sign_in(client, who), **upload(MOVED))
        assert refused.status_code == 403, who
        assert client.post("/api/v1/org/import", headers=sign_in(client, who),
                           **upload(MOVED)).status_code == 403
        assert client.get("/api/v1/org/export", headers=sign_in(client, who)).status_code == 403
    assert client.post("/api/v1/org/preview", **upload(MOVED)).status_code == 401
    before = contents(store, ignore=SIGN_INS)
    answer = client.post("/api/v1/org/preview", headers=hr, **upload(MOVED))
    assert answer.status_code == 200, answer.json
    assert contents(store, ignore=SIGN_INS) == before
    preview = answer.json
    step = next(step for step in preview["steps"] if step["moves"])
    assert (step["element_id"], step["before"]["department"]["name"],
            step["after"]["department"]["name"]) == ("inspect_goods", "质量部", "生产部")
    assert [task["process_instance_id"] for task in preview["moved_tasks"]] == [started["id"]]
    assert [person["username"] for person in preview["people"]] == ["li.qa"]
    orphaned = client.post("/api/v1/org/preview", headers=sign_in(client, "admin"),
                           **upload(ORPHANED)).json
    assert orphaned["refused"] and orphaned["orphans"][0]["owner"] == "质量部"
    refused = client.post("/api/v1/org/import", headers=hr, **upload(ORPHANED))
    assert refused.status_code == 422 and "would route to no department" in refused.json["errors"][0]
    broken = client.post("/api/v1/org/preview", headers=hr, **upload(b"departments: [", "org.yaml"))
    assert broken.status_code == 422 and "invalid YAML" in broken.json["detail"]
    missing = client.post("/api/v1/org/preview", headers=hr, data={},
                          content_type="multipart/form-data")
    assert missing.status_code == 422 and "file" in missing.json["errors"]
    assert contents(store, ignore=SIGN_INS) == before

    done = client.post("/api/v1/org/import", headers=hr,
                       **upload(MOVED, revision=preview["revision"]))
    assert done.status_code == 200 and done.json["moved_tasks"] == 1
    moved = preview["moved_tasks"][0]["id"]
    history = client.get(f"/api/v1/tasks/{moved}/history", headers=sign_in(client, "admin")).json
    assert [(entry["action"], entry["actor"]) for entry in history] == [("rerouted", "zhao.hr")]
    stale = client.post("/api/v1/org/import", headers=hr,
                        **upload(MOVED, revision=preview["revision"]))
    assert stale.status_code == 409


def test_export_and_template_round_trip(client):
    hr = sign_in(client, "zhao.hr")
    exported = client.get("/api/v1/org/export", headers=hr)
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="org.xlsx"' in exported.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(exported.data))
    assert ("qa", "质量部") in [row[:2] for row in book["departments"].iter_rows(values_only=True)]
    again = client.post("/api/v1/org/import", headers=hr, **upload(exported.data, "org.xlsx"))
    assert again.json == {**again.json, "created": 0, "updated": 0, "deactivated": 0,
                          "moved_tasks": 0}
    csv_file = client.get("/api/v1/org/export?format=csv", headers=hr)
    assert csv_file.mimetype == "text/csv" and "质量部" in csv_file.data.decode("utf-8-sig")
    assert client.get("/api/v1/org/export?format=pdf", headers=hr).status_code == 422
    template = client.get("/api/v1/org/template?format=xlsx", headers=hr)
    assert load_workbook(io.BytesIO(template.data)).sheetnames == ["departments", "employees"]
