"""Deploying cannot stall the service: huge diagrams are refused fast, validation runs
outside the write transaction, and only a few deploys validate at once."""
from __future__ import annotations

import io
import threading
import time

import pytest

from services.settings import Settings
from services.workflow import definitions
from tests.conftest import read_bpmn
from tests.engine.bpmn_builder import gateway_mesh
from tests.services.helpers import DELIVERY, deploy, import_demo_org
from web.app import create_app


@pytest.fixture
def app(store):
    import_demo_org(store)
    deploy(store, "inbound_materials.bpmn")
    return create_app(Settings(store.database_url), store=store)


def sign_in(client, username: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def upload(app, headers: dict, source: bytes, outcome: dict) -> None:
    """POST a BPMN file from its own client (one per thread); record status and time."""
    started = time.perf_counter()
    response = app.test_client().post(
        "/api/v1/process-definitions", headers=headers,
        data={"file": (io.BytesIO(source), "upload.bpmn")}, content_type="multipart/form-data")
    outcome.update(status=response.status_code, seconds=time.perf_counter() - started,
                   headers=response.headers, body=response.json)


def in_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def test_a_huge_diagram_is_refused_within_two_seconds_while_other_writes_go_on(app):
    client = app.test_client()
    designer, clerk = sign_in(client, "chen.design"), sign_in(client, "zhang.proc")
    started = client.post("/api/v1/process-instances", headers=clerk,
                          json={"process_key": "inbound_materials"})
    [register] = started.json["tasks"]
    outcome: dict = {}
    uploading = in_thread(upload, app, designer, gateway_mesh(12_000, 20_000), outcome)

    def complete():
        response = client.post(f"/api/v1/tasks/{register['id']}/complete", headers=clerk,
                               json={"data": DELIVERY})
        assert response.status_code == 200, response.json

    assert timed(complete) < 1
    assert timed(lambda: sign_in(client, "li.qa")) < 1
    uploading.join(10)
    assert outcome["status"] == 422 and outcome["seconds"] < 2
    assert [problem["message"] for problem in outcome["body"]["errors"]] == [
        "the process has 12001 flow nodes; the limit is 1000",
        "the process has 20001 sequence flows; the limit is 2000"]


def test_a_deploy_holds_no_write_transaction_while_it_validates(app, monkeypatch):
    validating, written = threading.Event(), threading.Event()
    load = definitions.load_processes

    def load_after_the_write(*args, **kwargs):
        validating.set()
        written.wait(10)  # a deploy holding the write would make this the full 10 s
        return load(*args, **kwargs)

    monkeypatch.setattr(definitions, "load_processes", load_after_the_write)
    client = app.test_client()
    designer, clerk = sign_in(client, "chen.design"), sign_in(client, "zhang.proc")
    outcome: dict = {}
    uploading = in_thread(upload, app, designer, read_bpmn("contract_approval.bpmn"), outcome)
    assert validating.wait(10)

    def start():
        response = client.post("/api/v1/process-instances", headers=clerk,
                               json={"process_key": "inbound_materials"})
        assert response.status_code == 201, response.json

    seconds = timed(start)
    written.set()
    uploading.join(10)
    assert seconds < 1
    assert outcome["status"] == 201


def test_a_deploy_beyond_the_concurrent_limit_is_told_to_retry_later(app, monkeypatch):
    inside, release = threading.Semaphore(0), threading.Event()
    load = definitions.load_processes

    def held_load(*args, **kwargs):
        inside.release()
        release.wait(10)
        return load(*args, **kwargs)

    monkeypatch.setattr(definitions, "load_processes", held_load)
    monkeypatch.setattr(definitions, "DEPLOY_WAIT_SECONDS", 0.1)
    designer = sign_in(app.test_client(), "chen.design")
    source = read_bpmn("contract_approval.bpmn")
    outcomes = [{} for _ in range(definitions.DEPLOY_SLOTS)]
    threads = [in_thread(upload, app, designer, source, outcome) for outcome in outcomes]
    for _ in threads:
        assert inside.acquire(timeout=10)
    refused: dict = {}
    upload(app, designer, source, refused)
    release.set()
    for thread in threads:
        thread.join(10)
    assert refused["status"] == 503
    assert refused["headers"]["Retry-After"] == str(definitions.DEPLOY_RETRY_AFTER_SECONDS)
    assert "retry" in refused["body"]["detail"]
    assert sorted(outcome["status"] for outcome in outcomes) == [200, 201]
