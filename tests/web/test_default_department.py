"""Diagrams from other tools name no owner: a deploy may name the department that owns their
user tasks (`default_department`), through the service, the API, the CLI and the page;
without it the precise refusal stays. SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from services.errors import InvalidInput
from services.persistence.models import Task
from services.workflow import definitions
from tests.conftest import BPMN_DIR
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import import_demo_org, start
from tests.web.sign_in_helpers import csrf_of, page_sign_in
from tests.web.test_api import client, sign_in  # noqa: F401  (fixture)
from tests.web.test_cli import run  # noqa: F401  (fixture)

# As Camunda Modeler draws it: no lanes, no candidate groups, no assignee.
UNOWNED = process("\n".join(['<bpmn:startEvent id="start"/>', user_task("review"),
                             '<bpmn:endEvent id="end"/>', flow("start", "review"),
                             flow("review", "end")]), process_id="foreign")


def test_an_unowned_task_is_refused_precisely_without_a_default_department(store):
    import_demo_org(store)
    with pytest.raises(InvalidInput) as refused:
        definitions.deploy(store, UNOWNED, "foreign.bpmn", "chen.design")
    [problem] = refused.value.errors
    assert problem["element_id"] == "review" and problem["line"] is not None
    assert "no owner" in problem["message"] and "default department" in problem["message"]


def test_the_default_department_owns_and_sees_the_unowned_task(store):
    import_demo_org(store)
    [deployed] = definitions.deploy(store, UNOWNED, "foreign.bpmn", "chen.design", "qa")
    assert deployed.definition.default_department == "qa"
    instance_id = start(store, "foreign")
    with store.reading() as uow:
        task = uow.session.scalars(select(Task).where(
            Task.process_instance_id == instance_id)).one()
    assert (task.element_id, task.department_key) == ("review", "qa")


def test_a_default_department_makes_another_version_of_the_same_file(store):
    import_demo_org(store)
    [plain_owner] = definitions.deploy(store, UNOWNED, "foreign.bpmn", "chen.design", "qa")
    [again] = definitions.deploy(store, UNOWNED, "foreign.bpmn", "chen.design", "qa")
    [other] = definitions.deploy(store, UNOWNED, "foreign.bpmn", "chen.design", "warehouse")
    assert not again.created and again.definition.version == plain_owner.definition.version
    assert other.created and other.definition.version == plain_owner.definition.version + 1
    assert other.definition.checksum != plain_owner.definition.checksum


def test_an_unknown_default_department_is_refused_as_a_field(store):
    import_demo_org(store)
    with pytest.raises(InvalidInput) as refused:
        definitions.deploy(store, UNOWNED, "foreign.bpmn", "chen.design", "nowhere")
    assert set(refused.value.errors) == {"default_department"}


def test_the_api_takes_the_default_department_as_a_form_field(client):  # noqa: F811
    import_demo_org(client.application.extensions["dutyflow_store"])
    designer = sign_in(client, "chen.design")

    def upload(**form):
        return client.post("/api/v1/process-definitions", headers=designer,
                           content_type="multipart/form-data",
                           data={"file": (io.BytesIO(UNOWNED), "foreign.bpmn"), **form})

    assert upload().status_code == 422
    assert upload(default_department="nowhere").json["errors"] == {
        "default_department": ["Not the key of an active department."]}
    assert upload(default_department="x" * 65).status_code == 422
    assert upload(default_department="qa").status_code == 201


def test_the_designer_page_offers_the_departments_and_deploys_with_one(client):  # noqa: F811
    import_demo_org(client.application.extensions["dutyflow_store"])
    page_sign_in(client, "chen.design")
    page = client.get("/designer").get_data(as_text=True)
    assert 'name="default_department"' in page and "质量部 (qa)" in page
    deployed = client.post("/designer/upload", content_type="multipart/form-data",
                           data={"csrf_token": csrf_of(client), "default_department": "qa",
                                 "file": (io.BytesIO(UNOWNED), "foreign.bpmn")})
    assert deployed.status_code == 302


def test_the_cli_lints_and_deploys_with_a_default_department(run, tmp_path):  # noqa: F811
    run("init-db")
    run("org", "import", str(BPMN_DIR / "demo_org.yaml"))
    file = tmp_path / "foreign.bpmn"
    file.write_bytes(UNOWNED)
    refused = run("lint", str(file), check=False)
    assert refused.returncode == 1 and "review: user task has no owner" in refused.stderr
    run("lint", "--default-department", "qa", str(file))
    assert "deployed foreign v1" in run("deploy", "--default-department", "qa", str(file)).stdout
    started = json.loads(run("start", "foreign").stdout)
    assert started["tasks"][0]["department"] == "qa"
