"""services.reporting.reports against figures worked out by hand (SQLite and PostgreSQL).

The scenario, inbound_materials in the demo org, all times UTC:

    A  register_delivery  due Jan 6 09:00   zhang.proc  Jan 5 10:00  on time
       inspect_goods      due Jan 5 14:00   li.qa       Jan 5 15:00  late
       warehouse_intake   due Jan 31 12:00  open
    B  register_delivery  due Jan 12 09:00  zhang.proc  Jan 20 09:00 late
       inspect_goods      due Jan 20 13:00  open
    C  register_delivery  no due time       lin.proc    Jan 16 09:00
       inspect_goods      due Jan 16 13:00  open
    D  register_delivery  due Feb 1 09:00   zhang.proc  Feb 2 09:00  late

January: procurement has 2 tasks due (A, B), both completed: 100 %; 3 completions, of
which A on time and B late (C had no due time): 50 %. QA has 3 due (A, B, C), 1
completed: 33.33 %; its one completion was late: 0 %. Warehouse has 1 due, none done.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from payroll.periods import Period
from services.errors import PermissionDenied
from services.identity.access import actor_named
from services.persistence.models import Task
from services.reporting import reports
from services.workflow import instances
from tests.services.helpers import DELIVERY, PASS, deploy, import_demo_org


def at(month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(2030, month, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def scenario(store):
    import_demo_org(store)
    deploy(store)
    a = start_at(store, at(1, 5, 9), due=at(1, 6, 9))
    complete_at(store, a, "register_delivery", "zhang.proc", DELIVERY, at(1, 5, 10))
    complete_at(store, a, "inspect_goods", "li.qa", PASS, at(1, 5, 15))
    set_due(store, a, "warehouse_intake", at(1, 31, 12))
    b = start_at(store, at(1, 10, 9), due=at(1, 12, 9))
    complete_at(store, b, "register_delivery", "zhang.proc", DELIVERY, at(1, 20, 9))
    c = start_at(store, at(1, 15, 9), due=None)
    complete_at(store, c, "register_delivery", "lin.proc", DELIVERY, at(1, 16, 9))
    d = start_at(store, at(1, 31, 9), due=at(2, 1, 9))
    complete_at(store, d, "register_delivery", "zhang.proc", DELIVERY, at(2, 2, 9))
    return store


def start_at(store, now: dt.datetime, due: dt.datetime | None) -> int:
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "tester",
                                              now=now).id
    set_due(store, instance_id, "register_delivery", due)
    return instance_id


def ready(uow, instance_id: int, element_id: str) -> str:
    return uow.session.scalars(select(Task.id).where(
        Task.process_instance_id == instance_id, Task.element_id == element_id,
        Task.status == "ready")).one()


def set_due(store, instance_id: int, element_id: str, due: dt.datetime | None) -> None:
    with store.writing() as uow:
        uow.session.execute(update(Task).where(Task.id == ready(uow, instance_id, element_id))
                            .values(due_at=due))
        uow.commit()


def complete_at(store, instance_id: int, element_id: str, username: str, data: dict,
                now: dt.datetime) -> None:
    with store.writing() as uow:
        instances.complete_task(uow, actor_named(uow, username),
                                ready(uow, instance_id, element_id), data, now=now)


def as_user(store, username: str, report, *args):
    with store.reading() as uow:
        return report(uow, actor_named(uow, username), *args)


JANUARY, FEBRUARY = Period(2030, 1), Period(2030, 2)


def test_the_ranking_counts_tasks_due_in_the_period_and_completions_in_it(scenario):
    rows = {row["department"]: row for row in
            as_user(scenario, "liu.gm", reports.department_ranking, JANUARY)}
    picked = {key: (row["tasks_due"], row["completed"], row["completion_rate"],
                    row["on_time_rate"]) for key, row in rows.items()
              if key in ("procurement", "qa", "warehouse", "sales")}
    assert picked == {"procurement": (2, 3, "1.0000", "0.5000"),
                      "qa": (3, 1, "0.3333", "0.0000"),
                      "warehouse": (1, 0, "0.0000", None),
                      "sales": (0, 0, None, None)}


def test_the_ranking_puts_higher_completion_first_and_departments_without_tasks_last(scenario):
    rows = as_user(scenario, "qian.hr", reports.department_ranking, JANUARY)
    assert [row["department"] for row in rows][:3] == ["procurement", "qa", "warehouse"]
    assert [row["rank"] for row in rows] == list(range(1, len(rows) + 1))
    assert [row["department"] for row in rows][3:] == sorted(row["department"] for row in rows[3:])


def test_a_completion_counts_in_the_month_it_happened(scenario):
    rows = {row["department"]: row for row in
            as_user(scenario, "admin", reports.department_ranking, FEBRUARY)}
    assert (rows["procurement"]["tasks_due"], rows["procurement"]["completed"],
            rows["procurement"]["on_time_rate"]) == (1, 1, "0.0000")


def test_staff_get_no_ranking(scenario):
    with pytest.raises(PermissionDenied):
        as_user(scenario, "zhang.proc", reports.department_ranking, JANUARY)


def test_an_employee_report_lists_the_period_s_completions_in_time_order(scenario):
    report = as_user(scenario, "zhang.proc", reports.employee_report, "zhang.proc", JANUARY)
    assert (report["username"], report["period"], report["completed"], report["on_time_rate"]) \
        == ("zhang.proc", "2030-01", 2, "0.5000")
    assert [(event["task"], event["completed_at"][:13]) for event in report["events"]] == \
        [("register_delivery", "2030-01-05T10"), ("register_delivery", "2030-01-20T09")]


def test_completions_without_a_due_time_have_no_on_time_rate(scenario):
    report = as_user(scenario, "lin.proc", reports.employee_report, "lin.proc", JANUARY)
    assert (report["completed"], report["on_time_rate"]) == (1, None)


def test_a_manager_reads_the_reports_of_the_subtree_only(scenario):
    report = as_user(scenario, "zheng.proc", reports.employee_report, "zhang.proc", JANUARY)
    assert report["completed"] == 2
    with pytest.raises(PermissionDenied):
        as_user(scenario, "wang.qa", reports.employee_report, "zhang.proc", JANUARY)
    with pytest.raises(PermissionDenied):
        as_user(scenario, "lin.proc", reports.employee_report, "zhang.proc", JANUARY)


def trend_rows(store, start: dt.date, end: dt.date, granularity: str, zone: str = "UTC"
               ) -> list[tuple]:
    rows = as_user(store, "liu.gm", reports.trend, start, end, granularity, zone)
    return [(r["bucket"], r["department"], r["completed"], r["on_time_rate"]) for r in rows]


def test_the_monthly_trend_counts_completions_per_department_and_month(scenario):
    assert trend_rows(scenario, dt.date(2030, 1, 1), dt.date(2030, 3, 1), "month") == [
        ("2030-01", "procurement", 3, "0.5000"),
        ("2030-01", "qa", 1, "0.0000"),
        ("2030-02", "procurement", 1, "0.0000")]


def test_the_weekly_trend_labels_weeks_by_their_monday_and_leaves_out_empty_ones(scenario):
    assert trend_rows(scenario, dt.date(2030, 1, 1), dt.date(2030, 1, 22), "week") == [
        ("2029-12-31", "procurement", 1, "1.0000"),
        ("2029-12-31", "qa", 1, "0.0000"),
        ("2030-01-14", "procurement", 2, "0.0000")]


def test_the_trend_counts_days_in_the_configured_time_zone(scenario):
    """January 5 in Tokyo (UTC+9) ends at 15:00 UTC: the 15:00 inspection falls on the 6th."""
    def day_five(zone: str) -> list[tuple[str, int]]:
        rows = trend_rows(scenario, dt.date(2030, 1, 5), dt.date(2030, 1, 6), "month", zone)
        return [(department, completed) for _, department, completed, _ in rows]

    assert day_five("UTC") == [("procurement", 1), ("qa", 1)]
    assert day_five("Asia/Tokyo") == [("procurement", 1)]
