"""The demo org with notification channels, and a delivery round as the worker runs it."""
from __future__ import annotations

import datetime as dt

import yaml
from sqlalchemy import event

from services.identity.access import actor_named
from services.notify import delivery
from services.notify.preferences import save_settings
from services.org import org_file
from services.persistence.unit_of_work import Store
from tests.conftest import BPMN_DIR
from web.notifications import catalogs, channels
from services.settings import Settings

WEBHOOK_SECRET = "s3cret-质量"
ROBOT_SECRET = "SECabc123"
FAST = delivery.DeliveryPolicy(max_attempts=4, retry_seconds=0.0, lease_seconds=2.0)


def demo_org(qa_notify: dict | None = None, qa: dict | None = None, **people: dict) -> str:
    """The demo org file: QA's `notify` entry and other `qa` keys set, and `people`
    (username -> keys) updated."""
    document = yaml.safe_load((BPMN_DIR / "demo_org.yaml").read_text("utf-8"))
    for department in document["departments"]:
        if department["key"] == "qa":
            department.update(qa or {})
            if qa_notify is not None:
                department["notify"] = qa_notify
    for employee in document["employees"]:
        employee.update(people.get(employee["username"], {}))
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def import_org(store: Store, text: str) -> None:
    with store.writing() as uow:
        org_file.import_org(uow, text, "org.yaml", "cli:tester")


def opt_in(store: Store, username: str, **choices: bool) -> None:
    with store.writing() as uow:
        save_settings(uow, actor_named(uow, username), {"department_tasks": True, **choices})


def sender(smtp_url: str = ""):
    return channels(Settings("sqlite://", smtp_url=smtp_url, base_url="https://duty.example"),
                    catalogs())


def deliver(store: Store, smtp_url: str = "", policy=FAST, now: dt.datetime | None = None,
            worker: str | None = None):
    sending = sender(smtp_url)
    try:
        return delivery.deliver_due_once(store, sending, policy, now=now, worker=worker)
    finally:
        sending.close()


def fail_at_commit(uow) -> None:
    """Make this unit of work's commit fail, as a database going away at that moment would."""
    def database_fails_at_commit(session):
        raise RuntimeError("the database went away at commit")

    event.listen(uow.session, "before_commit", database_fails_at_commit)
