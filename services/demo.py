"""The demo: the shipped org and diagrams, and a world built relative to the day it is
loaded, so it is alive whenever someone opens it.

- History: the current month and the two before it, spread over each month (the current
  one up to now): deliveries inspected (some late, some rejected once), contracts
  reviewed, complaints answered, and last month a policy countersigned and published.
- Open work in every demo user's inbox, for each of them some overdue and some due within
  the day: inspections, one transferred by the head of QA, intakes overdue and claimed,
  deliveries to register (one claimed), returns to suppliers, a contract in legal review
  past its deadline, and two policy countersigns (会签), one due today (five signers
  waiting, one signature given) and one late.
- KPI schemes for three departments, last month's payroll run final and this month's
  in draft.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from sqlalchemy import func, or_, select

from payroll.periods import Period
from services.identity.access import actor_named
from services.identity.actor import Actor
from services.org import org_file
from services.pay import kpi, payroll_runs
from services.persistence.models import ProcessInstance, Task, utcnow
from services.persistence.statuses import TaskStatus
from services.persistence.unit_of_work import Store
from services.workflow import definitions, instances, tasks

SHIPPED = files("bpmn")  # the shipped diagrams and org, installed as a package
MONTHS = 3  # of history: the current month and the two before it
HOUR = dt.timedelta(hours=1)


@dataclass
class Case:
    """One process instance of the demo: how it starts and the steps people take in it,
    each as (element id, who, form data, hours after the step before)."""

    process_key: str
    business_key: str
    start_data: dict[str, Any] | None = None
    steps: list[tuple[str, str, dict[str, Any], float]] = field(default_factory=list)


def load_demo(store: Store, timezone: str = "UTC", now: dt.datetime | None = None) -> str:
    """Idempotent: re-running imports changes only and starts no duplicate instances."""
    now = now or utcnow()
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
    _schemes(store)
    finished = _history(store, now, timezone)
    opened = _open_work(store, now)
    current = Period.of(now, timezone)
    _payroll(store, current, timezone)
    return (f"demo loaded: {finished} instances finished since {current.previous().previous()}, "
            f"{opened} open, KPI schemes for qa, procurement and warehouse, payroll "
            f"{current.previous()} final and {current} in draft")


# Who does each step, taking turns.
_PEOPLE = {"register_delivery": ("zhang.proc", "lin.proc"), "inspect_goods": ("li.qa", "he.qa"),
           "return_goods": ("lin.proc", "zhang.proc"), "receive_redelivery": ("zhang.proc",),
           "warehouse_intake": ("guo.wh", "luo.wh"), "submit_contract": ("xu.sales", "tang.sales"),
           "legal_review": ("cao.legal", "feng.legal"),
           "customer_service": ("xie.cs", "han.cs")}
_SUPPLIERS = ("华东钢铁", "宝山特钢", "Nordic Alloys")
_MATERIALS = ("冷轧钢板", "不锈钢管", "aluminium coil")


def _delivery(number: int, business_key: str) -> Case:
    """Registered, inspected (every fourth late, every fifth rejected once), stored."""
    def who(step: str, turn: int = 0) -> str:
        people = _PEOPLE[step]
        return people[(number + turn) % len(people)]
    quantity = 10 + number % 7
    case = Case("inbound_materials", business_key, steps=[
        ("register_delivery", who("register_delivery"),
         {"supplier": _SUPPLIERS[number % 3], "material": _MATERIALS[number % 3],
          "quantity": quantity}, 1)])
    if number % 5 == 3:
        case.steps += [("inspect_goods", who("inspect_goods"), {"result": "fail", "defects": 4}, 2),
                       ("return_goods", who("return_goods"), {"return_reference": f"RMA-{number}"}, 1),
                       ("receive_redelivery", who("receive_redelivery"),
                        {"redelivery_note": "replacement lot"}, 3)]
    late = number % 4 == 0  # past the inspection's four hours
    case.steps += [("inspect_goods", who("inspect_goods", 1),
                    {"result": "pass", "defects": number % 2}, 6 if late else 2),
                   ("warehouse_intake", who("warehouse_intake"),
                    {"storage_location": f"A-{number % 4 + 1}", "received_quantity": quantity}, 3)]
    return case


def _contract(number: int, business_key: str, reviewed: bool = True) -> Case:
    approve = number % 3 != 2
    case = Case("contract_approval", business_key,
                {"title": f"年度采购合同 {number}", "counterparty": _SUPPLIERS[number % 3],
                 "amount": 50000 * (number + 1)},
                [("submit_contract", _PEOPLE["submit_contract"][number % 2],
                  {"contract_summary": "Annual supply of steel, fixed prices"}, 2),
                 ("legal_review", _PEOPLE["legal_review"][number % 2],
                  {"terms_comply": True, "risks_addressed": approve,
                   "decision": "approve" if approve else "reject"}, 20)])
    if not reviewed:
        del case.steps[1:]
    return case


def _complaint(number: int, business_key: str) -> Case:
    agent = _PEOPLE["customer_service"][number % 2]
    return Case("customer_complaint", business_key,
                {"customer": ("Acme Ltd", "上海汇通", "Globex")[number % 3],
                 "description": "Late delivery", "severity": ("low", "medium", "high")[number % 3]},
                [("register_complaint", agent, {"category": "delivery"}, 1),
                 ("investigate", agent, {"root_cause": "carrier delay", "remedy": "new carrier"}, 10),
                 ("respond_to_customer", agent, {"response": "Apologies; credited", "customer_satisfied": True}, 6)])


def _policy(business_key: str, title: str, signers: list[str], signed: list[str],
            publisher: str | None) -> Case:
    case = Case("policy_signoff", business_key, {"title": title, "signer_list": ", ".join(signers)},
                [("countersign", signer, {"approved": True, "remarks": "同意"}, 3) for signer in signed])
    if publisher:
        case.steps.append(("publish_policy", publisher, {"document_number": f"GM-{business_key}"}, 5))
    return case


def _history(store: Store, now: dt.datetime, timezone: str) -> int:
    """Each month's cases spread evenly over it (the current month's up to now)."""
    period = Period.of(now, timezone)
    months = [period]
    while len(months) < MONTHS:
        months.insert(0, months[0].previous())
    count = 0
    for month in months:
        tag = f"{month.year}{month.month:02d}"
        cases = [_delivery(count + n, f"PO-{tag}-{n + 1:02d}") for n in range(8)]
        cases += [_contract(count + n, f"CT-{tag}-{n + 1:02d}") for n in range(2)]
        cases += [_complaint(count + n, f"CC-{tag}-{n + 1:02d}") for n in range(2)]
        if month == period.previous():
            cases.append(_policy(f"POL-{tag}-01", "考勤管理制度", ["liu.gm", "zhao.hr", "wang.qa"],
                                 ["liu.gm", "zhao.hr", "wang.qa"], "chen.design"))
        # Within the month, and only what is already past (5 % short of now).
        span = (min(month.end, now) - month.start) * 0.95
        for index, case in enumerate(cases):
            begin = month.start + span * index / len(cases)
            _play(store, case, begin, span / len(cases))
        count += len(cases)
    return count


def _play(store: Store, case: Case, begin: dt.datetime, window: dt.timedelta | None = None,
          claims: dict[str, str] | None = None) -> int:
    """Start the case at `begin` and take its steps; gaps shrink to fit `window`."""
    hours = sum(gap for *_, gap in case.steps)
    scale = min(1.0, (window * 0.9 / HOUR) / hours) if window is not None and hours else 1.0
    with store.writing() as uow:
        instance_id = instances.start_process(uow, case.process_key, case.start_data, "demo",
                                              case.business_key, now=begin).id
    clock = begin
    for element_id, username, data, gap in case.steps:
        clock += HOUR * gap * scale
        with store.writing() as uow:
            actor = actor_named(uow, username)
            instances.complete_task(uow, actor, _ready(uow, instance_id, element_id, username),
                                    data, now=clock)
    for element_id, username in (claims or {}).items():
        with store.writing() as uow:
            tasks.claim(uow, actor_named(uow, username), _ready(uow, instance_id, element_id, username))
    return instance_id


def _ready(uow, instance_id: int, element_id: str, username: str) -> str:
    """The ready task of that step that is for `username` (or for nobody in particular)."""
    return uow.session.scalars(select(Task.id).where(
        Task.process_instance_id == instance_id, Task.element_id == element_id,
        Task.status == TaskStatus.READY,
        or_(Task.assignee.is_(None), Task.assignee == username)).order_by(Task.assignee)).first()


def _open_work(store: Store, now: dt.datetime) -> int:
    """Work waiting today, started hours or days ago so that deadlines fall due."""
    register = ("register_delivery", "zhang.proc", {"supplier": "华东钢铁", "material": "冷轧钢板",
                                                     "quantity": 12}, 1)
    inspect_pass = ("inspect_goods", "he.qa", {"result": "pass", "defects": 0}, 2)
    inspect_fail = ("inspect_goods", "li.qa", {"result": "fail", "defects": 5}, 2)
    plays = [
        (Case("inbound_materials", "PO-2026-001"), 0, {"register_delivery": "zhang.proc"}),
        (Case("inbound_materials", "PO-2026-002"), 0, None),
        (Case("inbound_materials", "PO-OPEN-01", steps=[register]), 8, None),  # inspection overdue
        (Case("inbound_materials", "PO-OPEN-02", steps=[register]), 2, None),  # due in 3 hours
        (Case("inbound_materials", "PO-OPEN-03", steps=[register]), 3, {"inspect_goods": "he.qa"}),
        (Case("inbound_materials", "PO-OPEN-04", steps=[register, inspect_pass]), 40, None),
        (Case("inbound_materials", "PO-OPEN-05", steps=[register, inspect_pass]), 5,
         {"warehouse_intake": "guo.wh"}),
        # Returns to the supplier, due a day after the failed inspection: one due soon, one late.
        (Case("inbound_materials", "PO-OPEN-06", steps=[register, inspect_fail]), 20, None),
        (Case("inbound_materials", "PO-OPEN-07", steps=[register, inspect_fail]), 30, None),
        (Case("contract_approval", "CT-2026-017",
              {"title": "钢材年度采购合同", "counterparty": "华东钢铁", "amount": 1200000}), 0, None),
        (_contract(1, "CT-OPEN-02", reviewed=False), 72, None),  # legal review past its two days
        (Case("customer_complaint", "CC-2026-042",
              {"customer": "Acme Ltd", "description": "Late delivery", "severity": "high"}), 0, None),
        # Countersigns have three days: this one is due within the day, the older one late.
        (_policy("POL-OPEN-01", "信息安全管理制度",
                 ["liu.gm", "admin", "chen.design", "zhao.hr", "qian.hr", "wang.qa"], ["liu.gm"], None),
         60, None),
        (_policy("POL-OPEN-02", "差旅费报销制度", ["admin", "chen.design", "zhao.hr", "qian.hr"],
                 [], None),
         90, None),
    ]
    for case, hours_ago, claims in plays:
        instance_id = _play(store, case, now - HOUR * hours_ago, claims=claims)
        if case.business_key == "PO-OPEN-03":
            _transfer(store, instance_id)
    return len(plays)


def _transfer(store: Store, instance_id: int) -> None:
    """转交: the head of QA hands He Jing's inspection to Li Na."""
    with store.writing() as uow:
        tasks.transfer(uow, actor_named(uow, "wang.qa"),
                       _ready(uow, instance_id, "inspect_goods", "he.qa"), "li.qa",
                       "何静 is at the supplier audit today")


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


def _payroll(store: Store, current: Period, timezone: str) -> None:
    """HR ran last month (zhao.hr prepared, qian.hr approved: four eyes) and finalised it,
    and has this month's draft open."""
    with store.writing() as uow:
        last = payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"),
                                       str(current.previous()), timezone)
    with store.writing() as uow:
        payroll_runs.approve(uow, actor_named(uow, "qian.hr"), last.id)
    with store.writing() as uow:
        payroll_runs.finalize(uow, actor_named(uow, "zhao.hr"), last.id)
    with store.writing() as uow:
        payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"), str(current), timezone)
