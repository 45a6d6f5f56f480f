"""External tasks over the REST API, in Camunda 7's shape: workers fetch and lock, complete,
fail, extend locks; Java delegates deploy as external tasks with warnings. SQLite and
PostgreSQL."""
from __future__ import annotations

import datetime as dt
import io
import threading
import time

import pytest
from sqlalchemy import select

from payroll.ledger import EventKind
from services.org import org_file
from services.persistence.models import (ExternalTask, Incident, ProcessInstance, TaskEvent,
                                         Timer, utcnow)
from services.persistence.statuses import ExternalTaskStatus
from services.settings import Settings
from services.workflow import instances
from tests.conftest import BPMN_DIR
from tests.engine.bpmn_builder import flow, process, user_task
from tests.web.test_api import sign_in
from tests.web.test_cli import run  # noqa: F401  (fixture)
from web.app import create_app

ROBOT = ('  - {username: erp.bot, name: ERP, department: warehouse, position: Integration, '
         'roles: [integration], base_salary: "0.00", bonus_base: "0.00", password: "demo"}\n')


def archived_then_checked(service_task: str) -> bytes:
    """start -> the service task -> a warehouse check (a person's duty) -> end."""
    return process("\n".join([
        '<bpmn:startEvent id="start"/>', service_task, user_task("check"),
        '<bpmn:endEvent id="end"/>', flow("start", "archive"), flow("archive", "check"),
        flow("check", "end")]), {"Warehouse": ["start", "archive", "check", "end"]},
        process_id="archiving")


EXTERNAL = archived_then_checked(
    '<bpmn:serviceTask id="archive" name="Archive" camunda:type="external" '
    'camunda:topic="archive-invoice"/>')
JAVA = archived_then_checked(
    '<bpmn:serviceTask id="archive" name="Archive" '
    'camunda:class="org.example.ArchiveInvoiceService"/>')


@pytest.fixture
def api(store):
    org = (BPMN_DIR / "demo_org.yaml").read_text("utf-8") + ROBOT
    with store.writing() as uow:
        org_file.import_org(uow, org, "demo_org.yaml", "cli:tester")
    client = create_app(Settings(store.database_url), store=store).test_client()
    client.store = store
    return client


def deploy(api, source: bytes, name: str = "archiving.bpmn"):
    return api.post("/api/v1/process-definitions", headers=sign_in(api, "chen.design"),
                    content_type="multipart/form-data",
                    data={"file": (io.BytesIO(source), name)})


def start(api, business_key: str = "INV-1", data: dict | None = None) -> int:
    started = api.post("/api/v1/process-instances", headers=sign_in(api, "admin"),
                       json={"process_key": "archiving", "business_key": business_key,
                             "data": data or {"amount": 30, "creditor": "华东钢铁"}})
    assert started.status_code == 201, started.json
    return started.json["id"]


def fetch(api, worker: str, max_tasks: int = 10, lock_ms: int = 60_000, **topic):
    return api.post("/api/v1/external-tasks/fetch-and-lock", headers=sign_in(api, "erp.bot"),
                    json={"workerId": worker, "maxTasks": max_tasks, "usePriority": True,
                          "topics": [{"topicName": "archive-invoice", "lockDuration": lock_ms,
                                      **topic}]})


def post(api, task_id: str, action: str, body: dict, username: str = "erp.bot"):
    return api.post(f"/api/v1/external-tasks/{task_id}/{action}",
                    headers=sign_in(api, username), json=body)


def test_a_worker_fetches_locks_and_completes_and_the_process_runs_on(api):
    assert deploy(api, EXTERNAL).status_code == 201
    instance_id = start(api)
    [task] = fetch(api, "worker-1").json
    assert task["topicName"] == "archive-invoice" and task["activityId"] == "archive"
    assert task["processInstanceId"] == str(instance_id) and task["businessKey"] == "INV-1"
    assert task["variables"]["amount"] == {"value": 30, "type": "Integer"}
    assert task["variables"]["creditor"] == {"value": "华东钢铁", "type": "String"}
    assert fetch(api, "worker-2").json == []  # locked by worker-1

    assert post(api, task["id"], "complete", {"workerId": "worker-2"}).status_code == 409
    done = post(api, task["id"], "complete", {"workerId": "worker-1", "variables": {
        "archived": {"value": True, "type": "Boolean"},
        "receipt": {"value": '{"box": 7}', "type": "Json"}}})
    assert done.status_code == 204
    assert post(api, task["id"], "complete", {"workerId": "worker-1"}).status_code == 409

    with api.store.reading() as uow:
        instance = uow.session.get(ProcessInstance, instance_id)
        assert instance.data["archived"] is True and instance.data["receipt"] == {"box": 7}
        [event] = uow.session.scalars(select(TaskEvent)).all()
        assert (event.kind, event.completed_by, event.department_key) == (
            EventKind.EXTERNAL, "erp.bot", None)
    tasks = api.get(f"/api/v1/process-instances/{instance_id}",
                    headers=sign_in(api, "admin")).json["tasks"]
    assert [task["element_id"] for task in tasks] == ["check"]


def test_variables_can_be_narrowed_to_the_names_asked_for(api):
    deploy(api, EXTERNAL)
    start(api)
    [task] = fetch(api, "worker-1", variables=["amount", "missing"]).json
    assert task["variables"] == {"amount": {"value": 30, "type": "Integer"}}


def test_an_expired_lock_returns_the_task_to_the_pool(api):
    deploy(api, EXTERNAL)
    start(api)
    [first] = fetch(api, "worker-1", lock_ms=1).json
    time.sleep(0.05)
    [again] = fetch(api, "worker-2").json
    assert again["id"] == first["id"] and again["workerId"] == "worker-2"
    expired = post(api, first["id"], "complete", {"workerId": "worker-1"})
    assert expired.status_code == 409 and "worker-2" in expired.json["detail"]


def test_extending_a_lock_keeps_others_out(api):
    deploy(api, EXTERNAL)
    start(api)
    [task] = fetch(api, "worker-1", lock_ms=1).json
    assert post(api, task["id"], "extend-lock",
                {"workerId": "worker-1", "newDuration": 60_000}).status_code == 409  # expired
    [task] = fetch(api, "worker-1", lock_ms=60_000).json
    assert post(api, task["id"], "extend-lock",
                {"workerId": "worker-1", "newDuration": 120_000}).status_code == 204
    assert fetch(api, "worker-2").json == []


def test_a_failure_without_retries_makes_an_incident_until_retries_are_set(api):
    deploy(api, EXTERNAL)
    instance_id = start(api)
    [task] = fetch(api, "worker-1").json
    retry_later = post(api, task["id"], "failure", {"workerId": "worker-1", "retries": 2,
                                                    "errorMessage": "archive offline",
                                                    "retryTimeout": 60_000})
    assert retry_later.status_code == 204
    assert fetch(api, "worker-1").json == []  # not before the retry timeout
    with api.store.writing() as uow:
        uow.session.get(ExternalTask, task["id"]).retry_at = None
        uow.commit()
    [task] = fetch(api, "worker-1").json
    assert (task["retries"], task["errorMessage"]) == (2, "archive offline")
    assert post(api, task["id"], "failure", {"workerId": "worker-1", "retries": 0,
                                             "errorMessage": "disk full"}).status_code == 204
    assert fetch(api, "worker-1").json == []
    with api.store.reading() as uow:
        [incident] = uow.session.scalars(select(Incident)).all()
    assert (incident.process_instance_id, incident.element_id, incident.kind) == (
        instance_id, "archive", "external")
    assert "disk full" in incident.message and incident.data["amount"] == 30

    refused = api.put(f"/api/v1/external-tasks/{task['id']}/retries",
                      headers=sign_in(api, "li.qa"), json={"retries": 3})
    assert refused.status_code == 403
    assert api.put(f"/api/v1/external-tasks/{task['id']}/retries",
                   headers=sign_in(api, "admin"), json={"retries": 3}).status_code == 204
    assert [again["id"] for again in fetch(api, "worker-1").json] == [task["id"]]


def test_only_the_integration_role_works_external_tasks(api):
    deploy(api, EXTERNAL)
    start(api)
    for username in ("admin", "li.qa", "chen.design"):
        refused = api.post("/api/v1/external-tasks/fetch-and-lock",
                           headers=sign_in(api, username),
                           json={"workerId": "w", "maxTasks": 1,
                                 "topics": [{"topicName": "archive-invoice",
                                             "lockDuration": 1000}]})
        assert refused.status_code == 403
    [task] = fetch(api, "worker-1").json
    assert post(api, task["id"], "complete", {"workerId": "worker-1"},
                username="admin").status_code == 403


def test_bad_requests_are_422_with_the_field(api):
    body = {"workerId": "", "maxTasks": 0, "topics": [{"topicName": "t"}]}
    answer = api.post("/api/v1/external-tasks/fetch-and-lock", headers=sign_in(api, "erp.bot"),
                      json=body)
    assert answer.status_code == 422
    assert {"workerId", "maxTasks", "topics"} <= set(answer.json["errors"])
    deploy(api, EXTERNAL)
    start(api)
    [task] = fetch(api, "worker-1").json
    bad = post(api, task["id"], "complete", {"workerId": "worker-1",
                                             "variables": {"__class__": {"value": 1}}})
    assert bad.status_code == 422
    not_json = post(api, task["id"], "complete", {"workerId": "worker-1", "variables": {
        "receipt": {"value": "{", "type": "Json"}}})
    assert not_json.status_code == 422 and "variables.receipt" in not_json.json["errors"]
    assert post(api, "no-such-task", "complete", {"workerId": "w"}).status_code == 404


def test_a_java_delegate_deploys_as_an_external_task_with_a_warning(api):
    deployed = deploy(api, JAVA)
    assert deployed.status_code == 201
    [warning] = deployed.json["warnings"]
    assert warning["element_id"] == "archive" and warning["line"] is not None
    assert "org.example.ArchiveInvoiceService" in warning["message"]
    start(api)
    answer = api.post("/api/v1/external-tasks/fetch-and-lock", headers=sign_in(api, "erp.bot"),
                      json={"workerId": "w", "maxTasks": 5, "topics": [
                          {"topicName": "org.example.ArchiveInvoiceService",
                           "lockDuration": 1000}]})
    assert [task["activityId"] for task in answer.json] == ["archive"]
    assert "warnings" not in deploy(api, EXTERNAL, "plain.bpmn").json


def test_two_workers_fetching_at_once_never_lock_the_same_task(api):
    deploy(api, EXTERNAL)
    for number in range(12):
        start(api, f"INV-{number}")
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        barrier.wait()
        got[name] = [task["id"] for task in fetch(api, name, max_tasks=12).json]

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(got["w1"]) & set(got["w2"])
    assert len(got["w1"]) + len(got["w2"]) == 12


def test_a_task_the_process_moves_past_is_cancelled_and_no_longer_fetched(api):
    """An interrupting timer on the service task: when it fires, the worker's task goes."""
    deploy(api, process("\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:serviceTask id="archive" camunda:type="external" camunda:topic="archive-invoice"/>',
        '<bpmn:boundaryEvent id="too_late" attachedToRef="archive"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>'
        '</bpmn:boundaryEvent>', user_task("chase"), '<bpmn:endEvent id="end"/>',
        '<bpmn:endEvent id="done"/>', flow("start", "archive"), flow("archive", "done"),
        flow("too_late", "chase"), flow("chase", "end")]),
        {"Warehouse": ["start", "archive", "too_late", "chase", "end", "done"]},
        process_id="archiving"))
    instance_id = start(api)
    [task] = fetch(api, "worker-1").json
    with api.store.reading() as uow:
        [timer_id] = uow.session.scalars(select(Timer.id)).all()
    with api.store.writing() as uow:
        assert instances.fire_timer(uow, timer_id, now=utcnow() + dt.timedelta(hours=2))
    with api.store.reading() as uow:
        assert uow.session.get(ExternalTask, task["id"]).status == ExternalTaskStatus.CANCELLED
    assert post(api, task["id"], "complete", {"workerId": "worker-1"}).status_code == 409
    assert fetch(api, "worker-2").json == []
    tasks = api.get(f"/api/v1/process-instances/{instance_id}",
                    headers=sign_in(api, "admin")).json["tasks"]
    assert [task["element_id"] for task in tasks] == ["chase"]


def test_lint_strict_turns_the_warnings_into_errors(run, tmp_path):  # noqa: F811
    run("init-db")
    run("org", "import", str(BPMN_DIR / "demo_org.yaml"))
    file = tmp_path / "java.bpmn"
    file.write_bytes(JAVA)
    run("lint", str(file))
    strict = run("lint", "--strict", str(file), check=False)
    assert strict.returncode == 1 and "archive: Java class 'org.example" in strict.stderr
    assert "warning: " in run("deploy", str(file)).stderr


def test_a_suspended_instance_gives_out_no_work_and_a_cancelled_one_cancels_it(api):
    deploy(api, EXTERNAL)
    instance_id = start(api)
    admin = sign_in(api, "admin")
    reason = {"reason": "audit"}
    assert api.post(f"/api/v1/process-instances/{instance_id}/suspend", headers=admin,
                    json=reason).status_code == 200
    assert fetch(api, "worker-1").json == []
    api.post(f"/api/v1/process-instances/{instance_id}/resume", headers=admin, json=reason)
    [task] = fetch(api, "worker-1").json
    api.post(f"/api/v1/process-instances/{instance_id}/suspend", headers=admin, json=reason)
    suspended = post(api, task["id"], "complete", {"workerId": "worker-1"})
    assert suspended.status_code == 409 and "suspended" in suspended.json["detail"]
    api.post(f"/api/v1/process-instances/{instance_id}/resume", headers=admin, json=reason)
    assert api.post(f"/api/v1/process-instances/{instance_id}/cancel", headers=admin,
                    json=reason).status_code == 200
    with api.store.reading() as uow:
        assert uow.session.get(ExternalTask, task["id"]).status == ExternalTaskStatus.CANCELLED
    assert post(api, task["id"], "complete", {"workerId": "worker-1"}).status_code == 409
