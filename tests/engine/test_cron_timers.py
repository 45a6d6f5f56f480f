"""Cron timer cycles as Camunda 7 writes them (`<timeCycle>0 0 9 ? * MON-FRI</timeCycle>`):
the schedule's next match, in UTC, and precise refusals for what Quartz means but
DutyFlow does not run."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from engine import cron
from engine.errors import BpmnValidationError
from engine.loader import load_processes
from engine.runtime import Instance
from tests.engine.bpmn_builder import flow, process, user_task

UTC = dt.timezone.utc
SUNDAY_3AM = dt.datetime(2026, 12, 6, 3, 0, 2, tzinfo=UTC)  # 6 December 2026 is a Sunday


def timer_start(cycle: str) -> bytes:
    """start (timer cycle) -> review -> end."""
    return process("\n".join([
        '<bpmn:startEvent id="start"><bpmn:timerEventDefinition>'
        f'<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{cycle}</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:startEvent>",
        user_task("review"), '<bpmn:endEvent id="end"/>',
        flow("start", "review"), flow("review", "end")]), {"QA": ["start", "review", "end"]})


@pytest.mark.parametrize("expression,due", [
    ("0/5 0/1 * 1/1 * ? *", dt.datetime(2026, 12, 6, 3, 0, 5, tzinfo=UTC)),
    ("0 0 9 ? * MON-FRI", dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
    ("0 30 8 1 * ?", dt.datetime(2027, 1, 1, 8, 30, tzinfo=UTC)),
    ("0 0 12 ? JUL 4", dt.datetime(2027, 7, 7, 12, 0, tzinfo=UTC)),   # 4 is Wednesday
    ("0 15 10 ? * 1 2027", dt.datetime(2027, 1, 3, 10, 15, tzinfo=UTC)),  # 1 is Sunday
])
def test_a_cron_schedule_is_due_at_its_next_match_in_utc(expression, due):
    assert cron.check(expression) is None
    assert cron.Schedule(expression).next_after(SUNDAY_3AM) == due


def test_each_later_occurrence_is_the_next_match_after_the_one_before():
    schedule = cron.Schedule("0 0 9 ? * MON,FRI")
    monday = schedule.next_after(SUNDAY_3AM)
    assert [monday, schedule.next_after(monday)] == [
        dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC), dt.datetime(2026, 12, 11, 9, 0, tzinfo=UTC)]


@pytest.mark.parametrize("expression,reason", [
    ("0 0 L * * ?", "Quartz's L, W and # are not supported"),
    ("0 0 9 ? * 6#3", "day-of-week '6#3': Quartz's L, W and # are not supported"),
    ("0 9 * * *", "has 6 or 7 fields"),
    ("0 0 9 1 * MON", "give either day-of-month or day-of-week and '?' for the other"),
    ("0 0 25 * * ?", "hours '25' is not between 0 and 23"),
    ("0 0 0 30 2 ?", "matches no moment in the next"),
])
def test_a_cron_expression_outside_quartz_s_plain_fields_is_refused_with_the_reason(
        expression, reason):
    assert reason in cron.check(expression)


def test_a_timer_start_event_with_a_cron_cycle_deploys_and_waits_for_its_next_match():
    [model] = load_processes(timer_start("0 0 9 ? * MON-FRI"), "cron.bpmn")
    instance = Instance.start(model)
    [timer] = instance.pending_timers()
    assert timer.element_id == "start"
    now = dt.datetime.now(UTC)
    assert timer.due_at == cron.Schedule("0 0 9 ? * MON-FRI").next_after(now)
    assert timer.due_at.hour == 9 and timer.due_at.weekday() < 5


@pytest.mark.parametrize("cycle", ["0 0 9 ? * MON-FRI", "R/PT1H"])
def test_a_fired_cycle_timer_on_a_start_event_runs_its_path(cycle):
    [model] = load_processes(timer_start(cycle), "cycle.bpmn")
    instance = Instance.start(model)
    [timer] = instance.pending_timers()
    instance = Instance.restore(model, json.loads(json.dumps(instance.dump())))
    instance.fire_timer(timer.id)
    assert [task.element_id for task in instance.ready_tasks()] == ["review"]
    assert instance.pending_timers() == []


def test_a_cron_cycle_quartz_means_but_dutyflow_does_not_run_is_refused_with_its_line():
    with pytest.raises(BpmnValidationError) as caught:
        load_processes(timer_start("0 0 12 L * ?"), "cron.bpmn")
    [problem] = caught.value.problems
    assert problem.element_id == "start" and problem.line is not None
    assert "timeCycle: cron '0 0 12 L * ?': day-of-month 'L'" in problem.message
