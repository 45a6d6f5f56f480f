"""Waits Camunda 7 diagrams rely on, through the use cases on a real database: a timer start
event on a cron cycle fired by the timer worker, and a conditional boundary event on a
subprocess firing when the work inside sets its variable."""
from __future__ import annotations

import datetime as dt

from engine import cron
from services.workflow import worker
from tests.engine.test_conditional_events import archive_when_invoiced
from tests.engine.test_cron_timers import timer_start
from tests.services.helpers import complete, deploy, import_demo_org, ready_task, start

WEEKDAYS_AT_NINE = "0 0 9 ? * MON-FRI"


def test_the_timer_worker_starts_the_work_of_a_cron_timer_start_event_at_its_next_match(store):
    import_demo_org(store)
    deploy(store, "cron.bpmn", timer_start(WEEKDAYS_AT_NINE))
    instance_id = start(store, "proc")
    assert worker.run_due_timers(store) == 0  # the next weekday 9:00 UTC has not come
    due = cron.Schedule(WEEKDAYS_AT_NINE).next_after(dt.datetime.now(dt.timezone.utc))
    assert worker.run_due_timers(store, now=due + dt.timedelta(seconds=1)) == 1
    assert ready_task(store, instance_id, "review").status == "ready"


def test_a_conditional_boundary_event_takes_the_work_away_once_its_variable_is_set(store):
    import_demo_org(store)
    deploy(store, "conditional.bpmn", archive_when_invoiced("${invoiceId != null}"))
    instance_id = start(store, "proc")
    complete(store, instance_id, "prepare", "li.qa", {"invoiceId": "INV-7"})
    assert ready_task(store, instance_id, "archive").status == "ready"
