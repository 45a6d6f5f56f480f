"""The demo: the shipped org and diagrams, plus a few instances so inboxes have work."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from . import definitions, instances, org
from .models import ProcessInstance
from .unit_of_work import Store

SHIPPED = Path(__file__).resolve().parent.parent / "bpmn"


def load_demo(store: Store) -> str:
    """Idempotent: re-running imports changes only and starts no duplicate instances."""
    with store.writing() as uow:
        org.import_org(uow, (SHIPPED / "demo_org.yaml").read_text(encoding="utf-8"),
                       "bpmn/demo_org.yaml")
        uow.commit()
    for path in sorted(SHIPPED.glob("*.bpmn")):
        with store.writing() as uow:
            definitions.deploy(uow, path.read_bytes(), f"bpmn/{path.name}", "demo")
            uow.commit()
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
    return f"demo loaded: {len(samples)} instances started"
