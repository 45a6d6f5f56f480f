"""What-if: a proposed KPI scheme scored on past months beside what was paid, by payroll's
own scoring, writing nothing; on SQLite and PostgreSQL."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.errors import InvalidInput, NotFound, PermissionDenied
from services.pay import payroll_runs, what_if
from services.persistence.models import Base
from tests.payroll.test_payroll_runs import (  # noqa: F401 (october is a fixture)
    QA_SCHEME, actor, at, finalized, inspect, october)

# Targets raised: passed inspections 0.9 -> 1.0, handling 2 h -> 1.5 h.
RAISED = {"indicators": [
    {"metric": "field_rate", "weight": 50, "target": "1.0", "task": "inspect_goods",
     "field": "result", "value": "pass"},
    {"metric": "on_time_rate", "weight": 30, "target": 1},
    {"metric": "avg_handling_hours", "weight": 20, "target": "1.5"}]}


def compare(store, hr, scheme, periods, department="qa"):
    return what_if.what_if(store, hr, department, {"scheme": scheme, "periods": periods}, "UTC")


def row_of(result, username, period="2026-10"):
    return next(row for row in result["rows"]
                if row["username"] == username and row["period"] == period)


def test_raised_targets_lower_the_bonuses_of_those_they_bite(october):
    store, hr, _ = october
    inspect(store, at(9, 8), at(9, 9), "pass", who="he.qa")  # 1 of 1 passed, on time, 1 h
    result = compare(store, hr, RAISED, ["2026-10"])
    assert {row["username"] for row in result["rows"]} == {"wang.qa", "li.qa", "he.qa"}
    li, he, wang = (row_of(result, name) for name in ("li.qa", "he.qa", "wang.qa"))
    # li.qa (bonus base 2000.00): passed 3/4, on time 3/4, 11 h / 4 = 2.75 h
    # in force: 0.75/0.9 = 0.8333, 0.75, 2/2.75 = 0.7273 -> 0.7871 -> 1574.20
    # raised:   0.75/1.0 = 0.7500, 0.75, 1.5/2.75 = 0.5455 -> 0.7091 -> 1418.20
    assert (li["source"], li["scheme_version"]) == ("scheme", 1)
    assert (li["actual_kpi_score"], li["actual_bonus"]) == ("0.7871", "1574.20")
    assert (li["proposed_kpi_score"], li["proposed_bonus"]) == ("0.7091", "1418.20")
    assert (li["kpi_score_delta"], li["bonus_delta"]) == ("-0.0780", "-156.00")
    # he.qa: passed 1/1, on time 1/1, 1 h
    # in force: min(1/0.9, 1.2) = 1.1111, 1, min(2/1, 1.2) = 1.2 -> 1.0956 -> 2191.20
    # raised:   1/1.0 = 1.0000, 1, min(1.5/1, 1.2) = 1.2 -> 1.0400 -> 2080.00
    assert (he["actual_bonus"], he["proposed_bonus"], he["bonus_delta"]) == (
        "2191.20", "2080.00", "-111.20")
    # wang.qa did no inspection: nothing applies under either scheme
    assert (wang["actual_bonus"], wang["proposed_bonus"], wang["bonus_delta"]) == (
        "0.00", "0.00", "0.00")
    assert wang["flags"] == ["no_applicable_indicator"]

    assert result["totals"] == {"employees": 3, "actual_bonus": "3765.40",
                                "proposed_bonus": "3498.20", "bonus_delta": "-267.20",
                                "raised": 0, "lowered": 2, "unchanged": 1}
    assert [e["username"] for e in result["employees"]] == ["li.qa", "he.qa", "wang.qa"]
    buckets = {b["change"]: b["employees"] for b in result["distribution"]}
    # -156.00 / 1574.20 = -9.9 %; -111.20 / 2191.20 = -5.07 %
    assert buckets["-10% .. -5%"] == 2 and buckets["unchanged"] == 1
    assert sum(buckets.values()) == 3


@pytest.mark.parametrize("by_name", [True, False], ids=["by-name", "whole-month"])
def test_the_scheme_in_force_equals_the_final_run_to_the_cent(october, by_name, monkeypatch):
    """Also when the month's events are measured for everyone (a big department)."""
    if not by_name:
        monkeypatch.setattr(what_if, "BY_NAME_UP_TO", 0)
    store, hr, _ = october
    run_id = finalized(store, hr, "2026-10")
    inspect(store, at(3, 8, month=11), at(3, 20, month=11), "pass")  # November: a draft month
    result = compare(store, hr, QA_SCHEME, ["2026-11", "2026-10", "2026-10"])
    assert result["periods"] == ["2026-10", "2026-11"]
    with store.reading() as uow:
        lines = {line["username"]: line for line in payroll_runs.run_view(
            uow, payroll_runs.get_run(uow, hr, run_id))["lines"] if line["department"] == "qa"}
    october_rows = [row for row in result["rows"] if row["period"] == "2026-10"]
    assert {row["username"] for row in october_rows} == set(lines)
    for row in october_rows:
        line = lines[row["username"]]
        assert (row["source"], row["run_id"]) == ("final_run", run_id)
        assert (row["proposed_kpi_score"], row["proposed_bonus"]) == (line["kpi_score"],
                                                                     line["bonus"])
        assert (row["actual_bonus"], row["bonus_delta"]) == (line["bonus"], "0.00")
    assert row_of(result, "li.qa")["proposed_bonus"] == "1574.20"
    november = [row for row in result["rows"] if row["period"] == "2026-11"]
    assert {row["source"] for row in november} == {"scheme"}
    assert all(row["bonus_delta"] == "0.00" for row in november)
    assert row_of(result, "li.qa", "2026-11")["proposed_bonus"] != "0.00"
    assert result["totals"]["unchanged"] == len(result["rows"])


def _row_counts(store) -> dict[str, int]:
    with store.reading() as uow:
        return {table.name: uow.session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


def test_a_what_if_writes_nothing_and_refuses_bad_requests(october):
    store, hr, _ = october
    finalized(store, hr, "2026-10")
    before = _row_counts(store)
    assert before["payroll_runs"] == 1 and before["audit_entries"] > 0
    compare(store, hr, RAISED, ["2026-09", "2026-10", "2026-11"])
    assert _row_counts(store) == before

    with pytest.raises(PermissionDenied):
        compare(store, actor(store, "li.qa"), RAISED, ["2026-10"])
    with pytest.raises(NotFound):
        compare(store, hr, RAISED, ["2026-10"], department="nowhere")
    with pytest.raises(InvalidInput) as refused:
        compare(store, hr, {"indicators": [{"metric": "on_time_rate", "weight": 90,
                                            "target": 1}]}, ["2026-10", "2026-13", 7])
    assert set(refused.value.errors) == {"scheme.indicators", "periods[1]", "periods[2]"}
    with pytest.raises(InvalidInput) as empty:
        compare(store, hr, RAISED, [])
    assert "periods" in empty.value.errors
    with pytest.raises(InvalidInput):
        what_if.what_if(store, hr, "qa", ["not", "an", "object"], "UTC")
    assert _row_counts(store) == before
