"""Payroll run invariants by property, on SQLite and PostgreSQL.

Hypothesis draws salaries, bonus bases (cents that make x.xx5 bonuses common), a scheme
cap and target, and each person's completions of a month; the run must then add up:
each line's gross is its parts, each total the sum of the rounded lines, each bonus the
bonus base times the KPI score rounded half up, each KPI score within [0, cap].
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from payroll.periods import Period
from services.identity.access import actor_named
from services.pay import kpi, payroll_runs
from services.persistence.models import Employee, TaskEvent
from services.workflow import instances
from tests.services.helpers import deploy, import_demo_org

CENT, PLACES = Decimal("0.01"), Decimal("0.0001")
UTC = dt.timezone.utc
money_amounts = st.decimals(min_value=0, max_value=99999, places=2)
person = st.tuples(money_amounts, money_amounts,
                   st.lists(st.booleans(), max_size=6))  # completions: on time or late


@pytest.fixture
def world(store):
    """The demo org, one process instance to hang events on, and every department's name."""
    import_demo_org(store)
    deploy(store)
    with store.writing() as uow:
        instance_id = instances.start_process(uow, "inbound_materials", None, "t").id
        hr = actor_named(uow, "zhao.hr")
        people = dict(uow.session.execute(
            select(Employee.username, Employee.department_key).where(Employee.active)).all())
    return store, hr, instance_id, people, itertools.count(1)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), cap=st.decimals(min_value=1, max_value=2, places=1),
       target=st.integers(min_value=1, max_value=5), weight=st.integers(min_value=1, max_value=99))
def test_a_run_adds_up(world, data, cap, target, weight):
    store, hr, instance_id, people, months = world
    period = Period.parse(f"{2000 + next(months)}-03", "UTC")  # a month of its own per example
    drawn = {username: data.draw(person, label=username) for username in sorted(people)}
    scheme = {"cap": str(cap), "indicators": [
        {"metric": "completed_count", "weight": weight, "target": target},
        {"metric": "on_time_rate", "weight": 100 - weight, "target": 1}]}
    with store.writing() as uow:
        for username, (base, bonus_base, _) in drawn.items():
            uow.session.execute(update(Employee).where(Employee.username == username)
                                .values(base_salary=base, bonus_base=bonus_base))
        for department in set(people.values()):
            kpi.set_scheme(uow, hr, department, scheme)
        uow.session.add_all(_completions(instance_id, period, drawn))
        uow.commit()
    with store.writing() as uow:
        run = payroll_runs.create_run(uow, hr, str(period), "UTC")
    with store.reading() as uow:
        view = payroll_runs.run_view(uow, payroll_runs.get_run(uow, hr, run.id))

    lines = view["lines"]
    assert sorted(line["username"] for line in lines) == sorted(people)
    for line in lines:
        base, bonus_base, done = drawn[line["username"]]
        score = Decimal(line["kpi_score"])
        assert score == _kpi_by_hand(done, cap, target, weight)
        assert Decimal(0) <= score <= cap
        assert Decimal(line["base_salary"]) == base
        assert Decimal(line["bonus"]) == (bonus_base * score).quantize(CENT, ROUND_HALF_UP)
        assert Decimal(line["gross"]) == (Decimal(line["base_salary"]) + Decimal(line["bonus"])
                                          + Decimal(line["adjustments"]))
    totals = view["totals"]
    assert totals["employees"] == len(lines)
    for column in ("base_salary", "bonus", "adjustments", "gross"):
        assert Decimal(totals[column]) == sum((Decimal(line[column]) for line in lines),
                                              Decimal(0)), column
        assert Decimal(totals[column]).as_tuple().exponent == -2


def _kpi_by_hand(punctuality: list[bool], cap: Decimal, target: int, weight: int) -> Decimal:
    """The README's rules: a count always applies (0 without completions), the on-time
    rate only when something was due; each score, and the weighted mean, to 4 places."""
    def rounded(value: Decimal) -> Decimal:
        return value.quantize(PLACES, ROUND_HALF_UP)
    count_score = rounded(min(Decimal(len(punctuality)) / target, cap))
    if not punctuality:
        return rounded(Decimal(0))
    rate = rounded(Decimal(sum(punctuality)) / len(punctuality))
    on_time_score = rounded(min(rate, cap))
    return rounded((weight * count_score + (100 - weight) * on_time_score) / 100)


def _completions(instance_id: int, period: Period, drawn) -> list[TaskEvent]:
    """Each person's drawn completions, an hour apart from the period's start, due within
    the hour (on time) or an hour before it was done (late)."""
    events = []
    for username, (_, _, punctuality) in drawn.items():
        for number, on_time in enumerate(punctuality):
            done = period.start + dt.timedelta(hours=number + 1)
            events.append(TaskEvent(
                process_instance_id=instance_id, process_key="inbound_materials",
                process_version=1, task_id=f"{username}-{number}", element_id="inspect_goods",
                task_name="Inspect goods", lane="QA", department_key="qa",
                completed_by=username, ready_at=done - dt.timedelta(minutes=30),
                completed_at=done, due_at=done + dt.timedelta(minutes=30 if on_time else -60),
                data={}, recorded_at=done, recorded_by=username))
    return events
