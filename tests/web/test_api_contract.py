"""Every API route answers with the shape its OpenAPI document gives: each view declares a
contract (web/api/contract.py), and a scenario that calls every documented operation
checks each answer against the document, on SQLite and PostgreSQL."""
from __future__ import annotations

import io

import pytest
from openapi_schema_validator import OAS30Validator

from sqlalchemy import select

from services.notify.delivery import DeliveryPolicy
from services.persistence.models import Delivery
from services.persistence.statuses import TaskStatus
from services.settings import Settings
from tests.conftest import read_bpmn
from tests.notify.support import demo_org, deliver, import_org
from tests.payroll.test_payroll_runs import QA_SCHEME, at, inspect
from tests.services.helpers import DELIVERY, deploy, import_demo_org
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

    def call(self, method: str, template: str, headers: dict, expect: int = 200,
             **kwargs):
        path = PREFIX + template
        response = self.client.open(path.format(**kwargs.pop("values", {})), method=method,
                                    headers=headers, **kwargs)
        assert response.status_code == expect, (method, template, response.data[:500])
        documented = self.document["paths"][path][method.lower()]["responses"][str(expect)]
        content_type = response.mimetype
        assert content_type in documented["content"], (method, template, content_type)
        if content_type == "application/json":
            schema = {**documented["content"][content_type]["schema"],
                      "components": self.document["components"]}
            errors = [error.message for error in OAS30Validator(schema).iter_errors(response.json)]
            assert not errors, (method, template, errors[:5])
        self.covered.add((method.lower(), path))
        return response


@pytest.fixture
def app(store):
    import_demo_org(store)
    for name in ("inbound_materials.bpmn", "contract_approval.bpmn"):
        deploy(store, name)
    inspect(store, at(5, 8), at(5, 9), "pass")
    inspect(store, at(6, 8), at(6, 13), "fail")
    return create_app(Settings(store.database_url), store=store)


def _failed_delivery(store, clerk, client) -> str:
    """A QA webhook nobody answers, a task for QA, one attempt: a failed delivery."""
    import_org(store, demo_org({"webhook": "http://127.0.0.1:9/", "secret": "s"}))
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
    api.call("POST", "/tasks/{task_id}/comments", clerk, 201, values=task, json={"text": "on it"})
    api.call("GET", "/tasks/{task_id}/comments", clerk, values=task)
    api.call("POST", "/tasks/{task_id}/complete", {**clerk, "Idempotency-Key": "k1"},
             values=task, json={"data": DELIVERY})

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

    period = {"period": "2026-10"}
    api.call("PUT", "/kpi-schemes/{department_key}", hr, values={"department_key": "qa"},
             json=QA_SCHEME)
    api.call("GET", "/kpi-schemes/{department_key}", hr, values={"department_key": "qa"})
    api.call("GET", "/kpi", hr, query_string=period)
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
    api.call("POST", "/payroll-runs/{run_id}/finalize", hr, values=run)
    api.call("GET", "/payroll-runs/{run_id}/export", hr, values=run)
    api.call("GET", "/payroll-runs/{run_id}/payslips/{username}", hr,
             values={**run, "username": "li.qa"})
    api.call("GET", "/audit", hr)

    documented = {(method, path) for path, operations in api.document["paths"].items()
                  for method in operations}
    assert documented - api.covered == set()
