"""Camunda Forms over HTTP: Camunda's quickstart diagram deploys with its two `.form` files
through the REST API, its task shows the schema, and completions through the API and the
task page are checked by the server's reading of the form; a file picker carries a photo
as an attachment. SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from services.persistence.models import Attachment, ProcessInstance, Task, TaskEvent
from services.settings import Settings
from services.workflow import definitions
from tests.conftest import BPMN_DIR
from tests.services.helpers import import_demo_org, ready_task
from tests.web import test_cli
from tests.web.sign_in_helpers import bearer, csrf_of, page_sign_in
from web.app import create_app

INTEROP = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "camunda-examples"
PREFIX = "usertask__task-camunda-forms__"
run = test_cli.run  # the `dutyflow` command-line fixture
START = {"creditor": "ACME", "amount": "1250", "invoiceNumber": "C-7"}


def quickstart_files(with_task_form: bool = True) -> list[tuple[str, bytes]]:
    """The quickstart diagram (its task assigned to a demo QA member instead of Camunda's
    `demo` user) and its forms, under the names its form keys use."""
    diagram = (INTEROP / f"{PREFIX}invoiceApproval.bpmn").read_bytes()
    diagram = diagram.replace(b'camunda:assignee="demo"', b'camunda:assignee="li.qa"')
    names = ["start-form.form"] + (["task-form.form"] if with_task_form else [])
    return [("invoiceApproval.bpmn", diagram)] + \
        [(name, (INTEROP / f"{PREFIX}{name}").read_bytes()) for name in names]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def app(store, tmp_path):
    import_demo_org(store)
    settings = Settings(store.database_url, secret_key="test", files_dir=str(tmp_path / "files"))
    return create_app(settings, store=store)


@pytest.fixture
def client(app):
    return app.test_client()


def upload(client, headers, files):
    return client.post("/api/v1/process-definitions", headers=headers,
                       content_type="multipart/form-data",
                       data={"file": [(io.BytesIO(source), name) for name, source in files]})


def started_task(app, client) -> str:
    """The quickstart deployed and started with valid start data: its task's id."""
    designer = bearer(client, "chen.design")
    assert upload(client, designer, quickstart_files()).status_code == 201
    # Nobody's department owns a lane or group of it: administrators start it.
    started = client.post("/api/v1/process-instances", headers=bearer(client, "admin"),
                          json={"process_key": "camundaFormsQuickstart", "data": START})
    assert started.status_code == 201, started.json
    return ready_task(app.extensions["dutyflow_store"], started.json["id"], "UserTask_1").id


def test_the_quickstart_deploys_with_its_forms_and_a_missing_form_is_refused_at_its_line(client):
    designer = bearer(client, "chen.design")
    refused = upload(client, designer, quickstart_files(with_task_form=False))
    assert refused.status_code == 422
    [problem] = refused.json["errors"]
    assert (problem["file"], problem["line"], problem["element_id"]) == \
        ("invoiceApproval.bpmn", 11, "UserTask_1")
    assert "task-form.form is not in the deployment" in problem["message"]
    created = upload(client, designer, quickstart_files())
    assert created.status_code == 201, created.json
    assert created.json["forms"] == [
        {"file": "start-form.form", "id": None, "elements": ["StartEvent_1"]},
        {"file": "task-form.form", "id": None, "elements": ["UserTask_1"]}]
    assert upload(client, designer, quickstart_files()).status_code == 200  # unchanged
    changed = quickstart_files()
    changed[2] = (changed[2][0], changed[2][1].replace(b'"Approved By"', b'"Approver"'))
    again = upload(client, designer, changed)
    assert (again.status_code, again.json["version"]) == (201, 2)  # a changed form: a new version
    broken = upload(client, designer, quickstart_files()[:2] + [("task-form.form", b'{"components": 3}')])
    assert broken.status_code == 422 and broken.json["errors"][0]["file"] == "task-form.form"


def test_the_start_form_is_enforced_on_the_api(app, client):
    designer = bearer(client, "chen.design")
    assert upload(client, designer, quickstart_files()).status_code == 201
    refused = client.post("/api/v1/process-instances", headers=bearer(client, "admin"),
                          json={"process_key": "camundaFormsQuickstart",
                                "data": {**START, "amount": "12 EUR", "invoiceNumber": "7"}})
    assert refused.status_code == 422
    assert refused.json["errors"] == {"amount": ["Field must match pattern ^[0-9]+$."],
                                      "invoiceNumber": ["Field must match pattern ^C-[0-9]+$."]}


def test_the_task_shows_its_schema_and_refuses_invalid_data_storing_nothing(app, client):
    task_id = started_task(app, client)
    qa = bearer(client, "li.qa")
    shown = client.get(f"/api/v1/tasks/{task_id}", headers=qa)
    assert shown.status_code == 200
    camunda_form = shown.json["form"]["camunda_form"]
    assert camunda_form["file"] == "task-form.form"
    assert [c["key"] for c in camunda_form["schema"]["components"]] == \
        ["creditor", "amount", "invoiceNumber", "approved", "approvedBy"]
    refused = client.post(f"/api/v1/tasks/{task_id}/complete", headers=qa,
                          json={"data": {"creditor": "ACME", "amount": "1250", "approved": "",
                                         "approvedBy": "li.qa", "mood": "happy"}})
    assert refused.status_code == 422
    assert refused.json["errors"] == {"approved": ["Field is required."],
                                      "mood": ["Not a field of this form."]}
    store = app.extensions["dutyflow_store"]
    with store.reading() as uow:
        assert uow.session.get(Task, task_id).status == "ready"
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=qa,
                       json={"data": {"creditor": "ACME", "amount": "1250", "invoiceNumber": "C-7",
                                      "approved": "true", "approvedBy": "li.qa"}})
    assert done.status_code == 200, done.json
    with store.reading() as uow:
        instance = uow.session.get(ProcessInstance, uow.session.get(Task, task_id)
                                   .process_instance_id)
        assert (instance.status, instance.data["approved"]) == ("completed", "true")
        event_id = uow.session.scalars(select(TaskEvent.id).where(TaskEvent.task_id == task_id)).one()
    # A correction is checked against the same form.
    head = bearer(client, "wang.qa")
    wrong = client.post(f"/api/v1/events/{event_id}/corrections", headers=head,
                        json={"data": {"approved": "perhaps"}, "reason": "typo"})
    assert wrong.status_code == 422
    assert wrong.json["errors"] == {"approved": ["Field must match pattern (true|false)."]}
    right = client.post(f"/api/v1/events/{event_id}/corrections", headers=head,
                        json={"data": {"approved": "false"}, "reason": "the amount was wrong"})
    assert right.status_code == 201, right.json


def test_the_task_page_draws_the_form_and_posts_through_its_own_flow(app, client):
    task_id = started_task(app, client)
    page_sign_in(client, "li.qa")
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert "vendor/form-viewer.js" in page.text and "static/camunda_form.js" in page.text
    schema = json.loads(re.search(r'id="task-form-schema">(.*?)</script>', page.text, re.S)[1])
    assert schema["components"][0]["key"] == "creditor"
    prefill = json.loads(re.search(r'id="task-form-values">(.*?)</script>', page.text, re.S)[1])
    assert prefill["creditor"] == "ACME"  # the process data the start form gave
    token = csrf_of(client, f"/tasks/{task_id}")
    refused = client.post(f"/tasks/{task_id}", content_type="multipart/form-data", data={
        "csrf_token": token,
        "camunda_form_data": json.dumps({"creditor": "ACME", "amount": "x", "approved": "true"})})
    assert refused.status_code == 422
    assert 'data-field="amount"' in refused.text and "Field must match pattern" in refused.text
    assert client.post(f"/tasks/{task_id}", data={"camunda_form_data": "{}"}).status_code == 400
    done = client.post(f"/tasks/{task_id}", content_type="multipart/form-data", data={
        "csrf_token": token,
        "camunda_form_data": json.dumps({"creditor": "ACME", "amount": "99", "approved": "false"})})
    assert done.status_code == 302, done.text


PHOTO_FORM = {"id": "delivery-photo", "components": [
    {"type": "textfield", "key": "remark", "label": "Remark"},
    {"type": "filepicker", "key": "photo", "label": "Photo of the delivery note",
     "accept": "image/*", "validate": {"required": True}}]}
PHOTO_DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="photographed" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="snap" name="Photograph the note" camunda:candidateGroups="qa"
        camunda:formRef="delivery-photo" camunda:formRefBinding="deployment">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="snap"/>
    <bpmn:sequenceFlow id="f2" sourceRef="snap" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_a_file_picker_carries_a_photo_as_an_attachment_and_refuses_other_files(app, client):
    assert upload(client, bearer(client, "chen.design"),
                  [("photographed.bpmn", PHOTO_DIAGRAM),
                   ("photo.form", json.dumps(PHOTO_FORM).encode())]).status_code == 201
    qa = bearer(client, "li.qa")
    started = client.post("/api/v1/process-instances", headers=qa,
                          json={"process_key": "photographed"})
    store = app.extensions["dutyflow_store"]
    task_id = ready_task(store, started.json["id"], "snap").id

    def complete(files, data=None):
        return client.post(f"/api/v1/tasks/{task_id}/complete", headers=qa,
                           content_type="multipart/form-data",
                           data={"data": json.dumps(data or {"remark": "ok"}), **files})

    assert complete({}).json["errors"] == {"photo": ["Field is required."]}
    pdf = complete({"photo": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "note.pdf")})
    assert pdf.status_code == 422 and "not an allowed type (image/*)" in pdf.json["errors"]["photo"][0]
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Attachment)) == 0
    image = png()
    done = complete({"photo": (io.BytesIO(image), "note.png")})
    assert done.status_code == 200, done.json
    with store.reading() as uow:
        attachment = uow.session.scalars(select(Attachment)).one()
        instance = uow.session.get(ProcessInstance, started.json["id"])
    assert (attachment.field, attachment.sha256) == ("photo", hashlib.sha256(image).hexdigest())
    assert instance.data["photo"][0]["type"] == "image/png"


def test_the_cli_lints_and_deploys_a_diagram_with_its_form_files(run, tmp_path):
    run("init-db")
    run("org", "import", str(BPMN_DIR / "demo_org.yaml"))
    paths = []
    for name, source in quickstart_files():
        (tmp_path / name).write_bytes(source)
        paths.append(str(tmp_path / name))
    alone = run("lint", paths[0], paths[1], check=False)
    assert alone.returncode == 1 and "UserTask_1: form key 'camunda-forms:app:task-form.form': " \
        "task-form.form is not in the deployment" in alone.stderr
    (tmp_path / "broken.form").write_text('{"components": [{"type": "number", "key": "n", '
                                          '"validate": {"min": "=x"}}]}')
    broken = run("lint", str(tmp_path / "broken.form"), check=False)
    assert broken.returncode == 1 and "broken.form:1: n: components[0] ('n'): validate.min" \
        in broken.stderr
    run("lint", *paths)
    deployed = run("deploy", *paths).stdout
    assert "deployed camundaFormsQuickstart v1" in deployed
    assert "task-form.form shown by UserTask_1" in deployed


def test_the_modeler_deploys_a_new_version_with_the_forms_of_the_version_it_edits(app, client):
    page_sign_in(client, "chen.design")
    deployed = client.post("/designer/upload", content_type="multipart/form-data",
                           data={"csrf_token": csrf_of(client, "/designer"),
                                 "file": [(io.BytesIO(source), name)
                                          for name, source in quickstart_files()]})
    assert deployed.status_code == 302
    edited = quickstart_files()[0][1].replace(b'name="Approve Invoice"', b'name="Approve"')
    again = client.post("/designer/deploy-xml",
                        headers={"X-CSRF-Token": csrf_of(client, "/designer")}, json={"key": "camundaFormsQuickstart", "xml": edited.decode()})
    assert (again.status_code, again.json["version"]) == (201, 2), again.json
    store = app.extensions["dutyflow_store"]
    with store.reading() as uow:
        model = definitions.model_of(uow, definitions.get_version(uow, "camundaFormsQuickstart", 2))
    assert model.duties["UserTask_1"].form.file == "task-form.form"
