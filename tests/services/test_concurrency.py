"""Races between people, threads, processes and timer workers: one winner, nothing lost."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading

import pytest
from sqlalchemy import func, select, update

from engine.runtime import Instance
from services.errors import Conflict
from services.identity.access import actor_named
from services.persistence.models import Task, TaskEvent, Timer
from services.persistence.unit_of_work import Store
from services.workflow import instances, worker
from tests.services.helpers import (
    DELIVERY,
    PASS,
    complete,
    deploy,
    import_demo_org,
    ready_task,
    start,
)


@pytest.fixture
def demo(store):
    import_demo_org(store)
    deploy(store)
    return store


def overlapping(monkeypatch, parties: int) -> threading.Barrier:
    """Make racing completions compute their results before any of them commits, where the
    database lets them (PostgreSQL); SQLite queues writers, so the barrier times out there."""
    barrier = threading.Barrier(parties)
    original = Instance.complete

    def complete_then_wait(self, task_id, data):
        result = original(self, task_id, data)
        try:
            barrier.wait(timeout=1)
        except threading.BrokenBarrierError:
            pass
        return result

    monkeypatch.setattr(Instance, "complete", complete_then_wait)
    return barrier


def race(store: Store, calls) -> list[object]:
    results: list[object] = [None] * len(calls)

    def run(index, call):
        try:
            with store.writing() as uow:
                results[index] = call(uow)
        except Exception as err:  # collected and asserted on below
            results[index] = err

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_threads_complete_the_same_task(demo, monkeypatch):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    task = ready_task(demo, instance_id, "inspect_goods")
    overlapping(monkeypatch, 2)
    results = race(demo, [
        lambda uow: instances.complete_task(uow, actor_named(uow, "li.qa"), task.id, PASS),
        lambda uow: instances.complete_task(uow, actor_named(uow, "he.qa"), task.id, PASS),
    ])
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 1, results
    assert len([r for r in results if not isinstance(r, Exception)]) == 1, results
    with demo.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent).where(
            TaskEvent.element_id == "inspect_goods")) == 1
        ready = uow.session.scalars(select(Task.element_id).where(
            Task.process_instance_id == instance_id, Task.status == "ready")).all()
    assert ready == ["warehouse_intake"]
    complete(demo, instance_id, "warehouse_intake", "guo.wh",
             {"storage_location": "A", "received_quantity": 1})


def test_twenty_threads_one_winner(demo, monkeypatch):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    overlapping(monkeypatch, 20)
    people = ["zhang.proc", "lin.proc", "zheng.proc"]
    results = race(demo, [
        (lambda uow, who=people[i % 3]:
         instances.complete_task(uow, actor_named(uow, who), task.id, DELIVERY))
        for i in range(20)])
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, Exception)), results
    with demo.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent)) == 1


def cli(database_url: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=database_url)
    return subprocess.Popen([sys.executable, "-m", "web.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_complete_the_same_task(demo, database_url):
    instance_id = start(demo)
    task = ready_task(demo, instance_id, "register_delivery")
    procs = [cli(database_url, "complete", task.id, "--as", who, "--data", json.dumps(DELIVERY))
             for who in ("zhang.proc", "lin.proc")]
    outcomes = [(proc.wait(timeout=120), proc.stderr.read()) for proc in procs]
    assert sorted(code for code, _ in outcomes) == [0, 1], outcomes
    loser = next(err for code, err in outcomes if code == 1)
    assert "already completed" in loser or "changed by someone else" in loser, outcomes
    with demo.reading() as uow:
        assert uow.session.scalar(select(func.count()).select_from(TaskEvent)) == 1


def test_timer_racing_a_completion_keeps_the_instance_consistent(demo, monkeypatch):
    instance_id = start(demo)
    complete(demo, instance_id, "register_delivery", "zhang.proc", DELIVERY)
    task = ready_task(demo, instance_id, "inspect_goods")
    with demo.reading() as uow:
        timer_id = uow.session.scalars(select(Timer.id)).one()
    overlapping(monkeypatch, 2)
    results = race(demo, [
        lambda uow: instances.complete_task(uow, actor_named(uow, "li.qa"), task.id, PASS),
        lambda uow: instances.fire_timer(uow, timer_id),
    ])
    completion, fired = results
    if isinstance(completion, Conflict):  # the timer won: the person simply retries
        with demo.writing() as uow:
            instances.complete_task(uow, actor_named(uow, "li.qa"), task.id, PASS)
    assert not isinstance(fired, Exception) or isinstance(fired, Conflict), results
    with demo.reading() as uow:
        timer = uow.session.get(Timer, timer_id)
        alerts = uow.session.scalar(select(func.count()).select_from(Task).where(
            Task.element_id == "alert_supervisor"))
        events = uow.session.scalar(select(func.count()).select_from(TaskEvent).where(
            TaskEvent.element_id == "inspect_goods"))
    assert events == 1
    assert (timer.status, alerts) in {("fired", 1), ("cancelled", 0)}
    assert ready_task(demo, instance_id, "warehouse_intake")


def make_due_timers(store: Store, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        instance_id = start(store)
        complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
        ids.append(instance_id)
    with store.writing() as uow:
        uow.session.execute(update(Timer).values(
            due_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)))
        uow.commit()
    return ids


def count_alerts(store: Store) -> int:
    with store.reading() as uow:
        return uow.session.scalar(select(func.count()).select_from(Task).where(
            Task.element_id == "alert_supervisor"))


def test_two_worker_threads_never_fire_a_timer_twice(demo):
    make_due_timers(demo, 8)
    fired = [0, 0]

    def run(slot):
        fired[slot] = worker.run_due_timers(Store(demo.database_url))

    threads = [threading.Thread(target=run, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(fired) == 8
    assert count_alerts(demo) == 8


def test_two_worker_processes_never_fire_a_timer_twice(demo, database_url):
    make_due_timers(demo, 6)
    procs = [cli(database_url, "worker", "--once") for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    counts = [int(out.split()[1]) for out, _ in outputs]
    assert sum(counts) == 6
    assert count_alerts(demo) == 6
