"""The demo: the shipped org and diagrams, open work in the inboxes, six weeks of history
for the dashboard and payroll, and KPI schemes for three departments."""
from __future__ import annotations

import datetime as dt
from importlib.resources import files

from sqlalchemy import func, select

from services.identity.access import actor_named
from services.identity.actor import Actor
from services.org import org_file
from services.pay import kpi
from services.persistence.models import ProcessInstance, Task, utcnow
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import Store
from services.workflow import definitions, instances

SHIPPED = files("bpmn")  # the shipped diagrams and org, installed as a package


def load_demo(store: Store) -> str:
    """Idempotent: re-running imports changes only and starts no duplicate instances."""
    with store.writing() as uow:
        org_file.import_org(uow, SHIPPED.joinpath("demo_org.yaml").read_text(encoding="utf-8"),
                       "bpmn/demo_org.yaml", "demo")
    diagrams = [entry for entry in SHIPPED.iterdir() if entry.name.endswith(".bpmn")]
    for diagram in sorted(diagrams, key=lambda entry: entry.name):
        definitions.deploy(store, diagram.read_bytes(), f"bpmn/{diagram.name}", "demo")
    with store.reading() as uow:
        started = uow.session.scalar(select(func.count()).select_from(ProcessInstance))
    if started:
        return "demo already loaded"
    samples = [
        ("inbound_materials", None, "PO-2026-001"),
        ("inbound_materials", None, "PO-2026-002"),
        ("contract_approval", {"title": "钢材年度采购合同", "counterparty": "华东钢铁", "amount": 1200000},
         "CT-2026-017"),
        ("customer_complaint", {"customer": "Acme Ltd", "description": "Late delivery",
                                "severity": "high"}, "CC-2026-042"),
    ]
    for key, data, business_key in samples:
        with store.writing() as uow:
            instances.start_process(uow, key, data, "demo", business_key)
    finished = _history(store, utcnow())
    _schemes(store)
    return (f"demo loaded: {len(samples)} open instances, {finished} completed in the last "
            "six weeks, KPI schemes for qa, procurement and warehouse")


# Who does each step in the demo's history, taking turns.
_PEOPLE = {"register_delivery": ("zhang.proc", "lin.proc"), "inspect_goods": ("li.qa", "he.qa"),
           "return_goods": ("lin.proc", "zhang.proc"), "receive_redelivery": ("zhang.proc",),
           "warehouse_intake": ("guo.wh", "luo.wh")}


def _history(store: Store, now: dt.datetime) -> int:
    """Twelve deliveries over the last six weeks: some inspections late, two rejected once."""
    count = 12
    for index in range(count):
        clock = now - dt.timedelta(days=42 - index * 3, hours=index % 5)
        with store.writing() as uow:
            instance_id = instances.start_process(uow, "inbound_materials", None, "demo",
                                                  f"PO-2026-H{index + 1:02d}", now=clock).id
        rejected = index in (3, 8)
        steps = [("register_delivery", {"supplier": "华东钢铁", "material": "冷轧钢板",
                                        "quantity": 10 + index})]
        if rejected:
            steps += [("inspect_goods", {"result": "fail", "defects": 4}),
                      ("return_goods", {"return_reference": f"RMA-{index}"}),
                      ("receive_redelivery", {"redelivery_note": "replacement lot"})]
        steps += [("inspect_goods", {"result": "pass", "defects": index % 2}),
                  ("warehouse_intake", {"storage_location": f"A-{index % 4 + 1}",
                                        "received_quantity": 10 + index})]
        for number, (element_id, data) in enumerate(steps):
            # Every fourth inspection takes longer than its four hours.
            clock += dt.timedelta(hours=6 if element_id == "inspect_goods" and index % 4 == 0 else 1)
            people = _PEOPLE[element_id]
            with store.reading() as uow:
                task = uow.session.scalars(select(Task).where(
                    Task.process_instance_id == instance_id, Task.element_id == element_id,
                    Task.status == TaskStatus.READY)).one()
            with store.writing() as uow:
                actor = actor_named(uow, people[(index + number) % len(people)])
                instances.complete_task(uow, actor, task.id, data, now=clock)
    return count


def _schemes(store: Store) -> None:
    hr = Actor("demo", "hr", frozenset({"hr"}), frozenset())
    schemes = {
        "qa": [{"metric": "field_rate", "weight": 40, "target": "0.9", "task": "inspect_goods",
                "field": "result", "value": "pass"},
               {"metric": "on_time_rate", "weight": 40, "target": "0.95"},
               {"metric": "avg_handling_hours", "weight": 20, "target": 3}],
        "procurement": [{"metric": "completed_count", "weight": 50, "target": 8},
                        {"metric": "on_time_rate", "weight": 50, "target": "0.95"}],
        "warehouse": [{"metric": "completed_count", "weight": 60, "target": 5,
                       "task": "warehouse_intake"},
                      {"metric": "avg_handling_hours", "weight": 40, "target": 2}],
    }
    for department, indicators in schemes.items():
        with store.writing() as uow:
            kpi.set_scheme(uow, hr, department, {"indicators": indicators})
