"""Background jobs on Celery (web/jobs.py): a real Redis broker, a real `dutyflow worker`."""
from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
from click.testing import CliRunner
from kombu import Connection

from sqlalchemy import select

from services.persistence.models import PayrollRun
from services.persistence.schema import init_db
from services.persistence.unit_of_work import Store
from services.settings import Settings
from tests.conftest import ROOT
from tests.notify.receivers import HttpReceiver
from tests.notify.support import WEBHOOK_SECRET
from tests.notify.test_worker_processes import database_with_webhook
from tests.serving import free_port
from tests.services.helpers import DELIVERY, complete, import_demo_org, start
from web.app import create_app
from web.cli import main
from web.jobs import JOBS, _payroll_run, make_celery

REDIS = "redis://127.0.0.1:6379/0"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def drop_queue(broker: str, queue: str) -> None:
    """A run's own queue leaves nothing behind on the shared broker."""
    with Connection(broker) as connection:
        connection.default_channel.queue_delete(queue)
    if broker.startswith("redis:"):  # kombu keeps the queue's bindings in keys of its own
        client = redis.Redis.from_url(broker)
        client.delete(f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        # and a killed worker's unacknowledged jobs, which would come back to the queue
        for tag, entry in client.hscan_iter("unacked"):
            if json.loads(entry)[-1] == queue:  # [message, exchange, routing key]
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.delete(queue)
        client.close()


def ready(store: Store, broker_url: str):
    app = create_app(Settings(store.database_url, secret_key="test", broker_url=broker_url),
                     store=store)
    return app.test_client().get("/readyz")


def test_readyz_checks_the_broker_when_one_is_configured(store):
    import_demo_org(store)
    for url in (REDIS, RABBITMQ):
        assert (ready(store, url).status_code, ready(store, url).json) == \
            (200, {"status": "ready"})
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    for url in (nobody, f"amqp://guest:guest@127.0.0.1:{free_port()}//"):
        down = ready(store, url)
        assert (down.status_code, down.headers["Retry-After"], down.json) == \
            (503, "5", {"status": "unavailable", "unreachable": "broker"})


def test_jobs_are_acknowledged_late_one_at_a_time_and_scheduled_by_beat():
    app = make_celery(Settings("sqlite://", broker_url=REDIS, job_queue="q1"))
    assert (app.conf.task_acks_late, app.conf.task_reject_on_worker_lost,
            app.conf.worker_prefetch_multiplier, app.conf.task_default_queue) == \
        (True, True, 1, "q1")
    schedule = app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} == {job.name for job in JOBS} == \
        {"dutyflow.fire_due_timers", "dutyflow.follow_ups", "dutyflow.deliver_notifications"}
    assert all(entry["options"]["queue"] == "q1" and entry["schedule"] <= 5
               for entry in schedule.values())
    assert {job.name for job in JOBS} <= set(app.tasks)


@pytest.mark.parametrize("broker", [REDIS, RABBITMQ], ids=["redis", "rabbitmq"])
def test_a_celery_worker_delivers_what_a_completion_queued(tmp_path, broker):
    receiver = HttpReceiver(WEBHOOK_SECRET)
    database = database_with_webhook(tmp_path / "d.db", receiver.url)
    store = Store(database)
    complete(store, start(store), "register_delivery", "zhang.proc", DELIVERY)
    store.dispose()
    queue = f"dutyflow-test-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": database, "DUTYFLOW_BROKER_URL": broker,
           "DUTYFLOW_JOB_QUEUE": queue,
           "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--beat"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        assert receiver.arrived.wait(60), "nothing delivered"
        assert receiver.received[0].json["title"] == "New task: Inspect goods"
        assert receiver.received[0].signature_ok
    finally:
        worker.send_signal(signal.SIGTERM)  # a warm shutdown: the job in hand finishes
        output = worker.communicate(timeout=60)[0]
        receiver.close()
        drop_queue(broker, queue)
    assert worker.returncode == 0, output
    assert len(receiver.received) == 1


def test_a_celery_worker_runs_every_job(tmp_path):
    result = CliRunner().invoke(main, ["worker", "--no-timers"],
                                env={"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
                                     "DUTYFLOW_BROKER_URL": REDIS})
    assert result.exit_code == 1
    assert "--no-timers has no meaning for a Celery worker" in result.output


@pytest.mark.parametrize("broker", [REDIS, RABBITMQ], ids=["redis", "rabbitmq"])
def test_metrics_show_the_jobs_waiting_in_the_queue(store, broker):
    from prometheus_client.parser import text_string_to_metric_families

    import_demo_org(store)
    queue = f"dutyflow-test-{uuid.uuid4().hex[:10]}"
    settings = Settings(store.database_url, secret_key="test", broker_url=broker,
                        job_queue=queue, metrics_token="scrape-me")
    client = create_app(settings, store=store).test_client()

    def depth() -> float | None:
        text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).text
        return next((family.samples[0].value for family in text_string_to_metric_families(text)
                     if family.name == "dutyflow_job_queue_depth"), None)

    jobs = make_celery(settings)
    try:
        jobs.send_task("dutyflow.follow_ups")  # declares the queue
        for job in JOBS:
            jobs.send_task(job.name)
        assert depth() == 1 + len(JOBS)
    finally:
        drop_queue(broker, queue)
    assert depth() is None  # no such queue: the gauge is left out, the scrape still answers


def test_a_payroll_run_queued_twice_is_calculated_once(tmp_path):
    database = f"sqlite:///{tmp_path / 'd.db'}"
    store = Store(database)
    init_db(store)
    import_demo_org(store)
    store.dispose()
    queue = f"dutyflow-test-{uuid.uuid4().hex[:10]}"
    env = {"DATABASE_URL": database, "DUTYFLOW_BROKER_URL": REDIS, "DUTYFLOW_JOB_QUEUE": queue}
    runner = CliRunner()
    refused = runner.invoke(main, ["payroll", "run", "--period", "2026-13", "--background"],
                            env=env)
    assert refused.exit_code == 1 and "2026-13" in refused.output
    no_broker = runner.invoke(main, ["payroll", "run", "--period", "2026-10", "--background"],
                              env={"DATABASE_URL": database})
    assert no_broker.exit_code == 1 and "DUTYFLOW_BROKER_URL" in no_broker.output
    for _ in range(2):  # asked twice (two people, or one impatient one)
        queued = runner.invoke(main, ["payroll", "run", "--period", "2026-10", "--background"],
                               env=env)
        assert queued.exit_code == 0 and "payroll run of 2026-10 queued" in queued.output
    log = tmp_path / "worker.log"
    with open(log, "w") as output:
        worker = subprocess.Popen([sys.executable, "-m", "web.cli", "worker"], cwd=tmp_path,
                                  env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                                  stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "payroll run of 2026-10 not started again" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        drop_queue(REDIS, queue)
    store = Store(database)
    with store.reading() as uow:
        runs = uow.session.scalars(select(PayrollRun)).all()
        assert [(run.period, run.status, run.created_by) for run in runs] == \
            [("2026-10", "draft", f"cli:{getpass.getuser()}")]
    store.dispose()


def test_payroll_jobs_for_one_period_on_two_workers_at_once_make_one_run(store):
    import_demo_org(store)
    settings = Settings(store.database_url)
    barrier, made = threading.Barrier(2), []

    def job() -> None:
        own = Store(store.database_url)  # a worker of its own: its own connections
        barrier.wait()
        made.append(_payroll_run(own, settings, "2026-10", "cli:hr"))
        own.dispose()

    workers = [threading.Thread(target=job) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with store.reading() as uow:
        [run] = uow.session.scalars(select(PayrollRun)).all()
    assert sorted(made, key=str) == sorted([run.id, None], key=str)
