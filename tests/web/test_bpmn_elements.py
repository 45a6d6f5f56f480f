"""BPMN elements that must work end to end: each diagram of tests/fixtures/elements is
deployed and run over the REST API by the people of the departments its lanes name. Timers
fire through the timer worker with a clock moved forward, never by waiting. SQLite and
PostgreSQL."""
from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from services.org import org_file
from services.persistence.models import utcnow
from services.settings import Settings
from services.workflow import worker
from tests.conftest import BPMN_DIR
from tests.engine.bpmn_builder import flow, process, user_task
from tests.web.test_api import sign_in
from tests.web import test_cli
from web.app import create_app

run = test_cli.run  # the CLI fixture, for lint
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "elements"
ROBOT = ('  - {username: stock.bot, name: Stock, department: warehouse, position: Integration, '
         'roles: [integration], base_salary: "0.00", bonus_base: "0.00", password: "demo"}\n')
# Who does a department's duties in these tests (members of the demo org's departments).
MEMBER = {"qa": "li.qa", "warehouse": "guo.wh", "procurement": "zhang.proc", "sales": "xu.sales",
          "customer_service": "xie.cs", "production": "zhou.prod"}


@pytest.fixture
def api(store):
    org = (BPMN_DIR / "demo_org.yaml").read_text("utf-8") + ROBOT
    with store.writing() as uow:
        org_file.import_org(uow, org, "demo_org.yaml", "cli:tester")
    client = create_app(Settings(store.database_url), store=store).test_client()
    client.store = store
    return client


def deploy(api, name: str, source: bytes | None = None) -> dict:
    source = source if source is not None else (FIXTURES / name).read_bytes()
    deployed = api.post("/api/v1/process-definitions", headers=sign_in(api, "chen.design"),
                        content_type="multipart/form-data",
                        data={"file": (io.BytesIO(source), name)})
    assert deployed.status_code == 201, deployed.json
    return deployed.json


def start(api, key: str, data: dict | None = None, business_key: str = "B-1") -> dict:
    started = api.post("/api/v1/process-instances", headers=sign_in(api, "admin"),
                       json={"process_key": key, "business_key": business_key,
                             "data": data or {}})
    assert started.status_code == 201, started.json
    return started.json


def instance(api, instance_id: int) -> dict:
    answer = api.get(f"/api/v1/process-instances/{instance_id}", headers=sign_in(api, "admin"))
    assert answer.status_code == 200
    return answer.json


def open_tasks(api, instance_id: int) -> list[str]:
    """The element ids of the instance's open tasks, sorted."""
    return sorted(task["element_id"] for task in instance(api, instance_id)["tasks"])


def complete(api, instance_id: int, element_id: str, data: dict | None = None) -> dict:
    """Complete the (first) open task at `element_id` as a member of its department."""
    task = next(task for task in instance(api, instance_id)["tasks"]
                if task["element_id"] == element_id)
    done = api.post(f"/api/v1/tasks/{task['id']}/complete",
                    headers=sign_in(api, MEMBER[task["department"]]), json={"data": data or {}})
    assert done.status_code == 200, done.json
    return instance(api, instance_id)


def clock_moves(api, hours: float) -> int:
    """The timer worker runs as if `hours` had passed; returns the timers it fired."""
    return worker.run_due_timers(api.store, now=utcnow() + dt.timedelta(hours=hours))


def send_message(api, name: str, business_key: str = "B-1", data: dict | None = None):
    sent = api.post("/api/v1/messages", headers=sign_in(api, "admin"),
                    json={"name": name, "business_key": business_key, "data": data or {}})
    assert sent.status_code == 200, sent.json
    return sent.json


# --- gateways -------------------------------------------------------------------------

@pytest.mark.parametrize("answers, routed", [
    ({"defects": 2, "urgent": True}, ["claim_supplier", "tell_customer"]),
    ({"defects": 0, "urgent": True}, ["tell_customer"]),
    ({"defects": 0, "urgent": False}, ["store"]),
])
def test_parallel_branches_join_and_the_inclusive_gateway_takes_every_true_flow(
        api, answers, routed):
    deploy(api, "gateways.bpmn")
    started = start(api, "delivery_checks")
    assert open_tasks(api, started["id"]) == ["count", "inspect"]
    complete(api, started["id"], "inspect", {"defects": answers["defects"]})
    assert open_tasks(api, started["id"]) == ["count"]  # the join waits for both branches
    complete(api, started["id"], "count", {"urgent": answers["urgent"]})
    assert open_tasks(api, started["id"]) == routed
    for element_id in routed[:-1]:
        complete(api, started["id"], element_id)
        assert instance(api, started["id"])["status"] == "running"  # the merge waits
    assert complete(api, started["id"], routed[-1])["status"] == "completed"


# --- events ---------------------------------------------------------------------------

def test_the_event_gateway_follows_the_message_when_it_comes_first(api):
    deploy(api, "event_gateway.bpmn")
    started = start(api, "supplier_reply")
    assert [timer["element_id"] for timer in instance(api, started["id"])["timers"]] == \
        ["two_hours"]
    assert send_message(api, "supplier_reply", data={"price": 12})["instances"] == [started["id"]]
    after = instance(api, started["id"])
    assert after["timers"] == [] and after["data"]["price"] == 12  # the timer branch is gone
    assert open_tasks(api, started["id"]) == ["review"]
    assert clock_moves(api, 3) == 0
    complete(api, started["id"], "review")
    [settle] = instance(api, started["id"])["timers"]  # the intermediate timer waits
    assert settle["element_id"] == "settle" and open_tasks(api, started["id"]) == []
    assert clock_moves(api, 0.25) == 0  # not yet due
    assert clock_moves(api, 0.6) == 1
    assert open_tasks(api, started["id"]) == ["book"]
    assert complete(api, started["id"], "book")["status"] == "completed"


def test_the_event_gateway_follows_the_timer_when_no_message_comes(api):
    deploy(api, "event_gateway.bpmn")
    started = start(api, "supplier_reply")
    assert clock_moves(api, 1) == 0
    assert clock_moves(api, 2.5) == 1
    assert open_tasks(api, started["id"]) == ["chase"]
    late = api.post("/api/v1/messages", headers=sign_in(api, "admin"),
                    json={"name": "supplier_reply", "business_key": "B-1"})
    assert late.status_code == 404  # nothing waits for the reply any more
    assert complete(api, started["id"], "chase")["status"] == "completed"


def test_boundary_timers_notify_without_interrupting_then_take_the_task_away(api):
    deploy(api, "boundary_timers.bpmn")
    started = start(api, "inspection_deadlines")
    assert sorted(timer["element_id"] for timer in instance(api, started["id"])["timers"]) == \
        ["four_hours", "one_hour"]
    assert clock_moves(api, 1.5) == 1
    assert open_tasks(api, started["id"]) == ["hold_goods", "inspect"]  # inspection goes on
    assert clock_moves(api, 5) == 1
    assert open_tasks(api, started["id"]) == ["escalate", "hold_goods"]  # inspection taken away
    assert instance(api, started["id"])["timers"] == []
    complete(api, started["id"], "escalate")
    assert complete(api, started["id"], "hold_goods")["status"] == "completed"


def test_a_task_done_in_time_cancels_its_boundary_timers(api):
    deploy(api, "boundary_timers.bpmn")
    started = start(api, "inspection_deadlines")
    finished = complete(api, started["id"], "inspect")
    assert finished["status"] == "completed" and finished["timers"] == []
    assert clock_moves(api, 5) == 0


# --- subprocesses ---------------------------------------------------------------------

def test_an_embedded_subprocess_runs_its_tasks_in_their_lanes(api):
    deploy(api, "subprocesses.bpmn")
    started = start(api, "complaint_handling")
    [task] = instance(api, started["id"])["tasks"]
    assert (task["element_id"], task["department"]) == ("investigate", "qa")
    complete(api, started["id"], "investigate", {"cause": "damp storage"})
    assert open_tasks(api, started["id"]) == ["close"]
    finished = complete(api, started["id"], "close")
    assert finished["status"] == "completed" and finished["data"]["cause"] == "damp storage"


def test_a_non_interrupting_event_subprocess_runs_beside_the_work(api):
    deploy(api, "subprocesses.bpmn")
    started = start(api, "complaint_handling")
    send_message(api, "customer_called", data={"caller": "王先生"})
    assert open_tasks(api, started["id"]) == ["investigate", "note_call"]
    complete(api, started["id"], "investigate", {"cause": "transport"})
    complete(api, started["id"], "note_call")
    finished = complete(api, started["id"], "close")
    assert finished["status"] == "completed" and finished["data"]["caller"] == "王先生"
    assert finished["timers"] == []  # the overdue timer went with the process


def test_a_timer_event_subprocess_starts_beside_the_work_when_due(api):
    deploy(api, "subprocesses.bpmn")
    started = start(api, "complaint_handling")
    assert [timer["element_id"] for timer in instance(api, started["id"])["timers"]] == \
        ["overdue_start"]
    assert clock_moves(api, 47) == 0
    assert clock_moves(api, 49) == 1
    assert open_tasks(api, started["id"]) == ["apologise", "investigate"]
    complete(api, started["id"], "apologise")
    complete(api, started["id"], "investigate", {"cause": "transport"})
    assert complete(api, started["id"], "close")["status"] == "completed"


def test_an_interrupting_event_subprocess_stops_the_work(api):
    deploy(api, "subprocesses.bpmn")
    started = start(api, "complaint_handling")
    send_message(api, "order_cancelled")
    current = instance(api, started["id"])
    assert [(task["element_id"], task["department"]) for task in current["tasks"]] == \
        [("refund", "sales")]
    assert current["timers"] == []  # the overdue timer was interrupted too
    late = api.post("/api/v1/messages", headers=sign_in(api, "admin"),
                    json={"name": "customer_called", "business_key": "B-1"})
    assert late.status_code == 404  # the interrupted process waits for nothing else
    assert complete(api, started["id"], "refund")["status"] == "completed"


# --- errors and escalations -----------------------------------------------------------

def test_an_error_end_event_is_caught_by_the_boundary_of_its_subprocess(api):
    deploy(api, "boundary_errors.bpmn")
    started = start(api, "batch_release", {"samples": [1.0, 3.5, 2.0], "tolerance": 2.5})
    current = instance(api, started["id"])
    assert current["status"] == "running" and current["data"]["defects"] == 1
    assert open_tasks(api, started["id"]) == ["rework"]  # the release never started
    assert complete(api, started["id"], "rework")["status"] == "completed"


def test_a_thrown_escalation_is_caught_without_interrupting(api):
    deploy(api, "boundary_errors.bpmn")
    started = start(api, "batch_release", {"samples": [1.0], "tolerance": 2.5})
    assert open_tasks(api, started["id"]) == ["plan_late", "r_sign"]
    complete(api, started["id"], "plan_late")
    assert complete(api, started["id"], "r_sign", {"recall_needed": False})["status"] == \
        "completed"


def test_an_escalation_end_event_interrupts_its_subprocess(api):
    deploy(api, "boundary_errors.bpmn")
    started = start(api, "batch_release", {"samples": [1.0], "tolerance": 2.5})
    complete(api, started["id"], "r_sign", {"recall_needed": True})
    assert open_tasks(api, started["id"]) == ["plan_late", "tell_customers"]
    complete(api, started["id"], "tell_customers")
    assert complete(api, started["id"], "plan_late")["status"] == "completed"


# --- multi-instance -------------------------------------------------------------------

LINES = [{"sku": "steel-10", "qty": 3, "unit_price": 5}, {"sku": "bolt-2", "qty": 10,
                                                           "unit_price": 1}]


def fetch_reservations(api, worker_id: str = "stock-1") -> list[dict]:
    fetched = api.post("/api/v1/external-tasks/fetch-and-lock",
                       headers=sign_in(api, "stock.bot"),
                       json={"workerId": worker_id, "maxTasks": 10,
                             "topics": [{"topicName": "reserve-stock", "lockDuration": 60_000}]})
    assert fetched.status_code == 200, fetched.json
    return fetched.json


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_script_service_and_subprocess_run_once_per_item_of_a_collection(api, sequential):
    source = (FIXTURES / "multi_instance.bpmn").read_bytes()
    if sequential:
        source = source.replace(b'isSequential="false"', b'isSequential="true"')
    deploy(api, "multi_instance.bpmn", source)
    started = start(api, "order_lines", {"lines": LINES})
    priced = instance(api, started["id"])["data"]["lines"]
    assert [line["total"] for line in priced] == [15, 10]  # the script ran once per line

    reserved = []
    while reservations := fetch_reservations(api):  # one at a time, or all at once
        assert len(reservations) == (1 if sequential else len(LINES))
        for task in reservations:
            assert task["activityId"] == "reserve"
            variables = task["variables"]  # each worker sees its own line, and the index
            assert variables["line"]["type"] == "Json"  # objects as Camunda sends them
            reserved.append((variables["loopCounter"]["value"],
                             json.loads(variables["line"]["value"])["sku"]))
            done = api.post(f"/api/v1/external-tasks/{task['id']}/complete",
                            headers=sign_in(api, "stock.bot"), json={"workerId": "stock-1"})
            assert done.status_code == 204
    assert sorted(reserved) == [(0, "steel-10"), (1, "bolt-2")]

    inspections = instance(api, started["id"])["tasks"]
    assert [task["element_id"] for task in inspections] == \
        ["inspect_line"] * (1 if sequential else len(LINES))
    for _ in LINES:
        complete(api, started["id"], "inspect_line", {"passed": True})
    assert open_tasks(api, started["id"]) == ["confirm"]
    assert complete(api, started["id"], "confirm")["status"] == "completed"


# --- terminate ------------------------------------------------------------------------

def test_a_terminate_end_event_ends_the_instance_with_other_branches_open(api):
    deploy(api, "terminate.bpmn")
    started = start(api, "order_fulfilment")
    assert open_tasks(api, started["id"]) == ["credit_check", "pack"]
    finished = complete(api, started["id"], "credit_check", {"credit_ok": False})
    assert finished["status"] == "completed" and finished["tasks"] == []


def test_without_the_terminate_both_branches_finish(api):
    deploy(api, "terminate.bpmn")
    started = start(api, "order_fulfilment")
    complete(api, started["id"], "credit_check", {"credit_ok": True})
    assert open_tasks(api, started["id"]) == ["pack"]
    assert complete(api, started["id"], "pack")["status"] == "completed"


# --- flows without a condition, data associations ----------------------------------------

def unconditioned(kind: str) -> bytes:
    """A gateway whose flows after the first have no condition (as other tools draw them)."""
    return process("\n".join([
        '<bpmn:startEvent id="start"/>', f'<bpmn:{kind} id="route"/>',
        user_task("small"), user_task("usual"), user_task("also"), '<bpmn:endEvent id="end"/>',
        flow("start", "route"), flow("route", "small", "amount &lt; 10"),
        flow("route", "usual"), flow("route", "also"),
        flow("small", "end"), flow("usual", "end"), flow("also", "end")]),
        {"Sales": ["start", "route", "small", "usual", "also", "end"]}, process_id="routing")


@pytest.mark.parametrize("amount, taken", [(5, ["small"]), (50, ["usual"])])
def test_a_flow_without_condition_leaving_an_exclusive_gateway_is_true_in_file_order(
        api, amount, taken):
    deployed = deploy(api, "routing.bpmn", unconditioned("exclusiveGateway"))
    assert sorted(warning["element_id"] for warning in deployed["warnings"]) == \
        ["f_route_also", "f_route_usual"]
    assert "always true" in deployed["warnings"][0]["message"]
    started = start(api, "routing", {"amount": amount})
    assert open_tasks(api, started["id"]) == taken


def test_every_flow_without_condition_leaving_an_inclusive_gateway_is_taken(api):
    deploy(api, "routing.bpmn", unconditioned("inclusiveGateway"))
    started = start(api, "routing", {"amount": 5})
    assert open_tasks(api, started["id"]) == ["also", "small", "usual"]


def test_lint_strict_refuses_a_flow_without_condition(run, tmp_path):
    run("init-db")
    run("org", "import", str(BPMN_DIR / "demo_org.yaml"))
    file = tmp_path / "routing.bpmn"
    file.write_bytes(unconditioned("exclusiveGateway"))
    run("lint", str(file))
    strict = run("lint", "--strict", str(file), check=False)
    assert strict.returncode == 1 and "f_route_usual: flow leaving gateway" in strict.stderr


def test_data_associations_copy_by_name_and_data_stores_are_ignored_with_a_warning(api):
    deployed = deploy(api, "data_associations.bpmn")
    assert [(warning["element_id"], "data store 'Ledger'" in warning["message"])
            for warning in deployed["warnings"]] == [("check_limit", True), ("approve", True)]
    started = start(api, "credit_limit", {"amount": 120})
    data = instance(api, started["id"])["data"]
    # amount reached the script as its input `limit`, which is the script's alone
    assert data["within"] is True and "limit" not in data
    finished = complete(api, started["id"], "approve", {"approved_amount": 100})
    assert finished["status"] == "completed"
    assert finished["data"]["final_amount"] == 100  # the output went to the process output


def test_a_data_object_reference_to_nothing_is_refused_with_its_line(api):
    source = (FIXTURES / "data_associations.bpmn").read_bytes().replace(
        b'dataObjectRef="note_object"', b'dataObjectRef="missing"')
    refused = api.post("/api/v1/process-definitions", headers=sign_in(api, "chen.design"),
                       content_type="multipart/form-data",
                       data={"file": (io.BytesIO(source), "data.bpmn")})
    assert refused.status_code == 422
    assert "names no bpmn:dataObject ('missing')" in str(refused.json)
