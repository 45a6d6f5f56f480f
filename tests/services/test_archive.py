"""`dutyflow archive --before YYYY-MM`: finished instances whose pay periods are final
leave the live tables; their events stay, so payslips and evidence read as before."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from services.errors import InvalidInput, PermissionDenied
from services.identity.access import actor_named
from services.identity.actor import Actor
from services.pay import payroll_runs, payslips
from services.persistence.models import (
    ArchivedInstance,
    ProcessInstance,
    Task,
    TaskEvent,
    TaskHistory,
    Timer,
)
from services.workflow import archive, instances
from tests.conftest import ROOT
from tests.services.helpers import DELIVERY, PASS, deploy, import_demo_org, ready_task

OPERATOR = Actor("cli:ops", "", frozenset({"hr", "admin"}), frozenset())
UTC = dt.timezone.utc


def run_through(store, started: dt.datetime, finish: bool = True) -> int:
    """An inbound delivery started at `started`, each step an hour after the last."""
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "zhang.proc",
                                              now=started).id
    steps = [("register_delivery", "zhang.proc", DELIVERY), ("inspect_goods", "li.qa", PASS),
             ("warehouse_intake", "guo.wh", {"storage_location": "A-1",
                                              "received_quantity": 10})]
    for hours, (element_id, username, data) in enumerate(steps if finish else steps[:1], 1):
        task = ready_task(store, instance_id, element_id)
        with store.writing() as uow:
            instances.complete_task(uow, actor_named(uow, username), task.id, data,
                                    now=started + dt.timedelta(hours=hours))
    return instance_id


def pay(store, period: str, final: bool) -> int:
    with store.writing() as uow:
        run = payroll_runs.create_run(uow, OPERATOR, period, "UTC")
    if final:
        with store.writing() as uow:  # four eyes: someone else approves what ops prepared
            payroll_runs.approve(uow, actor_named(uow, "zhao.hr"), run.id)
        with store.writing() as uow:
            payroll_runs.finalize(uow, OPERATOR, run.id)
    return run.id


@pytest.fixture
def history(store):
    import_demo_org(store)
    deploy(store)
    september = run_through(store, dt.datetime(2026, 9, 10, 8, tzinfo=UTC))
    october = run_through(store, dt.datetime(2026, 10, 10, 8, tzinfo=UTC))
    running = run_through(store, dt.datetime(2026, 9, 20, 8, tzinfo=UTC), finish=False)
    september_run = pay(store, "2026-09", final=True)
    pay(store, "2026-10", final=False)
    return {"september": september, "october": october, "running": running,
            "september_run": september_run}


def counts(store, instance_id: int) -> dict:
    with store.reading() as uow:
        def count(model, column):
            return uow.session.scalar(select(func.count()).select_from(model)
                                      .where(column == instance_id))
        return {"tasks": count(Task, Task.process_instance_id),
                "timers": count(Timer, Timer.process_instance_id),
                "events": count(TaskEvent, TaskEvent.process_instance_id),
                "history": uow.session.scalar(
                    select(func.count()).select_from(TaskHistory).join(
                        Task, Task.id == TaskHistory.task_id)
                    .where(Task.process_instance_id == instance_id))}


def test_only_finished_instances_whose_pay_is_final_are_archived(store, history):
    with store.reading() as uow:
        evidence_before = payslips.payslip(uow, OPERATOR, history["september_run"], "li.qa",
                                           "UTC")
    before = counts(store, history["september"])
    assert before["tasks"] == 3 and before["events"] == 3

    outcome = archive.archive(store, OPERATOR, "2026-11", "UTC")

    assert outcome.archived == 1
    assert outcome.skipped == {"pay period 2026-10 is not final": 1}
    after = counts(store, history["september"])
    assert after == {"tasks": 0, "timers": 0, "events": 3, "history": 0}
    with store.reading() as uow:
        row = uow.session.get(ProcessInstance, history["september"])
        assert row.archived_at is not None and row.state == {} and row.status == "completed"
        document = uow.session.get(ArchivedInstance, history["september"]).document
        assert document["state"] and len(document["rows"]["tasks"]) == 3
        assert {task["element_id"] for task in document["rows"]["tasks"]} == {
            "register_delivery", "inspect_goods", "warehouse_intake"}
        evidence_after = payslips.payslip(uow, OPERATOR, history["september_run"], "li.qa",
                                          "UTC")
    assert evidence_after == evidence_before  # payslip and evidence read as before
    assert counts(store, history["october"])["tasks"] == 3  # its period is still a draft
    assert counts(store, history["running"])["tasks"] == 2  # running work never moves


def test_a_dry_run_moves_nothing_and_a_second_run_finds_nothing(store, history):
    assert archive.archive(store, OPERATOR, "2026-11", "UTC", dry_run=True).archived == 1
    assert counts(store, history["september"])["tasks"] == 3
    assert archive.archive(store, OPERATOR, "2026-11", "UTC").archived == 1
    again = archive.archive(store, OPERATOR, "2026-11", "UTC")
    assert again.archived == 0 and again.skipped == {"pay period 2026-10 is not final": 1}


def test_instances_finished_after_the_cut_off_stay(store, history):
    assert archive.archive(store, OPERATOR, "2026-09", "UTC").archived == 0
    assert counts(store, history["september"])["tasks"] == 3


def test_only_admins_archive_and_the_period_must_be_a_month(store, history):
    with store.reading() as uow:
        hr = actor_named(uow, "zhao.hr")
    with pytest.raises(PermissionDenied):
        archive.archive(store, hr, "2026-11", "UTC")
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        archive.archive(store, OPERATOR, "November", "UTC")


def test_the_archived_instance_still_shows_its_history_over_the_api(store, history):
    from services.settings import Settings
    from web.app import create_app
    archive.archive(store, OPERATOR, "2026-11", "UTC")
    client = create_app(Settings(store.database_url, secret_key="test"), store=store).test_client()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": "demo"})
    shown = client.get(f"/api/v1/process-instances/{history['september']}",
                       headers={"Authorization": f"Bearer {token.json['token']}"})
    assert shown.status_code == 200
    assert shown.json["archived_at"] and len(shown.json["history"]) == 3


def test_the_cli_archives(store, history):
    result = subprocess.run([sys.executable, "-m", "web.cli", "archive", "--before", "2026-11"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, DATABASE_URL=store.database_url))
    assert result.returncode == 0, result.stderr
    assert "archived 1 instance(s) finished before 2026-11" in result.stdout
    assert "kept 1: pay period 2026-10 is not final" in result.stdout
