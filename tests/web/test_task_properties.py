"""A task's camunda:properties are shown with it on the API, as drawn."""
from __future__ import annotations

import io

from tests.engine.bpmn_builder import flow, process
from tests.web.test_api import client, sign_in  # noqa: F401  (fixture)

def one_task_with_properties(process_id: str, *properties: tuple[str, str]) -> bytes:
    """A diagram whose one user task, Check, carries these camunda:properties."""
    drawn = "".join(f'<camunda:property name="{name}" value="{value}"/>'
                    for name, value in properties)
    return process("\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:userTask id="check" name="Check"><bpmn:extensionElements><camunda:properties>'
        f'{drawn}</camunda:properties></bpmn:extensionElements></bpmn:userTask>',
        '<bpmn:endEvent id="end"/>', flow("start", "check"), flow("check", "end")]),
        {"QA": ["start", "check", "end"]}, process_id=process_id)


def the_started_task(client, diagram: bytes, process_id: str) -> dict:  # noqa: F811
    """Deploy the diagram, start it as li.qa and read its one task from the API."""
    deployed = client.post("/api/v1/process-definitions", headers=sign_in(client, "chen.design"),
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(diagram), f"{process_id}.bpmn")})
    assert deployed.status_code == 201, deployed.json
    started = client.post("/api/v1/process-instances", headers=sign_in(client, "li.qa"),
                          json={"process_key": process_id})
    [task] = started.json["tasks"]
    return client.get(f"/api/v1/tasks/{task['id']}", headers=sign_in(client, "li.qa")).json


def test_a_task_shows_its_properties_in_document_order(client):  # noqa: F811
    diagram = one_task_with_properties("with_properties", ("priority", "high"),
                                       ("checklist", "https://example.org/list"))
    shown = the_started_task(client, diagram, "with_properties")
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


def test_the_properties_dutyflow_reads_itself_are_not_shown_as_the_tasks(client):  # noqa: F811
    diagram = one_task_with_properties("with_own_settings", ("i18n:zh-CN", "检查"),
                                       ("dutyflow:remindAfter", "PT4H"), ("priority", "high"))
    shown = the_started_task(client, diagram, "with_own_settings")
    assert shown["properties"] == [{"name": "priority", "value": "high"}]
    assert shown["name"] == "Check"
