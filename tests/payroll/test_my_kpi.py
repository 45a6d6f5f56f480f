"""My performance: an employee's own KPI, by payroll's own code, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from services.identity.access import actor_named
from services.pay import kpi, my_kpi, payroll_runs
from services.persistence.models import Task, TaskEvent
from services.settings import Settings
from services.workflow import tasks
from tests.payroll.test_payroll_runs import (  # noqa: F401
    at,
    delivered,
    finalized,
    line_of,
    october,
)
from tests.web.test_api import sign_in
from web.app import create_app

SCHEME = {"indicators": [
    {"metric": "field_rate", "weight": 40, "target": "0.9", "task": "inspect_goods",
     "field": "result", "value": "pass"},
    {"metric": "on_time_rate", "weight": 30, "target": 1},
    {"metric": "completion_rate", "weight": 20, "target": 1},
    {"metric": "completed_count", "weight": 10, "target": 10}]}


def mine(store, username: str, period: str, now: dt.datetime) -> dict:
    with store.reading() as uow:
        who = actor_named(uow, username)
    return my_kpi.my_kpi(store, who, period, "UTC", now=now)


def held_inspection(store, ready: dt.datetime, who: str = "li.qa") -> str:
    """An inspection ready at `ready` (due 4 h later) that `who` claimed."""
    task = delivered(store, ready)
    with store.writing() as uow:
        tasks.claim(uow, actor_named(uow, who), task.id)
    return task.id


@pytest.fixture
def closed_october(october):  # noqa: F811
    """li.qa's October with a scheme that also counts tasks held, finalised."""
    store, hr, events = october
    # A task li.qa claimed, due in October and never done: completion_rate counts it.
    held_inspection(store, at(20, 8))
    with store.writing() as uow:
        kpi.set_scheme(uow, hr, "qa", SCHEME)
    return store, hr, finalized(store, hr, "2026-10"), events


def test_a_closed_month_shows_its_payroll_runs_figures(closed_october):
    store, hr, run_id, events = closed_october
    with store.reading() as uow:
        view = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id))
        line = next(l for l in payroll_runs.lines(uow, payroll_runs.get_run(uow, hr, run_id))
                    if l.username == "li.qa")
    for username in ("li.qa", "he.qa"):
        figures = mine(store, username, "2026-10", at(2, 9, month=12))
        paid = line_of(view, username)
        assert figures["kpi_score"] == paid["kpi_score"], username
        assert figures["run"] == {"id": run_id, "status": "final"}
    figures = mine(store, "li.qa", "2026-10", at(2, 9, month=12))
    assert figures["indicators"] == line.indicators
    assert [item["event_id"] for item in figures["events"]] == events
    assert figures["events"][0]["counts_for"] == [i["key"] for i in line.indicators
                                                  if i["metric"] != "completion_rate"]
    assert figures["payslips"] == [{"run_id": run_id, "period": "2026-10",
                                    "kpi_score": str(line.kpi_score), "gross": str(line.gross)}]
    assert figures["if_open_work_completed"] is None  # a past month: nothing to project


def test_the_figures_so_far_and_what_open_work_would_make_of_them(october):  # noqa: F811
    store, hr, events = october
    with store.writing() as uow:
        kpi.set_scheme(uow, hr, "qa", SCHEME)
    now = at(9, 10)  # October 9th, 10:00
    on_time = held_inspection(store, at(9, 8))  # due 12:00: still in time
    late = held_inspection(store, at(8, 20))  # due 00:00 on the 9th: overdue
    before = mine(store, "li.qa", "2026-10", now)
    assert [task["id"] for task in before["open_tasks"]] == [late, on_time]
    assert [task["overdue"] for task in before["open_tasks"]] == [True, False]
    by_metric = {i["metric"]: i for i in before["indicators"]}
    assert by_metric["completion_rate"]["actual"] == "0.0000"  # 0 of 2 held tasks done
    assert by_metric["completed_count"]["actual"] == "4.0000"
    projected = {i["metric"]: i for i in before["if_open_work_completed"]["indicators"]}
    assert projected["completion_rate"]["actual"] == "1.0000"
    assert projected["completed_count"]["actual"] == "6.0000"
    assert projected["on_time_rate"]["actual"] == "0.6667"  # 3 + 1 of 6: the late one is late
    assert projected["field_rate"]["actual"] == "0.5000"  # 3 of 6: empty forms do not pass
    # The projection was measured in a transaction that was rolled back.
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent)) == 2 * 5 + 2  # 5 inspections, 2 deliveries
        assert {row.status for row in uow.session.scalars(
            select(Task).where(Task.id.in_([on_time, late])))} == {"ready"}
    # What payroll would compute for the month now is what the page says.
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.reading() as uow:
        view = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id))
    assert line_of(view, "li.qa")["kpi_score"] == before["kpi_score"]
    assert mine(store, "li.qa", "2026-10", now)["payslips"] == []  # a draft is HR's


def test_the_api_and_the_page(closed_october, tmp_path):
    store, hr, run_id, _ = closed_october
    app = create_app(Settings(store.database_url, secret_key="t", files_dir=str(tmp_path)),
                     store=store)
    client = app.test_client()
    staff = sign_in(client, "li.qa")
    answer = client.get("/api/v1/me/kpi?period=2026-10", headers=staff)
    assert answer.status_code == 200, answer.json
    slip = client.get(f"/api/v1/payroll-runs/{run_id}/payslips/li.qa", headers=staff).json
    assert answer.json["kpi_score"] == slip["line"]["kpi_score"]
    assert answer.json["indicators"] == slip["indicators"]
    assert client.get("/api/v1/me/kpi?period=2026-13", headers=staff).status_code == 422
    assert client.get("/api/v1/me/kpi", headers=staff).status_code == 200  # this month
    assert client.get("/api/v1/me/kpi").status_code == 401
    from tests.web.sign_in_helpers import page_sign_in
    page_sign_in(client, "li.qa")
    page = client.get("/me/kpi?period=2026-10")
    assert page.status_code == 200
    assert f'data-value="{slip["line"]["kpi_score"]}"' in page.text
    assert f"/hr/payroll-runs/{run_id}/payslips/li.qa" in page.text
    assert client.get("/me/kpi?period=nonsense").status_code == 422
