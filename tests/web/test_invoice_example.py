"""Camunda's invoice example, end to end over the REST API, as its files are drawn
(`../shared/interop/camunda-invoice/`): the DMN decision picks the approver groups, a member
of a department those groups name approves, JUEL conditions branch, accounting prepares the
transfer and an external worker (an `integration` user, Camunda's REST shape) archives the
invoice in place of the Java service. SQLite and PostgreSQL.

The org is ours: its departments' `lanes` name the invoice's lanes and groups. The Java
service task `ArchiveInvoiceService` deploys as an external task on a topic named after the
class, with a warning: the test's worker is the fixture that stands in for it.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from services.org import org_file
from services.settings import Settings
from tests.web.test_api import sign_in
from web.app import create_app

INVOICE = Path(__file__).resolve().parents[2].parent / "shared" / "interop" / "camunda-invoice"
ARCHIVE_TOPIC = "org.camunda.bpm.example.invoice.service.ArchiveInvoiceService"

pytestmark = pytest.mark.skipif(not INVOICE.is_dir(), reason="../shared/interop is not here")

_PERSON = ('  - {{username: {0}, name: {0}, department: {1}, position: Staff, roles: [{2}], '
           'base_salary: "1000.00", bonus_base: "0.00", password: "demo"}}\n')
ORG = ("departments:\n"
       "  - {key: office, name: Office, head: boss, lanes: [Team Assistant]}\n"
       "  - {key: approvers, name: Approvers, parent: office, lanes: [Approver]}\n"
       "  - {key: accounting, name: Accounting, parent: office, lanes: [accounting, Accountant]}\n"
       "  - {key: sales, name: Sales, parent: office, lanes: [sales]}\n"
       "  - {key: management, name: Management, parent: office, lanes: [management]}\n"
       "employees:\n"
       + _PERSON.format("boss", "office", "manager, staff")
       + _PERSON.format("admin", "office", "admin")
       + _PERSON.format("designer", "office", "designer")
       + _PERSON.format("demo", "office", "staff")
       + _PERSON.format("assistant", "office", "staff")
       + _PERSON.format("clerk", "accounting", "staff")
       + _PERSON.format("seller", "sales", "staff")
       + _PERSON.format("director", "management", "staff")
       + _PERSON.format("erp.bot", "office", "integration"))


@pytest.fixture
def api(store):
    with store.writing() as uow:
        org_file.import_org(uow, ORG, "invoice_org.yaml", "cli:tester")
    client = create_app(Settings(store.database_url), store=store).test_client()
    client.store = store
    return client


def deploy(api, *names: str, source: bytes | None = None):
    files = [(io.BytesIO(source if source is not None and name.endswith(".bpmn")
                         else (INVOICE / name).read_bytes()), name) for name in names]
    return api.post("/api/v1/process-definitions", headers=sign_in(api, "designer"),
                    content_type="multipart/form-data", data={"file": files})


def deploy_invoice(api) -> dict:
    """The invoice with its decisions, and the review process (another file) it calls."""
    assert deploy(api, "reviewInvoice.bpmn").status_code == 201
    answer = deploy(api, "invoice.v2.bpmn", "invoiceBusinessDecisions.dmn")
    assert answer.status_code == 201, answer.json
    return answer.json


def start(api, amount, category: str, username: str = "assistant") -> dict:
    started = api.post("/api/v1/process-instances", headers=sign_in(api, username), json={
        "process_key": "invoice", "business_key": f"INV-{amount}",
        "data": {"amount": amount, "invoiceCategory": category, "creditor": "Great Pizza",
                 "invoiceNumber": f"GPFE-{amount}"}})
    assert started.status_code == 201, started.json
    return started.json


def instance(api, instance_id: int) -> dict:
    return api.get(f"/api/v1/process-instances/{instance_id}",
                   headers=sign_in(api, "admin")).json


def only_task(api, instance_id: int, element_id: str) -> dict:
    [task] = instance(api, instance_id)["tasks"]
    assert task["element_id"] == element_id, task
    return task


def complete(api, username: str, task_id: str, data: dict):
    return api.post(f"/api/v1/tasks/{task_id}/complete", headers=sign_in(api, username),
                    json={"data": data})


def archive(api, instance_id: int) -> None:
    """The worker that stands in for ArchiveInvoiceService: fetch, lock, complete."""
    fetched = api.post("/api/v1/external-tasks/fetch-and-lock", headers=sign_in(api, "erp.bot"),
                       json={"workerId": "archiver", "maxTasks": 5,
                             "topics": [{"topicName": ARCHIVE_TOPIC, "lockDuration": 60_000}]})
    assert fetched.status_code == 200, fetched.json
    [task] = fetched.json
    assert (task["activityId"], task["processInstanceId"]) == ("ServiceTask_1", str(instance_id))
    assert task["variables"]["invoiceNumber"]["value"] == f"GPFE-{task['variables']['amount']['value']}"
    done = api.post(f"/api/v1/external-tasks/{task['id']}/complete",
                    headers=sign_in(api, "erp.bot"),
                    json={"workerId": "archiver",
                          "variables": {"archived": {"value": True, "type": "Boolean"}}})
    assert done.status_code == 204, done.json


def test_the_java_archive_service_deploys_as_an_external_task_with_a_warning(api):
    deployed = deploy_invoice(api)
    assert any(ARCHIVE_TOPIC in warning["message"] and warning["element_id"] == "ServiceTask_1"
               for warning in deployed["warnings"]), deployed


def test_a_small_misc_invoice_goes_to_accounting_or_sales_and_is_archived(api):
    deploy_invoice(api)
    started = start(api, 100, "Misc")
    assert started["data"]["approverGroups"] == ["accounting", "sales"]  # the DMN decided
    approval = only_task(api, started["id"], "approveInvoice")
    assert (approval["department"], sorted(approval["candidate_departments"])) == (
        "approvers", ["accounting", "sales"])
    # Nobody outside the groups the decision named may do it, not even its starter.
    assert complete(api, "assistant", approval["id"], {"approved": True}).status_code == 404
    assert complete(api, "director", approval["id"], {"approved": True}).status_code == 404
    approved = complete(api, "seller", approval["id"], {"approved": True})
    assert approved.status_code == 200, approved.json
    # ${approved} is true: on to the bank transfer, accounting's duty by its literal group.
    transfer = only_task(api, started["id"], "prepareBankTransfer")
    assert transfer["department"] == "accounting"
    assert complete(api, "seller", transfer["id"], {}).status_code == 404
    assert complete(api, "clerk", transfer["id"], {}).status_code == 200
    assert instance(api, started["id"])["status"] == "running"  # waits for the archive
    archive(api, started["id"])
    done = instance(api, started["id"])
    assert done["status"] == "completed" and done["data"]["archived"] is True
    assert done["data"]["approved"] is True


def test_an_exceptional_invoice_goes_to_management(api):
    deploy_invoice(api)
    started = start(api, 5000, "Misc")
    assert started["data"]["approverGroups"] == ["management"]
    approval = only_task(api, started["id"], "approveInvoice")
    assert approval["candidate_departments"] == ["management"]
    assert complete(api, "seller", approval["id"], {"approved": True}).status_code == 404
    assert complete(api, "director", approval["id"], {"approved": True}).status_code == 200
    assert only_task(api, started["id"], "prepareBankTransfer")["department"] == "accounting"


def test_the_review_call_activity_runs_when_the_approver_says_no(api):
    """Approver says no (`${!approved}`) -> the ReviewInvoice child instance: its first task
    is for `demo`, who names the reviewer; the reviewer clarifies -> back to approval."""
    deploy_invoice(api)
    started = start(api, 100, "Misc")
    approval = only_task(api, started["id"], "approveInvoice")
    assert complete(api, "seller", approval["id"], {"approved": False}).status_code == 200
    children = api.get("/api/v1/process-instances", headers=sign_in(api, "admin"),
                       query_string={"process_key": "ReviewInvoice"}).json
    [child] = children["items"] if isinstance(children, dict) else children
    assert instance(api, child["id"])["parent"]["id"] == started["id"]
    assert [link["id"] for link in instance(api, started["id"])["children"]] == [child["id"]]
    assign = only_task(api, child["id"], "assignReviewer")
    assert assign["assignee"] == "demo"
    assert complete(api, "demo", assign["id"], {"reviewer": "clerk"}).status_code == 200
    review = only_task(api, child["id"], "reviewInvoice")
    assert review["assignee"] == "clerk"
    assert complete(api, "clerk", review["id"], {"clarified": True}).status_code == 200
    assert instance(api, child["id"])["status"] == "completed"
    # camunda:out clarified -> ${clarified}: back to the approvers the decision named.
    again = only_task(api, started["id"], "approveInvoice")
    assert sorted(again["candidate_departments"]) == ["accounting", "sales"]
    assert complete(api, "clerk", again["id"], {"approved": True}).status_code == 200
    assert complete(api, "clerk", only_task(api, started["id"], "prepareBankTransfer")["id"],
                    {}).status_code == 200
    archive(api, started["id"])
    assert instance(api, started["id"])["status"] == "completed"


def test_a_review_that_does_not_clarify_ends_the_invoice_unprocessed(api):
    deploy_invoice(api)
    started = start(api, 100, "Misc")
    approval = only_task(api, started["id"], "approveInvoice")
    assert complete(api, "seller", approval["id"], {"approved": False}).status_code == 200
    children = api.get("/api/v1/process-instances", headers=sign_in(api, "admin"),
                       query_string={"process_key": "ReviewInvoice"}).json
    [child] = children["items"] if isinstance(children, dict) else children
    assign = only_task(api, child["id"], "assignReviewer")
    assert complete(api, "demo", assign["id"], {"reviewer": "clerk"}).status_code == 200
    review = only_task(api, child["id"], "reviewInvoice")
    assert complete(api, "clerk", review["id"], {"clarified": False}).status_code == 200
    ended = instance(api, started["id"])
    assert ended["status"] == "completed" and ended["data"]["clarified"] is False
    assert ended["tasks"] == []
