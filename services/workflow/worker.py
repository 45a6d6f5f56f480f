"""The timer worker: fires due timers from the database, safe to run side by side; each
round also sends the reminders and escalations due (services.notify.follow_ups).

Each timer fires in its own unit of work. Two workers that pick the same timer
race on the instance's version: one commits, the other gets Conflict and moves on,
so a timer never fires twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading

from services.errors import Conflict
from services.notify import follow_ups
from services.persistence.job_failures import count_failure
from services.persistence.models import utcnow
from services.persistence.unit_of_work import Store
from services.workflow.instances import due_timer_ids, fire_timer

log = logging.getLogger(__name__)


def run_due_timers(store: Store, now: dt.datetime | None = None, batch: int = 100) -> int:
    """Fire every timer due at `now`; return how many this worker fired."""
    now = now or utcnow()
    fired = 0
    while True:
        with store.reading() as uow:
            timer_ids = due_timer_ids(uow, now, batch)
        progressed = False
        for timer_id in timer_ids:
            try:
                with store.writing() as uow:
                    if fire_timer(uow, timer_id, now):
                        fired += 1
                        progressed = True
            except Conflict:
                log.info("timer %s was handled concurrently; skipping", timer_id)
        if len(timer_ids) < batch or not progressed:
            return fired


def run_forever(store: Store, interval_seconds: float, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            count = run_due_timers(store)
            if count:
                log.info("fired %d timer(s)", count)
        except Exception as err:  # keep the worker alive; the next round retries
            log.exception("timer round failed")
            count_failure(store, "dutyflow.fire_due_timers", err)  # as the Celery job's
        try:
            followed = follow_ups.run_due(store)
            if followed:
                log.info("reminded or escalated %d task(s)", followed)
        except Exception as err:
            log.exception("follow-up round failed")
            count_failure(store, "dutyflow.follow_ups", err)
        stop.wait(interval_seconds)
