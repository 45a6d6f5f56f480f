"""Every API route answers with the shape its OpenAPI document gives: each view declares a
contract (web/api/contract.py), and a scenario that calls every documented operation
checks each answer against the document, on SQLite and PostgreSQL."""
from __future__ import annotations

import hashlib
import io
import time

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from PIL import Image

from sqlalchemy import select

from services.notify.delivery import DeliveryPolicy
from services.persistence.models import Delivery
from services.persistence.statuses import TaskStatus
from services.settings import Settings
from tests.conftest import read_bpmn
from tests.notify.support import demo_org, deliver, import_org
from tests.payroll.test_payroll_runs import QA_SCHEME, at, inspect
from services.org import org_file
from tests.conftest import BPMN_DIR
from services.identity.access import actor_named
from services.workflow import migration
from tests.services.helpers import DELIVERY, deploy
from tests.services.migration_diagrams import deploy_version, start_many
from tests.web.test_external_tasks import EXTERNAL, ROBOT
from tests.services.test_correlation import PAYMENT
from tests.services.test_repair import scripted
from tests.web.test_api import sign_in
from web.api.contract import Contract
from web.api.schemas import DutyStep, Shape, Task
from web.app import create_app

PREFIX = "/api/v1"


def api_views(app):
    return {endpoint: view for endpoint, view in app.view_functions.items()
            if endpoint.startswith("api.") and endpoint != "api.openapi"}


def test_every_route_has_a_contract_dumping_through_shapes(app):
    for endpoint, view in api_views(app).items():
        contract = getattr(view, "contract", None)
        assert isinstance(contract, Contract), f"{endpoint} has no @operation"
        for status, reply in contract.responses.items():
            assert isinstance(reply, tuple) or issubclass(
                reply if isinstance(reply, type) else type(reply), Shape), (endpoint, status)


def test_a_shape_refuses_to_drop_or_convert():
    """Dumping documents and guards, it never reshapes: drift is an error, not a silent fix."""
    task = {"id": "t1", "name": "Inspect", "process_instance_id": 7, "status": TaskStatus.READY}
    assert Task().dump(task) == {**task, "status": "ready"}  # a StrEnum is its text
    with pytest.raises(TypeError, match=r"undeclared \['secret'\]"):
        Task().dump({**task, "secret": "x"})
    with pytest.raises(TypeError, match=r"converted \['id'\]"):
        Task().dump({**task, "id": 5})
    with pytest.raises(TypeError, match=r"converted \['overlap'\]"):
        DutyStep().dump({"overlap": 1})


class Recorder:
    """A test client that checks each JSON answer against the operation's documented
    response and remembers which operations answered with success."""

    def __init__(self, client):
        self.client = client
        self.document = client.get(f"{PREFIX}/openapi.json").json
        self.covered: set[tuple[str, str]] = set()
        self.headers_seen: set[str] = set()

    def call(self, method: str, template: str, headers: dict, expect: int = 200,
             **kwargs):
        path = PREFIX + template
        response = self.client.open(path.format(**kwargs.pop("values", {})), method=method,
                                    headers=headers, **kwargs)
        assert response.status_code == expect, (method, template, response.data[:500])
        documented = self.document["paths"][path][method.lower()]["responses"][str(expect)]
        content_type = response.mimetype
        if expect == 204:
            assert not response.data and not documented["content"], (method, template)
        else:
            assert content_type in documented["content"], (method, template, content_type)
        if content_type == "application/json":
            schema = {**documented["content"][content_type]["schema"],
                      "components": self.document["components"]}
            errors = [error.message for error in OAS30Validator(schema).iter_errors(response.json)]
            assert not errors, (method, template, errors[:5])
        for name, header in documented.get("headers", {}).items():
            if name in response.headers:
                errors = [error.message for error in
                          OAS30Validator(header["schema"]).iter_errors(response.headers[name])]
                assert not errors, (method, template, name, errors)
                self.headers_seen.add(name)
        self.covered.add((method.lower(), path))
        return response


@pytest.fixture
def app(store, tmp_path):
    with store.writing() as uow:
        org_file.import_org(uow, (BPMN_DIR / "demo_org.yaml").read_text("utf-8") + ROBOT,
                            "demo_org.yaml", "cli:tester")
    for name in ("inbound_materials.bpmn", "contract_approval.bpmn"):
        deploy(store, name)
    deploy(store, "archiving.bpmn", EXTERNAL)
    inspect(store, at(5, 8), at(5, 9), "pass")
    inspect(store, at(6, 8), at(6, 13), "fail")
    return create_app(Settings(store.database_url, files_dir=str(tmp_path / "files")),
                      store=store)


def _photographed(api, clerk) -> dict:
    """An inspection completed with a photo (multipart): the task and the file's digest."""
    started = api.client.post(f"{PREFIX}/process-instances", headers=clerk,
                              json={"process_key": "inbound_materials"}).json
    done = api.client.post(f"{PREFIX}/tasks/{started['tasks'][0]['id']}/complete",
                           headers=clerk, json={"data": DELIVERY}).json
    task_id = done["tasks"][0]["id"]
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(photo, "PNG")
    api.call("POST", "/tasks/{task_id}/complete", sign_in(api.client, "li.qa"),
             values={"task_id": task_id}, content_type="multipart/form-data",
             data={"data": '{"result": "pass", "defects": 0}',
                   "photos": (io.BytesIO(photo.getvalue()), "dock.png")})
    return {"task_id": task_id, "sha256": hashlib.sha256(photo.getvalue()).hexdigest()}


def _failed_delivery(store, clerk, client) -> str:
    """A QA webhook nobody answers, a task for QA, one attempt: a failed delivery."""
    org = yaml.safe_load(demo_org({"webhook": "http://127.0.0.1:9/", "secret": "s"}))
    org["employees"] += yaml.safe_load(ROBOT)  # the integration account stays active
    import_org(store, yaml.safe_dump(org, allow_unicode=True))
    started = client.post(f"{PREFIX}/process-instances", headers=clerk,
                          json={"process_key": "inbound_materials"}).json
    client.post(f"{PREFIX}/tasks/{started['tasks'][0]['id']}/complete", headers=clerk,
                json={"data": DELIVERY})
    assert deliver(store, policy=DeliveryPolicy(max_attempts=1)).failed == 1
    with store.reading() as uow:
        return uow.session.scalars(select(Delivery.id)).one()


def test_every_documented_operation_answers_as_documented(app):
    api = Recorder(app.test_client())
    admin, hr, head = (sign_in(api.client, name) for name in ("admin", "zhao.hr", "wang.qa"))
    clerk = sign_in(api.client, "zhang.proc")
    api.call("POST", "/auth/token", {}, json={"username": "li.qa", "password": "demo"})
    api.call("GET", "/process-definitions", admin)
    upload = {"file": (io.BytesIO(read_bpmn("customer_complaint.bpmn")), "complaint.bpmn")}
    api.call("POST", "/process-definitions", admin, 201, data=upload,
             content_type="multipart/form-data")
    api.call("GET", "/process-definitions/{key}/versions/{version}/bpmn", admin,
             values={"key": "inbound_materials", "version": 1})

    started = api.call("POST", "/process-instances", clerk, 201,
                       json={"process_key": "inbound_materials", "business_key": "PO-1"}).json
    instance = {"instance_id": started["id"]}
    api.call("GET", "/process-instances", admin)
    api.call("GET", "/process-instances/{instance_id}", admin, values=instance)
    api.call("GET", "/tasks", admin, query_string={"scope": "all", "limit": 1})
    task = {"task_id": started["tasks"][0]["id"]}
    api.call("GET", "/tasks/{task_id}", clerk, values=task)
    api.call("POST", "/tasks/{task_id}/claim", clerk, values=task)
    api.call("POST", "/tasks/{task_id}/unclaim", clerk, values=task)
    api.call("POST", "/tasks/{task_id}/assign", admin, values=task,
             json={"username": "zhang.proc"})
    api.call("POST", "/tasks/{task_id}/transfer", admin, values=task,
             json={"username": "lin.proc", "reason": "zhang.proc is on the road"})
    api.call("POST", "/tasks/{task_id}/transfer", admin, values=task,
             json={"username": "zhang.proc", "reason": "back again"})
    api.call("GET", "/tasks/{task_id}/history", clerk, values=task)
    api.call("PUT", "/employees/{username}/absence", clerk, values={"username": "zhang.proc"},
             json={"from": "2026-12-01T00:00:00Z", "to": "2026-12-08T00:00:00+08:00",
                   "substitute": "lin.proc"})
    api.call("DELETE", "/employees/{username}/absence", clerk, values={"username": "zhang.proc"})
    api.call("POST", "/tasks/{task_id}/comments", clerk, 201, values=task, json={"text": "on it"})
    api.call("GET", "/tasks/{task_id}/comments", clerk, values=task)
    api.call("POST", "/tasks/{task_id}/complete", {**clerk, "Idempotency-Key": "k1"},
             values=task, json={"data": DELIVERY})
    api.call("POST", "/tasks/{task_id}/complete", {**clerk, "Idempotency-Key": "k1"},
             values=task, json={"data": DELIVERY})
    photographed = _photographed(api, clerk)
    api.call("GET", "/tasks/{task_id}/files/{sha256}", head, values=photographed)
    api.call("GET", "/tasks/{task_id}/files/{sha256}/thumbnail", head, values=photographed)
    reason = {"reason": "stock count"}
    api.call("POST", "/process-instances/{instance_id}/suspend", admin, values=instance,
             json=reason)
    api.call("POST", "/process-instances/{instance_id}/resume", admin, values=instance,
             json=reason)
    withdrawn = api.call("POST", "/process-instances", clerk, 201,
                         json={"process_key": "inbound_materials"}).json
    api.call("POST", "/process-instances/{instance_id}/cancel", clerk,
             values={"instance_id": withdrawn["id"]}, json=reason)
    deploy(app.extensions["dutyflow_store"], "scripted.bpmn", scripted())
    fill = api.call("POST", "/process-instances", admin, 201,
                    json={"process_key": "scripted"}).json["tasks"][0]["id"]
    failed = {"instance_id": api.call("POST", "/tasks/{task_id}/complete", head,
                                      values={"task_id": fill}, json={}).json["id"]}
    api.call("GET", "/incidents", admin, query_string={"process_key": "scripted"})
    api.call("PATCH", "/process-instances/{instance_id}/data", admin, values=failed,
             json={"set": {"x": 1}, "unset": [], **reason})
    retried = api.call("POST", "/process-instances/{instance_id}/retry", admin, values=failed,
                       json=reason).json
    assert retried["status"] == "running", retried["error"]
    api.call("POST", "/process-instances/{instance_id}/move", admin, values=failed,
             json={"from": "after", "to": "fill", **reason})
    deploy(app.extensions["dutyflow_store"], "payment.bpmn", PAYMENT)
    paying = api.call("POST", "/process-instances", admin, 201,
                      json={"process_key": "payment", "business_key": "PO-9"}).json
    api.call("POST", "/tasks/{task_id}/complete", head,
             values={"task_id": paying["tasks"][0]["id"]}, json={})
    moved = api.call("POST", "/messages", admin, json={
        "name": "payment", "business_key": "PO-9", "data": {"amount": 3}, "message_id": "m-1"})
    assert moved.json["instances"] == [paying["id"]]
    assert api.call("POST", "/messages", admin, json={"name": "payment", "message_id": "m-1"}
                    ).headers["Idempotent-Replayed"] == "true"
    assert api.call("POST", "/signals", admin, json={"name": "stop"}).json["instances"] == \
        [paying["id"]]

    store = app.extensions["dutyflow_store"]
    deploy_version(store, 1)
    waiting = start_many(store, 2)
    deploy_version(store, 2)
    migrate = {"process_key": "inspection", "from_version": 1, "to_version": 2}
    api.call("POST", "/migrations", admin, json=migrate)
    first = api.call("POST", "/migrations", admin, 202, json={
        **migrate, "dry_run": False, "reason": "inspection numbers",
        "instance_ids": waiting[:1]}).json
    api.call("GET", "/migrations/{migration_id}", admin, values={"migration_id": first["id"]})
    with store.writing() as uow:
        stopped = migration.create(uow, actor_named(uow, "admin"), "inspection", 1, 2,
                                   "the rest", instance_ids=waiting[1:]).id
    api.call("POST", "/migrations/{migration_id}/resume", admin, 202,
             values={"migration_id": stopped})

    api.call("GET", "/me/notification-settings", head)
    api.call("PUT", "/me/notification-settings", head, json={"department_tasks": True})
    failed = _failed_delivery(app.extensions["dutyflow_store"], clerk, api.client)
    api.call("GET", "/notifications/deliveries", admin, query_string={"status": "failed"})
    api.call("POST", "/notifications/deliveries/{delivery_id}/resend", admin,
             values={"delivery_id": failed})
    notes = api.call("GET", "/notifications", head).json
    api.call("POST", "/notifications/read", head,
             json={"ids": [note["id"] for note in notes["notifications"]]})

    api.call("GET", "/departments", admin)
    api.call("GET", "/employees", admin)
    api.call("GET", "/duty-matrix", admin)
    org = api.call("GET", "/org/export", hr, query_string={"format": "yaml"}).data
    api.call("GET", "/org/template", hr, query_string={"format": "csv"})
    preview = api.call("POST", "/org/preview", hr, data={"file": (io.BytesIO(org), "org.yaml")},
                       content_type="multipart/form-data").json
    api.call("POST", "/org/import", hr, content_type="multipart/form-data",
             data={"file": (io.BytesIO(org), "org.yaml"), "revision": preview["revision"]})

    period = {"period": "2026-10"}
    api.call("PUT", "/kpi-schemes/{department_key}", hr, values={"department_key": "qa"},
             json=QA_SCHEME)
    api.call("GET", "/kpi-schemes/{department_key}", hr, values={"department_key": "qa"})
    api.call("GET", "/kpi", hr, query_string=period)
    api.call("POST", "/kpi-schemes/{department_key}/what-if", hr, values={"department_key": "qa"},
             json={"scheme": QA_SCHEME, "periods": ["2026-09", "2026-10"]})
    report = api.call("GET", "/reports/employees/{username}", head, values={"username": "li.qa"},
                      query_string=period).json
    api.call("POST", "/events/{event_id}/corrections", head, 201,
             values={"event_id": report["events"][0]["event_id"]},
             json={"data": {"result": "pass", "defects": 0}, "reason": "re-tested"})
    api.call("GET", "/reports/department-ranking", head, query_string=period)
    api.call("GET", "/reports/trend", head, query_string={"from": "2026-10-01", "to": "2026-11-01"})
    run = {"run_id": api.call("POST", "/payroll-runs", hr, 201, json=period).json["id"]}
    api.call("GET", "/payroll-runs/{run_id}", hr, values=run)
    api.call("POST", "/payroll-runs/{run_id}/recalculate", hr, values=run)
    second_hr = sign_in(api.client, "qian.hr")
    api.call("POST", "/payroll-runs/{run_id}/reject", second_hr, values=run,
             json={"reason": "check the QA figures"})
    api.call("POST", "/payroll-runs/{run_id}/approve", second_hr, values=run)
    api.call("POST", "/payroll-runs/{run_id}/finalize", hr, values=run)
    api.call("GET", "/payroll-runs/{run_id}/export", hr, values=run)
    exporting = api.call("POST", "/payroll-runs/{run_id}/exports", hr, 202, values=run,
                         json={"format": "xlsx"})
    made = {"export_id": exporting.json["id"]}
    for _ in range(200):  # no broker: a thread of the app makes it
        if api.call("GET", "/payroll-exports/{export_id}", hr, values=made).json["status"] \
                == "ready":
            break
        time.sleep(0.05)
    api.call("GET", "/payroll-exports/{export_id}/file", hr, values=made)
    api.call("GET", "/payroll-runs/{run_id}/payslips/{username}", hr,
             values={**run, "username": "li.qa"})
    api.call("GET", "/payroll-runs/{run_id}/payslips/{username}.pdf", hr,
             values={**run, "username": "li.qa"})
    api.call("GET", "/payroll-runs/{run_id}/payslips.zip", hr, values=run)
    api.call("GET", "/audit", hr)
    api.call("GET", "/me/kpi", sign_in(api.client, "li.qa"), query_string=period)

    robot = sign_in(api.client, "erp.bot")
    api.call("POST", "/process-instances", admin, 201, json={"process_key": "archiving",
                                                              "data": {"amount": 30}})
    fetch = {"workerId": "w1", "maxTasks": 1,
             "topics": [{"topicName": "archive-invoice", "lockDuration": 60_000}]}
    external = {"task_id": api.call("POST", "/external-tasks/fetch-and-lock", robot,
                                    json=fetch).json[0]["id"]}
    api.call("POST", "/external-tasks/{task_id}/extend-lock", robot, 204, values=external,
             json={"workerId": "w1", "newDuration": 60_000})
    api.call("POST", "/external-tasks/{task_id}/failure", robot, 204, values=external,
             json={"workerId": "w1", "retries": 1, "errorMessage": "busy"})
    api.call("PUT", "/external-tasks/{task_id}/retries", admin, 204, values=external,
             json={"retries": 2})
    api.call("POST", "/external-tasks/fetch-and-lock", robot, json=fetch)
    api.call("POST", "/external-tasks/{task_id}/complete", robot, 204, values=external,
             json={"workerId": "w1", "variables": {"archived": {"value": True}}})

    documented = {(method, path) for path, operations in api.document["paths"].items()
                  for method in operations}
    assert documented - api.covered == set()
    assert api.headers_seen == {"X-Next-Cursor", "Link", "Idempotent-Replayed", "Location"}


def test_request_and_response_headers_are_documented_from_their_schemas(app):
    document = app.test_client().get(f"{PREFIX}/openapi.json").json
    complete = document["paths"][f"{PREFIX}/tasks/{{task_id}}/complete"]["post"]
    key, = [parameter for parameter in complete["parameters"] if parameter["in"] == "header"]
    assert key["name"] == "Idempotency-Key" and "24 hours" in key["description"]
    assert complete["responses"]["200"]["headers"]["Idempotent-Replayed"]["schema"] == {
        "type": "string", "enum": ["true"]}
    listed = document["paths"][f"{PREFIX}/tasks"]["get"]["responses"]["200"]["headers"]
    assert set(listed) == {"X-Next-Cursor", "Link"}


def test_a_view_cannot_send_a_header_its_contract_does_not_declare(app):
    contract = app.view_functions["api.list_tasks"].contract
    with app.test_request_context():
        with pytest.raises(TypeError, match=r"undeclared \['retry_after'\]"):
            contract.reply(([], 200, {"retry_after": "5"}))
