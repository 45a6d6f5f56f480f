"""BPMN elements that must work end to end: each diagram of tests/fixtures/elements is
deployed and run over the REST API by the people of the departments its lanes name. Timers
fire through the timer worker with a clock moved forward, never by waiting. SQLite and
PostgreSQL."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from services.org import org_file
from services.persistence.models import utcnow
from services.settings import Settings
from services.workflow import worker
from tests.conftest import BPMN_DIR
from tests.web.test_api import sign_in
from web.app import create_app

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
    assert instance(api, started["id"])["data"]["caller"] == "王先生"
    complete(api, started["id"], "note_call")
    complete(api, started["id"], "investigate", {"cause": "transport"})
    assert complete(api, started["id"], "close")["status"] == "completed"


def test_an_interrupting_event_subprocess_stops_the_work(api):
    deploy(api, "subprocesses.bpmn")
    started = start(api, "complaint_handling")
    send_message(api, "order_cancelled")
    [task] = instance(api, started["id"])["tasks"]
    assert (task["element_id"], task["department"]) == ("refund", "sales")
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
    for _ in LINES:
        tasks = fetch_reservations(api)
        assert len(tasks) == (1 if sequential else len(LINES) - len(reserved))
        task = tasks[0]
        reserved.append(task["variables"]["line"]["value"]["sku"])
        done = api.post(f"/api/v1/external-tasks/{task['id']}/complete",
                        headers=sign_in(api, "stock.bot"), json={"workerId": "stock-1"})
        assert done.status_code == 204
    assert sorted(reserved) == ["bolt-2", "steel-10"] and fetch_reservations(api) == []

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
