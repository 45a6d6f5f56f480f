"""JUEL and FEEL gateway conditions end to end: deployed over the REST API, instances run
through both branches in the sandbox workers, on SQLite and PostgreSQL."""
from __future__ import annotations

import io
from xml.sax.saxutils import escape

import pytest

from services.settings import Settings
from tests.engine.bpmn_builder import HEADER, flow, process, user_task
from tests.services.helpers import import_demo_org
from web.app import create_app

REVIEW_FORM = ('<camunda:formField id="amount" label="Amount" type="long"/>'
               '<camunda:formField id="urgent" label="Urgent" type="boolean"/>')


def approval_diagram(key: str, to_manager: str, to_clerk: str, header: str = HEADER,
                     form: str = REVIEW_FORM) -> bytes:
    """start -> review (amount, urgent) -> gateway -> manager | clerk -> end, lane QA."""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("review", form),
        '<bpmn:exclusiveGateway id="route"/>', user_task("manager"), user_task("clerk"),
        '<bpmn:endEvent id="end"/>', flow("start", "review"), flow("review", "route"),
        flow("route", "manager", escape(to_manager), "to_manager"),
        flow("route", "clerk", escape(to_clerk), "to_clerk"),
        flow("manager", "end"), flow("clerk", "end")])
    source = process(body, {"QA": ["start", "review", "route", "manager", "clerk", "end"]},
                     process_id=key)
    return source.replace(HEADER.encode(), header.encode())


JUEL = approval_diagram("juel_approval", "${amount gt 1000 || urgent}",
                        "#{amount <= 1000 && !urgent}")
FEEL = approval_diagram(
    "feel_approval", "amount > 1000 or urgent", "=amount in [0..1000] and not(urgent)",
    header=HEADER.replace('id="defs"',
                          'id="defs" expressionLanguage="http://www.omg.org/spec/FEEL/20140401"'))

FEEL_ZH = approval_diagram(
    "feel_zh", "=金额 > 1000 or 加急", "=金额 <= 1000 and not(加急)",
    form=REVIEW_FORM.replace('id="amount"', 'id="金额"').replace('id="urgent"', 'id="加急"'))


@pytest.fixture
def client(store):
    import_demo_org(store)
    return create_app(Settings(store.database_url), store=store).test_client()


def sign_in(client, username: str) -> dict:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert answer.status_code == 200, answer.json
    return {"Authorization": f"Bearer {answer.json['token']}"}


def upload(client, name: str, source: bytes):
    return client.post("/api/v1/process-definitions", headers=sign_in(client, "chen.design"),
                       data={"file": (io.BytesIO(source), name)},
                       content_type="multipart/form-data")


def run_to_route(client, key: str, data: dict) -> list[str]:
    """Start an instance, complete `review` with `data`; the element ids then ready."""
    qa = sign_in(client, "li.qa")
    started = client.post("/api/v1/process-instances", headers=qa, json={"process_key": key})
    assert started.status_code == 201, started.json
    [review] = started.json["tasks"]
    done = client.post(f"/api/v1/tasks/{review['id']}/complete", headers=qa, json={"data": data})
    assert done.status_code == 200, done.json
    assert done.json["status"] == "running", done.json
    return [task["element_id"] for task in done.json["tasks"]]


@pytest.mark.parametrize("name, source, key, fields", [
    ("juel.bpmn", JUEL, "juel_approval", ("amount", "urgent")),
    ("feel.bpmn", FEEL, "feel_approval", ("amount", "urgent")),
    ("审批.bpmn", FEEL_ZH, "feel_zh", ("金额", "加急")),
], ids=["juel", "feel", "feel-chinese-names"])
def test_a_deployed_diagram_routes_by_its_juel_or_feel_conditions(client, name, source, key,
                                                                  fields):
    amount, urgent = fields
    assert upload(client, name, source).status_code == 201
    assert run_to_route(client, key, {amount: 5000, urgent: False}) == ["manager"]
    assert run_to_route(client, key, {amount: 20, urgent: True}) == ["manager"]
    assert run_to_route(client, key, {amount: 20, urgent: False}) == ["clerk"]


def test_the_stored_diagram_is_the_one_the_designer_wrote(client):
    assert upload(client, "feel.bpmn", FEEL).status_code == 201
    xml = client.get("/api/v1/process-definitions/feel_approval/versions/1/bpmn",
                     headers=sign_in(client, "li.qa"))
    assert xml.status_code == 200 and xml.data == FEEL


@pytest.mark.parametrize("to_manager, column, message", [
    ("=amount > 1000 or", 18, "unexpected end of expression"),
    ("${amount gt 1000 || }", 21, "unexpected end of expression"),
    ("=upper case(amount, 2) = 1", 2, "function 'upper case' takes 1 argument, not 2"),
])
def test_a_bad_condition_is_refused_with_file_line_element_and_column(client, to_manager,
                                                                      column, message):
    source = approval_diagram("broken", to_manager, "=true")
    refused = upload(client, "broken.bpmn", source)
    assert refused.status_code == 422
    assert refused.content_type == "application/problem+json"
    [error] = refused.json["errors"]
    line = source[:source.index(escape(to_manager).encode())].count(b"\n") + 1
    assert (error["file"], error["line"], error["element_id"]) == ("broken.bpmn", line,
                                                                   "to_manager")
    assert f"line 1, column {column}: {message}" in error["message"]
