"""Background jobs on Celery, when `DUTYFLOW_BROKER_URL` names a broker (Redis or RabbitMQ).

The jobs are the services' own round functions, unchanged: fire the due timers
(services.workflow.worker), send the due reminders and escalations
(services.notify.follow_ups), deliver the due notifications (services.notify.delivery);
and, when asked, calculate a payroll run (`dutyflow payroll run --background`,
services.pay.payroll_runs), which takes minutes for a large organisation, or make a payroll
export (`POST /api/v1/payroll-runs/{id}/exports`, services.pay.export_jobs). Without a
broker, `dutyflow serve` runs the very same functions in its own loops, and an export on a
thread of the process that was asked (`Dispatcher`).

A job that raises is counted in the database (services.persistence.job_failures), where
`/metrics` reads it: a worker serves no HTTP of its own.

Each job is a round over whatever is due in the database, so it is idempotent: running it
twice, or on two workers at once, does no work twice. A timer fires in one transaction
that locks its instance and checks its version; a delivery is claimed with a lease and
recorded only by its claimer. A worker killed mid-job leaves an uncommitted transaction,
which the database rolls back: the next round, on any worker, does that work.

Jobs are acknowledged late (after they end) and taken one at a time (prefetch 1), and a
job whose worker was lost is put back on the queue, so a message is never dropped with
its worker. Beat, the schedule that enqueues a round every few seconds, runs in exactly
one process: start one worker with `dutyflow worker --beat` (a second beat would only
enqueue extra rounds, which find nothing left to do).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from celery import Celery
from kombu import Connection
from kombu.exceptions import KombuError
from sqlalchemy import text

from services.errors import Busy, Conflict
from services.identity.actor import Actor
from services.notify import delivery, follow_ups
from services.pay import export_jobs, payroll_runs
from services.persistence.job_failures import count_failure
from services.persistence.unit_of_work import Store
from services.settings import Settings
from services.workflow import worker as timers

from . import notifications

log = logging.getLogger(__name__)

PAYROLL_RUN = "dutyflow.payroll_run"
PAYROLL_EXPORT = "dutyflow.payroll_export"
BROKER_TIMEOUT_SECONDS = 2.0
# An unacknowledged job (its worker died) goes back on a Redis queue after this long: longer
# than the longest job (a payroll run of a large organisation), or a job still running
# would be handed to a second worker. Scheduled rounds expire long before (the next round
# does their work); RabbitMQ requeues at once when the worker's connection drops.
VISIBILITY_TIMEOUT_SECONDS = 4 * 3600


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[Store, Settings], object]


def _deliver(store: Store, settings: Settings):
    return delivery.deliver_due_once(store, notifications.channels(settings),
                                     notifications.policy(settings))


JOBS = (
    Job("dutyflow.fire_due_timers", 2.0, lambda store, _settings: timers.run_due_timers(store)),
    Job("dutyflow.follow_ups", 5.0, lambda store, _settings: follow_ups.run_due(store)),
    Job("dutyflow.deliver_notifications", 1.0, _deliver),
)


def _payroll_run(store: Store, settings: Settings, period: str, requested_by: str) -> int | None:
    """A draft run of `period`, once: a job run again (its worker was killed) finds the
    run its first attempt committed, or none if that attempt was rolled back."""
    try:
        with store.writing() as uow:
            if store.engine.dialect.name == "postgresql":
                # Two workers given the same period wait for each other, so the second sees
                # the first's run (SQLite's writers are serialized anyway).
                key = int.from_bytes(hashlib.sha256(f"payroll_run:{period}".encode()).digest()[:8],
                                     "big", signed=True)
                uow.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            run = payroll_runs.create_run(uow, Actor.operator(requested_by), period,
                                          settings.timezone)
            log.info("payroll run %s (%s) calculated for %s", run.id, period, requested_by)
            return run.id
    except Conflict as err:
        log.warning("payroll run of %s not started again: %s", period, err)
        return None


def counted(name: str, stores: Callable[[], Store], body: Callable) -> Callable:
    """`body` as job `name`: an exception it raises is counted in the database (in a
    transaction of its own) and raised on, for Celery to log and acknowledge."""
    @functools.wraps(body)
    def job(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except Exception as err:
            count_failure(stores(), name, err)
            raise
    return job


class _ProcessStore:
    """One Store per process: a job never uses connections made before a fork."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._pid, self._store = None, None

    def get(self) -> Store:
        if self._pid != os.getpid():
            self._pid, self._store = os.getpid(), Store(self.database_url)
        return self._store


def make_celery(settings: Settings, queue: str | None = None) -> Celery:
    """The Celery app with DutyFlow's jobs and their beat schedule."""
    app = Celery("dutyflow", broker=settings.broker_url, set_as_current=False)
    queue = queue or settings.job_queue
    app.conf.update(
        task_default_queue=queue, task_acks_late=True, task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1, task_ignore_result=True,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        timezone="UTC", enable_utc=True,
        beat_schedule={job.name: {"task": job.name, "schedule": job.every_seconds,
                                  # a round not started by the next one is not needed
                                  "options": {"expires": job.every_seconds * 2,
                                              "queue": queue}}
                       for job in JOBS})
    stores = _ProcessStore(settings.database_url)
    for job in JOBS:
        def body(job=job):
            return str(job.run(stores.get(), settings))
        app.task(name=job.name, bind=False)(counted(job.name, stores.get, body))

    def payroll_run(period: str, requested_by: str):
        return _payroll_run(stores.get(), settings, period, requested_by)

    def payroll_export(export_id: int):
        done = export_jobs.make_export(stores.get(), export_id)
        log.info("%s", done)
        return done

    app.task(name=PAYROLL_RUN)(counted(PAYROLL_RUN, stores.get, payroll_run))
    app.task(name=PAYROLL_EXPORT)(counted(PAYROLL_EXPORT, stores.get, payroll_export))
    return app


class Dispatcher:
    """Hands a job asked for in a request to the deployment's workers: a Celery message
    when a broker is configured, else a thread of this process running the same job."""

    def __init__(self, settings: Settings, store: Store):
        self.settings, self.store = settings, store
        self._celery: Celery | None = None
        self._lock = threading.Lock()

    def payroll_export(self, export_id: int) -> None:
        """After the export's row is committed: have it made."""
        if not self.settings.broker_url:
            job = counted(PAYROLL_EXPORT, lambda: self.store,
                          lambda: export_jobs.make_export(self.store, export_id))
            threading.Thread(target=self._in_process, args=(job,), daemon=True,
                             name=f"payroll-export-{export_id}").start()
            return
        try:
            self._app().send_task(PAYROLL_EXPORT, args=[export_id],
                                  retry_policy={"max_retries": 1, "interval_start": 0,
                                                "interval_step": 1, "interval_max": 1})
        except (OSError, KombuError) as err:  # kombu wraps the transport's own errors
            log.warning("payroll export %s not queued: %s", export_id, err)
            export_jobs.mark_failed(self.store, export_id, "the job queue did not answer")
            raise Busy("the job queue does not answer; ask again in a minute", 60) from None

    @staticmethod
    def _in_process(job: Callable) -> None:
        try:
            log.info("%s", job())
        except Exception:
            log.exception("background job failed")

    def _app(self) -> Celery:
        with self._lock:
            if self._celery is None:
                self._celery = make_celery(self.settings)
            return self._celery


def run_worker(settings: Settings, concurrency: int, beat: bool, schedule_dir: Path) -> None:
    """A Celery worker (threads: the engine's steps run in sandbox processes anyway)."""
    # Warnings from everything, and what our jobs did (timers fired, notifications sent,
    # payroll runs); not Celery's two lines per job, three jobs every few seconds.
    logging.basicConfig(level=logging.WARNING,
                        format="[%(asctime)s: %(levelname)s/%(processName)s] %(name)s: %(message)s")
    for ours in (__name__, timers.__name__, delivery.__name__, follow_ups.__name__):
        logging.getLogger(ours).setLevel(logging.INFO)
    app = make_celery(settings)
    argv = ["worker", "--pool", "threads", "--concurrency", str(concurrency),
            "--loglevel", "WARNING", "--hostname", f"dutyflow-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip", "--without-mingle", "--queues", settings.job_queue]
    if beat:
        schedule_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule_dir / f"beat-{settings.job_queue}")]
    app.worker_main(argv)


def check_broker(url: str) -> None:
    """Connect to the broker and back; raises OSError (or kombu's error) when it cannot."""
    options = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
               "socket_timeout": BROKER_TIMEOUT_SECONDS, "max_retries": 0}
    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS,
                    transport_options=options) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                     timeout=BROKER_TIMEOUT_SECONDS)


def queue_depth(url: str, queue: str) -> int:
    """Jobs waiting in the queue (not those a worker holds)."""
    options = {"socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
               "socket_timeout": BROKER_TIMEOUT_SECONDS, "max_retries": 0}
    with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS,
                    transport_options=options) as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count
