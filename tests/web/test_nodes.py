"""Several nodes on one PostgreSQL database, jobs on Celery workers over a real Redis.

Two `dutyflow serve` nodes (one of them gunicorn with two processes) and two
`dutyflow worker` Celery workers (one with beat) share one database and one queue (its
name is this run's own): sessions and tokens work on whichever node answers, a task raced
from both nodes has one winner, and timers fire exactly once, even when a worker is
killed with SIGKILL in the middle of firing them.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from services.persistence.models import Task, Timer
from tests.conftest import ROOT
from tests.web.test_jobs import drop_queue
from tests.engine.bpmn_builder import flow, linear, process, user_task
from tests.serving import free_port, wait_until_healthy
from tests.services.helpers import deploy, import_demo_org

pytestmark = [pytest.mark.slow,
              pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

REDIS = "redis://127.0.0.1:6379/0"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
INSTANCES = 12
LOCKED = 6  # the timer of the sixth instance started is the one a worker is stuck on


def timer_diagram() -> bytes:
    body = "\n".join([
        '<bpmn:startEvent id="start"/>',
        '<bpmn:intermediateCatchEvent id="pause"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>PT5S</bpmn:timeDuration></bpmn:timerEventDefinition>"
        "</bpmn:intermediateCatchEvent>",
        user_task("after"), '<bpmn:endEvent id="end"/>',
        flow("start", "pause"), flow("pause", "after"), flow("after", "end")])
    return process(body, {"QA": ["start", "pause", "after", "end"]}, process_id="pause")


def named(database_url: str, name: str) -> str:
    """The URL with a PostgreSQL application_name, to find this process's sessions."""
    return make_url(database_url).update_query_dict({"application_name": name}) \
        .render_as_string(hide_password=False)


class Deployment:
    def __init__(self, database_url: str, workdir):
        self.database_url = database_url
        self.queue = f"dutyflow-test-{uuid.uuid4().hex[:10]}"
        self.env = {**os.environ, "DUTYFLOW_BROKER_URL": REDIS, "DUTYFLOW_JOB_QUEUE": self.queue,
                    "DUTYFLOW_SECRET_KEY": uuid.uuid4().hex, "DUTYFLOW_SANDBOX_WORKERS": "1"}
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        env = {**self.env, "DATABASE_URL": named(self.database_url, name)}
        started = subprocess.Popen([sys.executable, "-m", "web.cli", *argv], cwd=self.workdir,
                                   env={**env, "PYTHONPATH": str(ROOT)},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(started)
        return started

    def node(self, name: str, processes: int) -> str:
        port = free_port()
        server = self.start(name, "serve", "--port", str(port), "--processes", str(processes),
                            "--threads", "4")
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(server, base)
        return base

    def stop(self) -> None:
        for started in self.processes:
            if started.poll() is None:
                started.terminate()
        for started in self.processes:
            try:
                started.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                started.kill()
                started.communicate()


@pytest.fixture
def deployment(database_url, store, tmp_path):
    import_demo_org(store)
    deploy(store, "race.bpmn", linear(["review"]))
    deploy(store, "pause.bpmn", timer_diagram())
    running = Deployment(database_url, tmp_path)
    yield running
    running.stop()
    drop_queue(REDIS, running.queue)


def token(base: str, username: str) -> dict:
    answer = requests.post(f"{base}/api/v1/auth/token",
                           json={"username": username, "password": "demo"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def start_instance(base: str, headers: dict, key: str) -> dict:
    answer = requests.post(f"{base}/api/v1/process-instances", json={"process_key": key},
                           headers=headers, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()


def waiting_on_a_lock(engine, name: str) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
            "AND wait_event_type = 'Lock'"), {"name": name}).scalar())


def test_two_nodes_and_two_workers_share_one_database(deployment, store):
    nodes = [deployment.node("node-a", 2), deployment.node("node-b", 1)]
    beat = deployment.start("worker-a", "worker", "--beat", "--concurrency", "1")
    killed = deployment.start("worker-b", "worker", "--concurrency", "1")
    for base in nodes:
        ready = requests.get(f"{base}/readyz", timeout=30)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

    # A browser signs in on one node and goes on on the other: one secret key signs the
    # session cookie and the CSRF token everywhere.
    browser = requests.Session()
    csrf = CSRF.search(browser.get(f"{nodes[0]}/sign-in", timeout=30).text).group(1)
    signed_in = browser.post(f"{nodes[1]}/sign-in", timeout=30, allow_redirects=False,
                             data={"username": "li.qa", "password": "demo", "csrf_token": csrf})
    assert signed_in.status_code == 302, signed_in.text
    for base in (*nodes, *nodes):
        page = browser.get(f"{base}/inbox", timeout=30, allow_redirects=False)
        assert page.status_code == 200 and "李娜" in page.text
    csrf = CSRF.search(page.text).group(1)  # a form from one node, posted to the other
    switched = browser.post(f"{nodes[0]}/language", data={"lang": "zh", "csrf_token": csrf},
                            timeout=30, allow_redirects=False)
    assert switched.status_code == 302, switched.text
    assert "暂无待办" in browser.get(f"{nodes[1]}/inbox", timeout=30).text  # in Chinese now

    # Clients alternate between nodes; a token from one works on the other.
    qa = token(nodes[0], "li.qa")
    race = start_instance(nodes[1], qa, "proc")  # race.bpmn
    [task] = race["tasks"]
    barrier, outcomes = threading.Barrier(20), []

    def complete(index: int) -> None:
        barrier.wait()
        answer = requests.post(f"{nodes[index % 2]}/api/v1/tasks/{task['id']}/complete",
                               json={"data": {}}, headers=qa, timeout=60)
        outcomes.append(answer.status_code)

    racers = [threading.Thread(target=complete, args=(index,)) for index in range(20)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(outcomes) == [200] + [409] * 19
    with store.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Task).where(
            Task.process_instance_id == race["id"], Task.status == "completed")) == 1

    # Timers: a worker stuck firing them (the sixth instance is locked here) is killed.
    engine = create_engine(deployment.database_url)
    try:
        with engine.connect() as holder:
            started = []
            for index in range(INSTANCES):
                started.append(start_instance(nodes[index % 2], qa, "pause")["id"])
                if len(started) == LOCKED:  # locked long before its timer is due
                    holder.execute(text("SELECT id FROM process_instances WHERE id = :id "
                                        "FOR UPDATE"), {"id": started[-1]})
            deadline = time.monotonic() + 90
            while not (waiting_on_a_lock(engine, "worker-a")
                       and waiting_on_a_lock(engine, "worker-b")):
                assert time.monotonic() < deadline, "the workers never reached the lock"
                assert beat.poll() is None and killed.poll() is None
                time.sleep(0.2)
            with store.reading() as uow:  # mid-job: some fired, the rest wait
                fired = uow.session.scalar(select(func.count()).select_from(Timer).where(
                    Timer.process_instance_id.in_(started), Timer.status == "fired"))
            assert fired == LOCKED - 1
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
            holder.rollback()  # the lock goes; the surviving worker carries on
        deadline = time.monotonic() + 90
        while True:
            with store.reading() as uow:
                timers = uow.session.execute(select(Timer.process_instance_id, Timer.status)
                                             .where(Timer.process_instance_id.in_(started))).all()
                after = uow.session.execute(select(Task.process_instance_id).where(
                    Task.process_instance_id.in_(started), Task.element_id == "after")).all()
            if all(status == "fired" for _, status in timers) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert sorted(instance for instance, _ in timers) == sorted(started)
    assert {status for _, status in timers} == {"fired"}
    assert sorted(instance for instance, in after) == sorted(started)  # each fired once
    # Every open "after" task can be done on either node: nothing was lost.
    for index, instance in enumerate(started[:4]):
        [open_task] = [row for row in requests.get(
            f"{nodes[index % 2]}/api/v1/process-instances/{instance}", headers=qa,
            timeout=30).json()["tasks"] if row["status"] == "ready"]
        done = requests.post(f"{nodes[(index + 1) % 2]}/api/v1/tasks/{open_task['id']}/complete",
                             json={"data": {}}, headers=qa, timeout=30)
        assert done.status_code == 200, done.text
