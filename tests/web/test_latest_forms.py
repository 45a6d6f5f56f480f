"""A user task naming its form by id (Camunda 8's `zeebe:formDefinition formId`) when the
form is not deployed with the diagram: the deploy warns at the element, the task shows the
latest deployed form of that id from any deployment, and with none deployed the task says
so and refuses every completion until one is. SQLite and PostgreSQL."""
from __future__ import annotations

import json

from tests.services.helpers import ready_task
from tests.web.sign_in_helpers import bearer, csrf_of, page_sign_in
from tests.web.test_camunda_forms_api import app, client, upload  # noqa: F401  (fixtures)
from tests.web.test_cli import run  # noqa: F401  (fixture)


def absence_diagram(key: str = "absence") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="t">
  <bpmn:process id="{key}" isExecutable="true" camunda:candidateStarterGroups="qa">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="request" name="Request absence" camunda:candidateGroups="qa">
      <bpmn:extensionElements>
        <zeebe:formDefinition formId="RequestAbsence"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="request"/>
    <bpmn:sequenceFlow id="f2" sourceRef="request" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def absence_form(label: str) -> bytes:
    return json.dumps({"id": "RequestAbsence", "type": "default", "components": [
        {"type": "textfield", "key": "reason", "label": label,
         "validate": {"required": True}}]}).encode()


def started_task(app, client) -> str:  # noqa: F811
    """The diagram deployed without its form and started: its task's id."""
    assert upload(client, bearer(client, "chen.design"),
                  [("absence.bpmn", absence_diagram())]).status_code == 201
    started = client.post("/api/v1/process-instances", headers=bearer(client, "li.qa"),
                          json={"process_key": "absence", "data": {}})
    assert started.status_code == 201, started.json
    return ready_task(app.extensions["dutyflow_store"], started.json["id"], "request").id


def deploy_form_elsewhere(client, key: str, label: str) -> None:  # noqa: F811
    """Another diagram deployed with a RequestAbsence form: the form's latest version."""
    created = upload(client, bearer(client, "chen.design"),
                     [(f"{key}.bpmn", absence_diagram(key)),
                      ("request-absence.form", absence_form(label))])
    assert created.status_code == 201, created.json


def test_a_diagram_naming_an_undeployed_form_id_deploys_with_a_warning_at_its_line(client):  # noqa: F811
    created = upload(client, bearer(client, "chen.design"), [("absence.bpmn", absence_diagram())])
    assert created.status_code == 201, created.json
    [warning] = created.json["warnings"]
    assert (warning["file"], warning["line"], warning["element_id"]) == \
        ("absence.bpmn", 7, "request")
    assert warning["message"].startswith("zeebe:formDefinition formId 'RequestAbsence' is not "
                                         "in the deployment: the latest deployed form")


def test_a_task_whose_form_is_deployed_nowhere_says_so_and_refuses_completion(app, client):  # noqa: F811
    task_id = started_task(app, client)
    qa = bearer(client, "li.qa")
    shown = client.get(f"/api/v1/tasks/{task_id}", headers=qa)
    assert shown.status_code == 200
    assert shown.json["form"]["undeployed_form"]["id"] == "RequestAbsence"
    refused = client.post(f"/api/v1/tasks/{task_id}/complete", headers=qa,
                          json={"data": {"reason": "flu"}})
    assert refused.status_code == 422
    assert "form 'RequestAbsence' is not deployed" in refused.json["errors"]["_schema"][0]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=qa).json["status"] == "ready"
    page_sign_in(client, "li.qa")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert "RequestAbsence, which is not deployed" in page.get_data(as_text=True)
    posted = client.post(f"/tasks/{task_id}", data={"csrf_token": csrf_of(client)})
    assert posted.status_code == 422
    assert "form &#39;RequestAbsence&#39; is not deployed" in posted.get_data(as_text=True)


def test_a_task_shows_and_enforces_the_latest_form_of_its_id_deployed_later(app, client):  # noqa: F811
    task_id = started_task(app, client)
    deploy_form_elsewhere(client, "absenceOld", "Reason")
    deploy_form_elsewhere(client, "absenceNew", "Why you are away")
    qa = bearer(client, "li.qa")
    form = client.get(f"/api/v1/tasks/{task_id}", headers=qa).json["form"]
    assert form["camunda_form"]["id"] == "RequestAbsence"
    assert form["camunda_form"]["schema"]["components"][0]["label"] == "Why you are away"
    refused = client.post(f"/api/v1/tasks/{task_id}/complete", headers=qa, json={"data": {}})
    assert refused.status_code == 422
    assert refused.json["errors"] == {"reason": ["Field is required."]}
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=qa,
                       json={"data": {"reason": "flu"}})
    assert done.status_code == 200, done.json


def test_lint_strict_refuses_a_form_id_the_files_lack(run, tmp_path):  # noqa: F811
    diagram = tmp_path / "absence.bpmn"
    diagram.write_bytes(absence_diagram())
    strict = run("lint", str(diagram), "--strict", check=False)
    assert strict.returncode == 1
    assert "zeebe:formDefinition formId 'RequestAbsence' is not in the deployment" in \
        strict.stderr + strict.stdout
    form = tmp_path / "request-absence.form"
    form.write_bytes(absence_form("Reason"))
    run("lint", str(diagram), str(form), "--strict")
