"""Payroll exports as background jobs: asked for over the API (202 and a job to poll), made
by a real Celery worker over Redis (or, with no broker, on a thread of the server), stored
with the job and downloaded by HR; made once however often the job runs, and a job that
fails is counted where /metrics reads it."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from openpyxl import load_workbook
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select, text

from services.identity.access import actor_named
from services.pay import export_jobs, payroll_runs
from services.persistence.job_failures import failures_by_job
from services.persistence.models import JobFailure, PayrollExport
from services.persistence.unit_of_work import Store
from services.settings import Settings
from tests.conftest import ROOT
from tests.payroll.test_payroll_runs import at, inspect
from tests.services.helpers import deploy, import_demo_org
from tests.web.test_api import sign_in
from tests.web.test_jobs import RABBITMQ, REDIS, drop_queue
from tests.web.test_nodes import named, waiting_on_a_lock
from web.app import create_app
from web.jobs import PAYROLL_EXPORT, Dispatcher, make_celery

SCRAPER = {"Authorization": "Bearer scrape-me"}


@pytest.fixture
def run_id(store) -> int:
    import_demo_org(store)
    deploy(store)
    inspect(store, at(5, 8), at(5, 9), "pass")
    inspect(store, at(6, 8), at(6, 13), "fail")
    with store.writing() as uow:
        return payroll_runs.create_run(uow, actor_named(uow, "zhao.hr"), "2026-10", "UTC").id


def client_of(store, broker_url: str = "", queue: str = "dutyflow"):
    settings = Settings(store.database_url, secret_key="test", broker_url=broker_url,
                        job_queue=queue, metrics_token="scrape-me")
    return create_app(settings, store=store).test_client()


def poll(client, headers: dict, location: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(location, headers=headers)
        assert job.status_code == 200, job.json
        if job.json["status"] != "queued" or time.monotonic() > deadline:
            return job.json
        time.sleep(0.2)


def job_failures(client) -> dict[str, float]:
    """dutyflow_job_failures_total by job, read back with prometheus_client's parser."""
    scraped = client.get("/metrics", headers=SCRAPER)
    assert scraped.status_code == 200
    return {sample.labels["job"]: sample.value
            for family in text_string_to_metric_families(scraped.get_data(as_text=True))
            if family.name == "dutyflow_job_failures"
            for sample in family.samples if sample.name == "dutyflow_job_failures_total"}


def start_worker(database_url: str, broker: str, queue: str, log_path,
                 name: str = "export-worker") -> subprocess.Popen:
    if database_url.startswith("postgresql"):  # to find its sessions in pg_stat_activity
        database_url = named(database_url, name)
    env = {**os.environ, "DATABASE_URL": database_url, "DUTYFLOW_BROKER_URL": broker,
           "DUTYFLOW_JOB_QUEUE": queue, "PYTHONPATH": str(ROOT)}
    with open(log_path, "a") as log:
        return subprocess.Popen([sys.executable, "-m", "web.cli", "worker", "--concurrency", "1"],
                                cwd=log_path.parent, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # a warm shutdown: the job in hand finishes
        worker.wait(timeout=60)


def test_without_a_broker_the_server_makes_the_export_on_a_thread(store, run_id):
    client = client_of(store)
    hr, staff = sign_in(client, "zhao.hr"), sign_in(client, "li.qa")
    asked = client.post(f"/api/v1/payroll-runs/{run_id}/exports", headers=hr,
                        json={"format": "xlsx"})
    assert asked.status_code == 202, asked.json
    assert asked.headers["Location"] == f"/api/v1/payroll-exports/{asked.json['id']}"
    assert (asked.json["run_id"], asked.json["format"], asked.json["requested_by"]) == \
        (run_id, "xlsx", "zhao.hr")
    job = poll(client, hr, asked.headers["Location"])
    assert job["status"] == "ready" and job["finished_at"] and job["error"] is None
    assert job["filename"] == f"payroll-2026-10-run{run_id}.xlsx"
    downloaded = client.get(job["file_url"], headers=hr)
    direct = client.get(f"/api/v1/payroll-runs/{run_id}/export?format=xlsx", headers=hr)
    assert downloaded.status_code == 200 and downloaded.mimetype == direct.mimetype
    assert len(downloaded.data) == job["size"] > 0
    assert downloaded.headers["Content-Disposition"] == \
        f'attachment; filename="payroll-2026-10-run{run_id}.xlsx"'
    # The same code as the direct download (an xlsx differs only in its timestamps).
    rows = [list(row) for row in load_workbook(io.BytesIO(downloaded.data)).active.values]
    assert rows == [list(row) for row in load_workbook(io.BytesIO(direct.data)).active.values]

    # HR and admins only; unknown runs and exports are 404; a bad format 422.
    assert client.post(f"/api/v1/payroll-runs/{run_id}/exports", headers=staff,
                       json={"format": "csv"}).status_code == 403
    assert client.get(asked.headers["Location"], headers=staff).status_code == 403
    assert client.get(job["file_url"], headers=staff).status_code == 403
    assert client.post("/api/v1/payroll-runs/999/exports", headers=hr,
                       json={"format": "csv"}).status_code == 404
    assert client.get("/api/v1/payroll-exports/999", headers=hr).status_code == 404
    bad = client.post(f"/api/v1/payroll-runs/{run_id}/exports", headers=hr, json={"format": "pdf"})
    assert bad.status_code == 422 and "format" in bad.json["errors"]


def test_an_export_not_made_yet_is_not_downloadable_and_a_second_run_of_its_job_makes_nothing(
        store, run_id):
    with store.writing() as uow:
        export_id = export_jobs.request_export(uow, actor_named(uow, "admin"), run_id, "csv").id
    client = client_of(store)
    admin = sign_in(client, "admin")
    waiting = client.get(f"/api/v1/payroll-exports/{export_id}/file", headers=admin)
    assert waiting.status_code == 409 and "not ready yet" in waiting.json["detail"]
    assert export_jobs.make_export(store, export_id).startswith(
        f"payroll export {export_id} ready (")
    again = export_jobs.make_export(store, export_id)  # a duplicate message, a rerun
    assert again == f"payroll export {export_id} was already ready"
    with store.reading() as uow:
        row = uow.session.get(PayrollExport, export_id)
        assert (row.status, row.attempts) == ("ready", 1)
    csv = client.get(f"/api/v1/payroll-exports/{export_id}/file", headers=admin)
    assert csv.status_code == 200 and "李娜" in csv.data.decode("utf-8-sig")


def test_a_job_that_fails_on_the_servers_thread_is_counted_in_the_metrics(store, run_id):
    client = client_of(store)
    assert job_failures(client) == {}
    Dispatcher(Settings(store.database_url), store).payroll_export(424242)  # no such export
    deadline = time.monotonic() + 30
    while not job_failures(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_failures(client) == {PAYROLL_EXPORT: 1}
    with store.reading() as uow:
        failure = uow.session.get(JobFailure, PAYROLL_EXPORT)
        assert failure.last_error == "LookupError: no payroll export 424242"


def test_a_celery_worker_makes_the_export_once_and_failed_jobs_are_counted(store, run_id,
                                                                           tmp_path):
    queue = f"dutyflow-test-{uuid.uuid4().hex[:10]}"
    client = client_of(store, REDIS, queue)
    hr = sign_in(client, "zhao.hr")
    asked = client.post(f"/api/v1/payroll-runs/{run_id}/exports", headers=hr,
                        json={"format": "csv"})
    assert asked.status_code == 202 and asked.json["status"] == "queued"
    jobs = make_celery(Settings(store.database_url, broker_url=REDIS, job_queue=queue))
    jobs.send_task(PAYROLL_EXPORT, args=[asked.json["id"]])  # delivered twice
    jobs.send_task(PAYROLL_EXPORT, args=[987654])  # an export that does not exist: it fails
    log = tmp_path / "worker.log"
    worker = start_worker(store.database_url, REDIS, queue, log)
    try:
        job = poll(client, hr, asked.headers["Location"], 90)
        assert job["status"] == "ready", log.read_text()
        deadline = time.monotonic() + 60
        while job_failures(client) != {PAYROLL_EXPORT: 1}:
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        while "was already ready" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
    finally:
        stop(worker)
        drop_queue(REDIS, queue)
    csv = client.get(job["file_url"], headers=hr)
    direct = client.get(f"/api/v1/payroll-runs/{run_id}/export?format=csv", headers=hr)
    assert csv.status_code == 200 and csv.data == direct.data
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PayrollExport)) == 1
        assert uow.session.get(PayrollExport, job["id"]).attempts == 1
    assert job_failures(client) == {PAYROLL_EXPORT: 1}


def test_a_broker_that_does_not_answer_fails_the_export_with_503(store, run_id):
    from tests.serving import free_port

    client = client_of(store, f"redis://127.0.0.1:{free_port()}/0")
    hr = sign_in(client, "zhao.hr")
    refused = client.post(f"/api/v1/payroll-runs/{run_id}/exports", headers=hr,
                          json={"format": "csv"})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    with store.reading() as uow:
        [row] = uow.session.scalars(select(PayrollExport)).all()
        assert (row.status, row.error) == ("failed", "the job queue did not answer")


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_worker_killed_mid_export_leaves_it_to_the_next_which_makes_it_once(store, run_id,
                                                                             tmp_path):
    """RabbitMQ puts a killed worker's unacknowledged job back at once (Redis after its
    visibility timeout): the export is held locked here so the first worker is stuck in it."""
    queue = f"dutyflow-test-{uuid.uuid4().hex[:10]}"
    client = client_of(store, RABBITMQ, queue)
    hr = sign_in(client, "zhao.hr")
    engine = create_engine(store.database_url)
    log = tmp_path / "worker.log"
    workers = []
    try:
        with engine.connect() as holder:
            asked = client.post(f"/api/v1/payroll-runs/{run_id}/exports", headers=hr,
                                json={"format": "xlsx"})
            assert asked.status_code == 202
            holder.execute(text("SELECT id FROM payroll_exports WHERE id = :id FOR UPDATE"),
                           {"id": asked.json["id"]})
            workers.append(start_worker(store.database_url, RABBITMQ, queue, log, "killed"))
            deadline = time.monotonic() + 90
            while not waiting_on_a_lock(engine, "killed"):
                assert workers[0].poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=30)
            holder.rollback()
        workers.append(start_worker(store.database_url, RABBITMQ, queue, log, "survivor"))
        job = poll(client, hr, asked.headers["Location"], 90)
    finally:
        for worker in workers:
            stop(worker)
        engine.dispose()
        drop_queue(RABBITMQ, queue)
    assert job["status"] == "ready", log.read_text()
    with store.reading() as uow:
        assert uow.session.get(PayrollExport, job["id"]).attempts == 1
    assert client.get(job["file_url"], headers=hr).status_code == 200
    assert job_failures(client) == {}


def test_a_round_that_fails_in_the_in_process_loop_is_counted_as_its_celery_job_is(tmp_path):
    """Without a broker the serving process's loops run the rounds: a round that raises
    (here the timers table is gone) is counted under the job's name, as a worker's is."""
    import threading

    from services.persistence.schema import init_db
    from services.workflow import worker as timers

    broken = Store(f"sqlite:///{tmp_path / 'broken.db'}")
    init_db(broken)
    with broken.engine.begin() as connection:
        connection.execute(text("DROP TABLE timers"))
    stop = threading.Event()
    loop = threading.Thread(target=timers.run_forever, args=(broken, 0.05, stop), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            with broken.reading() as uow:
                failure = uow.session.get(JobFailure, "dutyflow.fire_due_timers")
            if failure is not None and failure.failures >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert failure is not None and failure.failures >= 2, "no failure counted"
    assert "timers" in failure.last_error
    with broken.reading() as uow:  # what /metrics reads (its scrape needs the timers table)
        assert failures_by_job(uow)["dutyflow.fire_due_timers"] == failure.failures
    broken.dispose()
