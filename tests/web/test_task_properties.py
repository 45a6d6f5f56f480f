"""A task's camunda:properties are shown with it on the API, as drawn."""
from __future__ import annotations

import io

from tests.engine.bpmn_builder import flow, process
from tests.web.test_api import client, sign_in  # noqa: F401  (fixture)

PROPERTIES = process("\n".join([
    '<bpmn:startEvent id="start"/>',
    '<bpmn:userTask id="check" name="Check"><bpmn:extensionElements><camunda:properties>'
    '<camunda:property name="priority" value="high"/>'
    '<camunda:property name="checklist" value="https://example.org/list"/>'
    '</camunda:properties></bpmn:extensionElements></bpmn:userTask>',
    '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")]),
    {"QA": ["start", "check", "end"]}, process_id="with_properties")


def test_a_task_shows_its_properties_in_document_order(client):  # noqa: F811
    deployed = client.post("/api/v1/process-definitions", headers=sign_in(client, "chen.design"),
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(PROPERTIES), "properties.bpmn")})
    assert deployed.status_code == 201, deployed.json
    started = client.post("/api/v1/process-instances", headers=sign_in(client, "li.qa"),
                          json={"process_key": "with_properties"})
    [task] = started.json["tasks"]
    shown = client.get(f"/api/v1/tasks/{task['id']}", headers=sign_in(client, "li.qa")).json
    assert shown["properties"] == [{"name": "priority", "value": "high"},
                                   {"name": "checklist", "value": "https://example.org/list"}]
    assert shown["candidate_departments"] == []


MAPPED = process("\n".join([
    '<bpmn:startEvent id="start"/>',
    '<bpmn:userTask id="check" name="Check"><bpmn:extensionElements>'
    '<camunda:formData><camunda:formField id="note" type="string"/></camunda:formData>'
    '<camunda:inputOutput>'
    '<camunda:inputParameter name="note">${"Check " + supplier}</camunda:inputParameter>'
    '<camunda:outputParameter name="checked_note">${note}</camunda:outputParameter>'
    '</camunda:inputOutput></bpmn:extensionElements></bpmn:userTask>',
    '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")]),
    {"QA": ["start", "check", "end"]}, process_id="mapped")


def test_input_parameters_are_the_task_s_variables_and_prefill_its_form(client):  # noqa: F811
    from tests.web.sign_in_helpers import page_sign_in
    deployed = client.post("/api/v1/process-definitions", headers=sign_in(client, "chen.design"),
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(MAPPED), "mapped.bpmn")})
    assert deployed.status_code == 201, deployed.json
    started = client.post("/api/v1/process-instances", headers=sign_in(client, "li.qa"),
                          json={"process_key": "mapped", "data": {"supplier": "ACME"}})
    assert started.status_code == 201, started.json
    [task] = started.json["tasks"]
    assert "note" not in started.json["data"]  # a local of the task, not process data
    shown = client.get(f"/api/v1/tasks/{task['id']}", headers=sign_in(client, "li.qa")).json
    assert shown["variables"] == {"note": "Check ACME"}
    page_sign_in(client, "li.qa")
    page = client.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert 'value="Check ACME"' in page and "task variable" in page
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=sign_in(client, "li.qa"),
                       json={"data": {"note": "Checked, fine"}})
    assert done.status_code == 200, done.json
    data = client.get(f"/api/v1/process-instances/{started.json['id']}",
                      headers=sign_in(client, "li.qa")).json["data"]
    assert data["checked_note"] == "Checked, fine" and "note" not in data


OWN_SETTINGS = process("\n".join([
    '<bpmn:startEvent id="start"/>',
    '<bpmn:userTask id="check" name="Check"><bpmn:extensionElements><camunda:properties>'
    '<camunda:property name="i18n:zh-CN" value="检查"/>'
    '<camunda:property name="dutyflow:remindAfter" value="PT4H"/>'
    '<camunda:property name="priority" value="high"/>'
    '</camunda:properties></bpmn:extensionElements></bpmn:userTask>',
    '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")]),
    {"QA": ["start", "check", "end"]}, process_id="with_own_settings")


def test_the_properties_dutyflow_reads_itself_are_not_shown_as_the_tasks(client):  # noqa: F811
    deployed = client.post("/api/v1/process-definitions", headers=sign_in(client, "chen.design"),
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(OWN_SETTINGS), "own_settings.bpmn")})
    assert deployed.status_code == 201, deployed.json
    started = client.post("/api/v1/process-instances", headers=sign_in(client, "li.qa"),
                          json={"process_key": "with_own_settings"})
    [task] = started.json["tasks"]
    shown = client.get(f"/api/v1/tasks/{task['id']}", headers=sign_in(client, "li.qa")).json
    assert shown["properties"] == [{"name": "priority", "value": "high"}]
    assert shown["name"] == "Check"
