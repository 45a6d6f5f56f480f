"""`/metrics` speaks Prometheus' format (read back with prometheus_client's own parser),
counts what this process served and reads the deployment's backlog from the database;
request ids tie a response, its problem document and its log lines together."""
from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.settings import Settings
from services.workflow import instances
from tests.services.helpers import DELIVERY, complete, deploy, import_demo_org, start
from tests.services.test_repair import scripted
from web.app import create_app
from web.request_id import JsonFormatter, RequestIdFilter

SCRAPER = {"Authorization": "Bearer scrape-secret"}


@pytest.fixture
def client(store):
    import_demo_org(store)
    deploy(store)
    deploy(store, "scripted.bpmn", scripted())
    settings = Settings(store.database_url, secret_key="test", metrics_token="scrape-secret")
    return create_app(settings, store=store).test_client()


def scrape(client) -> dict:
    """Every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def token(client, username: str) -> dict:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    return {"Authorization": f"Bearer {answer.json['token']}"}


def test_metrics_answer_only_the_scraper_token_and_admins(client):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.content_type == "application/problem+json"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers=token(client, "li.qa")).status_code == 403
    assert client.get("/metrics", headers=token(client, "admin")).status_code == 200


def test_request_latency_is_a_histogram_by_route_not_by_path(client):
    qa = token(client, "li.qa")
    client.get("/api/v1/tasks/one-id", headers=qa)
    client.get("/api/v1/tasks/another-id", headers=qa)
    client.get("/no/such/page")
    samples = scrape(client)
    by_route = (("method", "GET"), ("route", "/api/v1/tasks/<task_id>"), ("status", "404"))
    assert samples[("dutyflow_http_request_duration_seconds_count", by_route)] == 2
    assert samples[("dutyflow_http_request_duration_seconds_count",
                    (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 1
    assert not [key for key in samples if "one-id" in str(key)]


def test_completions_and_step_conflicts_served_are_counted(client, store):
    instance_id = start(store)
    proc = token(client, "zhang.proc")
    [task] = client.get(f"/api/v1/process-instances/{instance_id}", headers=proc).json["tasks"]
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=proc,
                       json={"data": DELIVERY})
    assert done.status_code == 200, done.json
    again = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=proc,
                        json={"data": DELIVERY})
    assert again.status_code == 409
    samples = scrape(client)
    assert samples[("dutyflow_task_completions_total", ())] == 1
    assert samples[("dutyflow_step_conflicts_total", ())] == 1


def test_the_database_backlog_is_read_at_each_scrape(client, store):
    before = scrape(client)
    assert before[("dutyflow_open_incidents", ())] == 0
    with store.writing() as uow:
        failing = instances.start_process(uow, "scripted", None, "li.qa").id
    assert complete(store, failing, "fill", "li.qa", {}).status == "error"
    start(store)
    after = scrape(client)
    assert after[("dutyflow_open_incidents", ())] == 1
    assert after[("dutyflow_instances", (("status", "error"),))] == 1
    assert after[("dutyflow_instances", (("status", "running"),))] == 1
    assert after[("dutyflow_open_tasks", ())] == before[("dutyflow_open_tasks", ())] + 1
    assert after[("dutyflow_timer_lag_seconds", ())] == 0
    assert ("dutyflow_outbox_pending", ()) in after and ("dutyflow_deliveries_failed", ()) in after


def test_a_request_id_is_kept_when_well_formed_and_named_in_problems(client):
    sent = client.get("/api/v1/tasks", headers={"X-Request-Id": "trace-42"})
    assert sent.headers["X-Request-Id"] == "trace-42"
    assert sent.json["request_id"] == "trace-42"
    forged = client.get("/api/v1/tasks", headers={"X-Request-Id": "a b; INFO forged"})
    assert forged.headers["X-Request-Id"] != "a b; INFO forged"
    assert len(forged.headers["X-Request-Id"]) == 32
    assert forged.json["request_id"] == forged.headers["X-Request-Id"]


def test_json_log_lines_carry_the_request_id(client):
    import json
    record = logging.LogRecord("dutyflow.access", logging.INFO, __file__, 1, "完成 %s", ("ok",),
                               None)
    client.get("/healthz", headers={"X-Request-Id": "trace-7"})
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "完成 ok" and line["level"] == "INFO"
    assert line["request_id"] == "trace-7"
