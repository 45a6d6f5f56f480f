"""Deploying a diagram with the DMN files of its decisions: several `file` parts of the REST
API, several files on the designer page and the command line, and the modeler's "deploy as
new version", which keeps the decisions of the version it edits. SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json

from tests.conftest import BPMN_DIR
from tests.services.test_decisions import FILES, ROUTED
from tests.web.sign_in_helpers import csrf_of, page_sign_in
from tests.web.test_api import client, sign_in  # noqa: F401  (fixture)
from tests.web.test_cli import run  # noqa: F401  (fixture)


def upload(client, headers, files):  # noqa: F811
    return client.post("/api/v1/process-definitions", headers=headers,
                       content_type="multipart/form-data",
                       data={"file": [(io.BytesIO(source), name) for name, source in files]})


def test_the_api_deploys_a_diagram_with_its_decisions_as_one_deployment(client):  # noqa: F811
    designer = sign_in(client, "chen.design")
    created = upload(client, designer, FILES)
    assert created.status_code == 201, created.json
    assert (created.json["key"], created.json["version"]) == ("decided", 1)
    assert created.json["decisions"] == [{"id": "approval", "name": "approval",
                                          "file": "approval.dmn"}]
    assert upload(client, designer, FILES).status_code == 200  # unchanged
    started = client.post("/api/v1/process-instances", headers=sign_in(client, "li.qa"),
                          json={"process_key": "decided", "data": {"amount": 5000}})
    assert started.status_code == 201, started.json
    assert started.json["data"]["approver"] == "director"


def test_the_api_warns_of_a_missing_decision_precisely_and_checks_who_asks(client):  # noqa: F811
    warned = upload(client, sign_in(client, "chen.design"), FILES[:1])
    assert warned.status_code == 201
    [warning] = warned.json["warnings"]
    assert (warning["file"], warning["element_id"]) == ("routed.bpmn", "decide")
    assert "decision 'approval' is not in the deployment" in warning["message"]
    assert upload(client, sign_in(client, "li.qa"), FILES).status_code == 403
    too_many = upload(client, sign_in(client, "chen.design"),
                      [(f"f{n}.bpmn", ROUTED) for n in range(21)])
    assert too_many.status_code == 422 and "at most 20 files" in too_many.json["detail"]


def test_the_designer_page_deploys_several_files_and_the_modeler_keeps_the_decisions(client):  # noqa: F811
    page_sign_in(client, "chen.design")
    deployed = client.post("/designer/upload", content_type="multipart/form-data",
                           data={"csrf_token": csrf_of(client),
                                 "file": [(io.BytesIO(source), name) for name, source in FILES]})
    assert deployed.status_code == 302
    edited = ROUTED.replace(b'name="Decide"', b'name="Decide again"')
    again = client.post("/designer/deploy-xml", headers={"X-CSRF-Token": csrf_of(client)},
                        json={"key": "decided", "xml": edited.decode()})
    assert again.status_code == 201, again.json
    assert (again.json["key"], again.json["version"]) == ("decided", 2)


def test_the_cli_lints_and_deploys_a_diagram_with_its_dmn_file(run, tmp_path):  # noqa: F811
    run("init-db")
    run("org", "import", str(BPMN_DIR / "demo_org.yaml"))
    for name, source in FILES:
        (tmp_path / name).write_bytes(source)
    diagram, table = str(tmp_path / "routed.bpmn"), str(tmp_path / "approval.dmn")
    alone = run("lint", diagram, "--strict", check=False)
    assert alone.returncode == 1 and "decide: decision 'approval' is not in the deployment" \
        in alone.stderr + alone.stdout
    run("lint", diagram, table)
    deployed = run("deploy", diagram, table).stdout
    assert "deployed decided v1" in deployed and "decision approval" in deployed
    started = json.loads(run("start", "decided", "--data", '{"amount": 5}').stdout)
    assert started["data"]["approver"] == "team lead"
