"""Payroll on a real database: hand-computed figures, finalisation, corrections, exports."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from services.errors import Conflict, InvalidInput, PermissionDenied
from services.identity.access import actor_for, actor_named
from services.org import org_file
from services.pay import exports, kpi, payroll_runs, payslips
from services.persistence.models import AuditEntry, Employee, OrgChange, PayrollRun, TaskEvent
from services.reporting import reports
from services.workflow import corrections, instances
from tests.conftest import BPMN_DIR
from tests.payroll.test_scoring import QA_SCHEME
from tests.services.helpers import deploy, import_demo_org, ready_task

UTC = dt.timezone.utc


def at(day: int, hour: int, month: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=UTC)


def actor(store, username):
    with store.reading() as uow:
        employee = uow.session.scalars(select(Employee).where(Employee.username == username)).one()
        return actor_for(uow, employee)


def delivered(store, ready: dt.datetime):
    """A delivery registered at `ready`: its inspection task, ready then (due 4 h later)."""
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "t", now=ready).id
    register = ready_task(store, instance_id, "register_delivery")
    with store.writing() as uow:
        instances.complete_task(uow, actor_named(uow, "zhang.proc"), register.id,
                                {"supplier": "S", "material": "M", "quantity": 1}, now=ready)
    return ready_task(store, instance_id, "inspect_goods")


def inspect(store, ready: dt.datetime, done: dt.datetime, result: str, who: str = "li.qa") -> int:
    """An inspection that became ready at `ready` (due 4 h later) and was completed at `done`."""
    task = delivered(store, ready)
    with store.writing() as uow:
        instances.complete_task(uow, actor_named(uow, who), task.id,
                                {"result": result, "defects": 0}, now=done)
    with store.reading() as uow:
        return uow.session.scalars(select(TaskEvent.id).where(TaskEvent.task_id == task.id)).one()


@pytest.fixture
def october(store):
    """li.qa's October: 4 inspections, 3 passed, 3 on time, 11 hours of handling."""
    import_demo_org(store)
    deploy(store)
    events = [inspect(store, at(5, 8), at(5, 9), "pass"),
              inspect(store, at(6, 8), at(6, 13), "fail"),
              inspect(store, at(7, 8), at(7, 10), "pass"),
              inspect(store, at(8, 8), at(8, 11), "pass")]
    inspect(store, at(3, 8, month=11), at(3, 9, month=11), "fail")  # November: not counted
    hr = actor(store, "zhao.hr")
    with store.writing() as uow:
        kpi.set_scheme(uow, hr, "qa", QA_SCHEME)
    return store, hr, events


def approve(store, run_id: int, approver: str = "qian.hr") -> None:
    """Four eyes: the second HR user of the demo org approves the run."""
    with store.writing() as uow:
        payroll_runs.approve(uow, actor(store, approver), run_id)


def finalized(store, hr, period: str) -> int:
    """A run for `period`, prepared by `hr`, approved by qian.hr and finalised."""
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, period, "UTC").id
    approve(store, run_id)
    with store.writing() as uow:
        payroll_runs.finalize(uow, hr, run_id)
    return run_id


def line_of(view, username):
    return next(line for line in view["lines"] if line["username"] == username)


def run_with_payslip(store, hr, period: str, username: str):
    """A new run for `period`: its id, its view and `username`'s payslip."""
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, period, "UTC").id
    with store.reading() as uow:
        return (run_id, payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id)),
                payslips.payslip(uow, hr, run_id, username, "UTC"))


def test_hand_computed_run(october):
    store, hr, _ = october
    with store.writing() as uow:
        run = payroll_runs.create_run(uow, hr, "2026-10", "UTC")
    with store.reading() as uow:
        view = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run.id))
    li = line_of(view, "li.qa")
    assert (li["kpi_score"], li["bonus"], li["gross"]) == ("0.7871", "1574.20", "9574.20")
    he = line_of(view, "he.qa")
    assert (he["kpi_score"], he["bonus"], he["flags"]) == ("0.0000", "0.00", ["no_applicable_indicator"])
    assert line_of(view, "zhang.proc")["flags"] == ["no_scheme"]
    assert view["status"] == "draft" and view["scheme_versions"] == {"qa": 1}
    totals = view["totals"]
    assert Decimal(totals["gross"]) == sum(Decimal(line["gross"]) for line in view["lines"])
    assert totals["employees"] == len(view["lines"])


def test_kpi_report_matches_the_run(october):
    store, hr, _ = october
    with store.reading() as uow:
        report = kpi.kpi_report(uow, hr, kpi.parse_period("2026-10", "UTC"), "qa")
    li = next(entry for entry in report if entry["username"] == "li.qa")
    assert [(i["actual"], i["score"], i["applicable"]) for i in li["indicators"]] == [
        ("0.7500", "0.8333", True), ("0.7500", "0.7500", True), ("2.7500", "0.7273", True)]
    assert li["kpi_score"] == "0.7871"


def demo_org_without(username: str) -> str:
    """The demo org file with one employee's entry (two lines) left out: they leave."""
    text = (BPMN_DIR / "demo_org.yaml").read_text("utf-8")
    first = next(line for line in text.splitlines(keepends=True) if f"username: {username}," in line)
    entry = first + text.split(first, 1)[1].splitlines(keepends=True)[0]
    return text.replace(entry, "")


def import_org_at(store, text: str, when: dt.datetime | None = None) -> None:
    """An org import, recorded as made `when` (default: now, after every test period)."""
    with store.writing() as uow:
        report = org_file.import_org(uow, text, "reorganised.yaml", "cli:tester")
        if when is not None:
            uow.session.execute(update(OrgChange).where(OrgChange.import_id == report.import_id)
                                .values(changed_at=when))
        uow.commit()


def reorganised(when: dt.datetime | None = None):
    """li.qa moves to the warehouse with a raise; he.qa leaves."""
    li_before = ('{username: li.qa, name: 李娜, department: qa, position: Inspector, manager: wang.qa,\n'
                 '     roles: [staff], base_salary: "8000.00"')
    li_after = li_before.replace("department: qa", "department: warehouse").replace("8000.00", "9000.00")
    text = demo_org_without("he.qa")
    assert li_before in text
    return text.replace(li_before, li_after)


def october_after_reorganising(october, when: dt.datetime | None):
    """The October run and QA's KPI report, after the reorganisation was imported `when`."""
    store, hr, _ = october
    import_org_at(store, reorganised(), when)
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.reading() as uow:
        view = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id))
        report = kpi.kpi_report(uow, hr, kpi.parse_period("2026-10", "UTC"), "qa")
    return view, {entry["username"] for entry in report}


def test_a_month_is_paid_as_the_org_stood_at_its_end(october):
    view, reported = october_after_reorganising(october, None)
    li = line_of(view, "li.qa")
    assert (li["department"], li["base_salary"], li["kpi_score"], li["gross"]) == (
        "qa", "8000.00", "0.7871", "9574.20")
    assert line_of(view, "he.qa")["department"] == "qa"  # left after October: paid for it
    assert {"li.qa", "he.qa"} <= reported


def test_changes_made_within_the_month_apply_to_it(october):
    view, reported = october_after_reorganising(october, at(15, 12))
    li = line_of(view, "li.qa")
    assert (li["department"], li["base_salary"], li["flags"], li["gross"]) == (
        "warehouse", "9000.00", ["no_scheme"], "9000.00")
    assert "he.qa" not in {line["username"] for line in view["lines"]}
    assert not {"li.qa", "he.qa"} & reported


def test_recalculation_is_idempotent_and_final_runs_are_frozen(october):
    store, hr, _ = october
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.reading() as uow:
        first = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id))
    with store.writing() as uow:
        payroll_runs.recalculate(uow, hr, run_id, "UTC")
    with store.reading() as uow:
        assert payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run_id))["lines"] == first["lines"]
    with pytest.raises(Conflict, match="not approved"):
        with store.writing() as uow:
            payroll_runs.finalize(uow, hr, run_id)
    approve(store, run_id)
    with store.writing() as uow:
        assert payroll_runs.finalize(uow, hr, run_id).status == "final"
    for change in (lambda uow: payroll_runs.recalculate(uow, hr, run_id, "UTC"),
                   lambda uow: payroll_runs.finalize(uow, hr, run_id),
                   lambda uow: payroll_runs.create_run(uow, hr, "2026-10", "UTC")):
        with pytest.raises(Conflict):
            with store.writing() as uow:
                change(uow)
    with store.reading() as uow:
        actions = uow.session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "payroll_run")).all()
    assert actions == ["created", "recalculated", "approved", "finalized"]


def test_correction_of_a_final_period_lands_in_the_next_run(october):
    store, hr, events = october
    with store.writing() as uow:
        october_run = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    approve(store, october_run)
    with store.writing() as uow:
        payroll_runs.finalize(uow, hr, october_run)
    with pytest.raises(PermissionDenied):
        with store.writing() as uow:
            corrections.correct_event(uow, actor(store, "li.qa"), events[1], {"result": "pass"}, "x")
    with pytest.raises(InvalidInput):
        with store.writing() as uow:
            corrections.correct_event(uow, actor(store, "wang.qa"), events[1], {"result": "maybe"},
                                      "typo")
    with store.writing() as uow:
        corrections.correct_event(uow, actor(store, "wang.qa"), events[1], {"result": "pass"},
                                  "sample re-tested: within tolerance")
    with store.reading() as uow:
        frozen = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, october_run))
    assert line_of(frozen, "li.qa")["bonus"] == "1574.20"  # the final run stays as it was
    november, view, slip = run_with_payslip(store, hr, "2026-11", "li.qa")
    li = line_of(view, "li.qa")
    # October recomputed: field rate 4/4 -> 1.1111; KPI 0.9260; bonus 1852.00; 1852.00 - 1574.20
    assert li["adjustments"] == "277.80"
    [adjustment] = slip["adjustments"]
    assert adjustment["source_period"] == "2026-10"
    assert f"event #{events[1]}" in adjustment["reason"] and "re-tested" in adjustment["reason"]
    with store.writing() as uow:
        payroll_runs.recalculate(uow, hr, november, "UTC")
    with store.reading() as uow:
        again = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, november))
    assert line_of(again, "li.qa")["adjustments"] == "277.80"  # recalculation does not double it
    approve(store, november)
    with store.writing() as uow:
        payroll_runs.finalize(uow, hr, november)
    with store.writing() as uow:
        december = payroll_runs.create_run(uow, hr, "2026-12", "UTC").id
    with store.reading() as uow:
        later = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, december))
    assert line_of(later, "li.qa")["adjustments"] == "0.00"  # settled once, never again


def test_a_correction_owed_to_a_leaver_is_paid_on_a_line_of_its_own(october):
    store, hr, events = october
    finalized(store, hr, "2026-10")
    with store.writing() as uow:
        corrections.correct_event(uow, actor(store, "wang.qa"), events[1], {"result": "pass"},
                                  "sample re-tested")
    import_org_at(store, demo_org_without("li.qa"), at(20, 12, month=11))  # li.qa leaves
    _, view, slip = run_with_payslip(store, hr, "2026-11", "li.qa")
    line = line_of(view, "li.qa")
    assert (line["department"], line["base_salary"], line["bonus"], line["adjustments"],
            line["gross"], line["flags"]) == ("qa", "0.00", "0.00", "277.80", "277.80",
                                              ["adjustments_only"])
    assert view["totals"]["adjustments"] == "277.80"
    assert Decimal(view["totals"]["gross"]) == sum(Decimal(row["gross"]) for row in view["lines"])
    assert [a["source_period"] for a in slip["adjustments"]] == ["2026-10"]


def test_events_store_their_handling_time_and_punctuality(store):
    """Filled in by the model when the event is written: both times cut to the second."""
    import_demo_org(store)
    deploy(store)
    tenths = dt.timedelta(milliseconds=100)
    quick = inspect(store, at(5, 8) + 5 * tenths, at(5, 9) + tenths, "pass")  # due 12:00:00.5
    late = inspect(store, at(6, 8), at(6, 12) + 10 * tenths, "fail")  # due 12:00:00
    with store.writing() as uow:
        corrected = corrections.correct_event(uow, actor(store, "wang.qa"), late,
                                              {"result": "pass"}, "re-tested").id
    with store.reading() as uow:
        stored = {row.id: (row.handling_seconds, row.on_time) for row in uow.session.execute(
            select(TaskEvent.id, TaskEvent.handling_seconds, TaskEvent.on_time))}
    assert stored[quick] == (3600, True)  # 08:00:00 to 09:00:00, not the 3599.6 s between
    assert stored[late] == stored[corrected] == (4 * 3600 + 1, False)


def test_payslip_evidence_matches_the_figures(october):
    store, hr, events = october
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.reading() as uow:
        slip = payslips.payslip(uow, hr, run_id, "li.qa", "UTC")
        own = payslips.payslip(uow, actor(store, "li.qa"), run_id, "li.qa", "UTC")
        with pytest.raises(PermissionDenied):
            payslips.payslip(uow, actor(store, "he.qa"), run_id, "li.qa", "UTC")
    assert own == slip
    evidence = slip["evidence"]
    assert [item["event_id"] for item in evidence] == events
    assert [item["on_time"] for item in evidence] == [True, False, True, True]
    assert sum(item["data"]["result"] == "pass" for item in evidence) / len(evidence) == 0.75
    hours = [(dt.datetime.fromisoformat(i["completed_at"]) - dt.datetime.fromisoformat(i["ready_at"]))
             .total_seconds() / 3600 for i in evidence]
    assert sum(hours) / len(hours) == 2.75
    assert all(len(item["counts_for"]) == 3 for item in evidence)
    assert slip["line"]["bonus"] == "1574.20"


def test_exports_are_safe_and_open(october):
    store, hr, _ = october
    with store.writing() as uow:
        uow.session.execute(Employee.__table__.update().where(Employee.username == "he.qa")
                            .values(name="=HYPERLINK(\"http://x\")"))
        uow.commit()
    with store.writing() as uow:
        run = payroll_runs.create_run(uow, hr, "2026-10", "UTC")
    with store.reading() as uow:
        text = exports.to_csv(uow, run).decode("utf-8-sig")
        workbook = load_workbook(io.BytesIO(exports.to_xlsx(uow, run)))
    rows = list(csv.DictReader(io.StringIO(text)))
    he = next(row for row in rows if row["username"] == "he.qa")
    assert he["name"].startswith("'=")
    li = next(row for row in rows if row["username"] == "li.qa")
    assert (li["name"], li["bonus"], li["gross"]) == ("李娜", "1574.20", "9574.20")
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert cells["he.qa"][header.index("name")].data_type == "s"
    assert Decimal(str(cells["li.qa"][header.index("gross")].value)) == Decimal("9574.20")


def test_scheme_versions_and_audit(october):
    store, hr, _ = october
    changed = {**QA_SCHEME, "cap": "1.5"}
    with store.writing() as uow:
        assert kpi.set_scheme(uow, hr, "qa", QA_SCHEME).version == 1  # unchanged
    with store.writing() as uow:
        assert kpi.set_scheme(uow, hr, "qa", changed).version == 2
    with pytest.raises(PermissionDenied):
        with store.writing() as uow:
            kpi.set_scheme(uow, actor(store, "wang.qa"), "qa", changed)
    with pytest.raises(InvalidInput) as caught:
        with store.writing() as uow:
            kpi.set_scheme(uow, hr, "qa", {"indicators": [{"metric": "on_time_rate", "weight": 50,
                                                            "target": 1}]})
    assert "indicators" in caught.value.errors
    with store.reading() as uow:
        entries = uow.session.scalars(select(AuditEntry).where(AuditEntry.entity == "kpi_scheme")
                                      .order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action) for e in entries] == [("zhao.hr", "version 1"), ("zhao.hr", "version 2")]
    assert entries[1].old["cap"] == "1.2" and entries[1].new["cap"] == "1.5"


def test_payslip_pages_match_the_full_evidence(october):
    store, hr, events = october
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.reading() as uow:
        full = payslips.payslip(uow, hr, run_id, "li.qa", "UTC")
        first = payslips.payslip(uow, hr, run_id, "li.qa", "UTC", page=(3, 0))
        second = payslips.payslip(uow, hr, run_id, "li.qa", "UTC", page=(3, 3))
    assert first["evidence_total"] == second["evidence_total"] == 4 == full["evidence_total"]
    assert first["evidence"] + second["evidence"] == full["evidence"]
    assert first["other_total"] == 0 and first["other_departments"] == []


def test_trend_buckets_follow_the_configured_time_zone(store):
    """Saturday 31 Oct 20:00 UTC is already Sunday 1 Nov in Shanghai, and Sunday 1 Nov
    20:00 UTC is Monday 2 Nov there: the same completions fall in other months and weeks."""
    import_demo_org(store)
    deploy(store)
    inspect(store, at(31, 19), at(31, 20), "pass")
    inspect(store, at(1, 19, month=11), at(1, 20, month=11), "pass")
    manager = actor(store, "wang.qa")

    def qa(granularity, timezone, start=dt.date(2026, 10, 1), end=dt.date(2026, 12, 1)):
        with store.reading() as uow:
            return [(row["bucket"], row["completed"]) for row in reports.trend(
                uow, manager, start, end, granularity, timezone) if row["department"] == "qa"]

    assert qa("month", "UTC") == [("2026-10", 1), ("2026-11", 1)]
    assert qa("month", "Asia/Shanghai") == [("2026-11", 2)]
    assert qa("week", "UTC") == [("2026-10-26", 2)]
    assert qa("week", "Asia/Shanghai") == [("2026-10-26", 1), ("2026-11-02", 1)]
    # the range is clipped to the days asked for, in that zone
    assert qa("week", "Asia/Shanghai", end=dt.date(2026, 11, 2)) == [("2026-10-26", 1)]
    # New York leaves summer time on 1 Nov 2026: 16:00 EDT on the 31st, 15:00 EST on the 1st
    assert qa("month", "America/New_York", start=dt.date(2026, 10, 31)) == [("2026-10", 1),
                                                                            ("2026-11", 1)]
    with pytest.raises(InvalidInput), store.reading() as uow:
        reports.trend(uow, manager, dt.date(2026, 10, 1), dt.date(2026, 11, 1), "month", "Mars/Base")


def test_a_scheme_dated_from_a_later_period_leaves_earlier_ones_alone(october):
    store, hr, _ = october
    for_november = {**QA_SCHEME, "cap": "1.5", "effective_from": "2026-11"}
    with store.writing() as uow:
        assert kpi.set_scheme(uow, hr, "qa", for_november).version == 2
    run_id, view, _ = run_with_payslip(store, hr, "2026-10", "li.qa")
    assert view["scheme_versions"] == {"qa": 1} and line_of(view, "li.qa")["kpi_score"] == "0.7871"
    with store.reading() as uow:
        def version_for(period):
            report = kpi.kpi_report(uow, hr, kpi.parse_period(period, "UTC"), "qa")
            return {row["scheme_version"] for row in report}
        assert (version_for("2026-10"), version_for("2026-11")) == ({1}, {2})
        assert kpi.scheme_view(kpi.get_scheme(uow, hr, "qa"))["effective_from"] == "2026-11"
    undated = {**QA_SCHEME, "cap": "1.0"}  # no date: in effect for every period
    with store.writing() as uow:
        assert kpi.set_scheme(uow, hr, "qa", undated).version == 3
    with store.writing() as uow:
        recalculated = payroll_runs.recalculate(uow, hr, run_id, "UTC")
        assert recalculated.scheme_versions == {"qa": 3}


def test_a_lost_race_on_a_run_changes_nothing_and_names_the_payroll_run(october):
    """Another writer's commit between our read and our write (PostgreSQL lets that happen;
    SQLite queues writers), played inside one transaction by bumping the run's version."""
    store, hr, _ = october
    with store.writing() as uow:
        run_id = payroll_runs.create_run(uow, hr, "2026-10", "UTC").id
    with store.writing() as uow:
        run = uow.session.get(PayrollRun, run_id)
        uow.session.execute(update(PayrollRun.__table__).where(PayrollRun.id == run_id)
                            .values(lock_version=PayrollRun.lock_version + 1))
        run.finalized_by = "late"
        with pytest.raises(Conflict, match="the payroll run was changed by someone else"):
            uow.commit()
    with store.reading() as uow:
        assert uow.session.get(PayrollRun, run_id).finalized_by is None
