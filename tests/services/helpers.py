"""Setting up a database with the demo org and the shipped diagrams."""
from __future__ import annotations

from services.identity.access import actor_named
from services.org import org_file
from services.persistence.unit_of_work import Store
from services.workflow import definitions, instances
from tests.conftest import BPMN_DIR, read_bpmn

DELIVERY = {"supplier": "华东钢铁", "material": "steel", "quantity": 10}
PASS = {"result": "pass", "defects": 0}
FAIL = {"result": "fail", "defects": 3}


def import_demo_org(store: Store) -> None:
    with store.writing() as uow:
        org_file.import_org(uow, (BPMN_DIR / "demo_org.yaml").read_text("utf-8"), "demo_org.yaml",
                       "cli:tester")


def deploy(store: Store, name: str = "inbound_materials.bpmn", source: bytes | None = None):
    return definitions.deploy(store, source or read_bpmn(name), name, "chen.design")


def start(store: Store, key: str = "inbound_materials", data=None) -> int:
    with store.writing() as uow:
        return instances.start_process(uow, key, data, "tester").id


def ready_task(store: Store, instance_id: int, element_id: str):
    from sqlalchemy import select

    from services.persistence.models import Task
    with store.reading() as uow:
        return uow.session.scalars(select(Task).where(
            Task.process_instance_id == instance_id, Task.element_id == element_id,
            Task.status == "ready")).one()


def complete(store: Store, instance_id: int, element_id: str, username: str, data: dict):
    task = ready_task(store, instance_id, element_id)
    with store.writing() as uow:
        return instances.complete_task(uow, actor_named(uow, username), task.id, data)
