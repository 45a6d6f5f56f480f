"""Groovy end to end: a diagram with a groovy script task and a groovy execution listener,
deployed over the REST API and run in the sandbox workers; a script outside the subset
refused with file, line, element and column (SQLite and PostgreSQL)."""
from __future__ import annotations

import io

import pytest

from services.settings import Settings
from tests.engine.bpmn_builder import flow, process, user_task
from tests.services.helpers import import_demo_org
from web.app import create_app

REVIEW_FORM = '<camunda:formField id="amount" label="Amount" type="long"/>'
PRICING = """
def amount = execution.getVariable('amount')
def lines = []
for (i in 1..3) { lines.add([n: i, price: amount * i]) }
def total = lines.sum { it.price }
BigDecimal rate = 0.5
execution.setVariable('total', total)
execution.setVariable('discounted', (total * rate) as Integer)
execution.setVariable 'rate', rate
execution.setVariable('band', total &gt; 1000 ? 'high' : 'low')
execution.setVariable('summary', "count=${lines.size()}, first=${lines[0].price}")
println "priced ${lines.size()} lines"
"""
LISTENER = ('<bpmn:extensionElements><camunda:executionListener event="end">'
            '<camunda:script scriptFormat="groovy">'
            "execution.setVariable('checked', 'by ' + execution.getVariable('band'))"
            '</camunda:script></camunda:executionListener></bpmn:extensionElements>')


def pricing_diagram(script: str = PRICING) -> bytes:
    """start -> review (amount) -> price (groovy, with a groovy end listener) -> approve ->
    end, lane QA."""
    body = "\n".join([
        '<bpmn:startEvent id="start"/>', user_task("review", REVIEW_FORM),
        f'<bpmn:scriptTask id="price" scriptFormat="groovy">{LISTENER}'
        f'<bpmn:script>{script}</bpmn:script></bpmn:scriptTask>',
        user_task("approve"), '<bpmn:endEvent id="end"/>',
        flow("start", "review"), flow("review", "price"), flow("price", "approve"),
        flow("approve", "end")])
    return process(body, {"QA": ["start", "review", "price", "approve", "end"]},
                   process_id="groovy_pricing")


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


def test_a_groovy_script_task_and_listener_run_over_the_rest_api(client):
    assert upload(client, "pricing.bpmn", pricing_diagram()).status_code == 201
    qa = sign_in(client, "li.qa")
    started = client.post("/api/v1/process-instances", headers=qa,
                          json={"process_key": "groovy_pricing"})
    assert started.status_code == 201, started.json
    [review] = started.json["tasks"]
    done = client.post(f"/api/v1/tasks/{review['id']}/complete", headers=qa,
                       json={"data": {"amount": 200}})
    assert done.status_code == 200, done.json
    assert [task["element_id"] for task in done.json["tasks"]] == ["approve"]
    data = client.get(f"/api/v1/process-instances/{started.json['id']}", headers=qa).json["data"]
    assert data["total"] == 1200 and data["band"] == "high" and data["checked"] == "by high"
    assert data["discounted"] == 600 and data["summary"] == "count=3, first=200"
    assert data["rate"] == "0.5"  # a BigDecimal: exact, and the API gives exact numbers as text
    assert "lines" not in data and "total" in data  # script variables stay in the script


def test_groovy_outside_the_subset_is_refused_with_its_position(client):
    script = "def total = 0\ndef shell = new GroovyShell()"
    source = pricing_diagram(script)
    refused = upload(client, "broken.bpmn", source)
    assert refused.status_code == 422
    [error] = refused.json["errors"]
    line = source[:source.index(b"new GroovyShell")].count(b"\n") + 1
    assert (error["file"], error["line"], error["element_id"]) == ("broken.bpmn", line, "price")
    assert "script (groovy): line 2, column 13: 'new' is not supported" in error["message"]
