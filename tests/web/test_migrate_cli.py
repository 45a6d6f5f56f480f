"""`dutyflow migrate`: the plan, a run with its progress bar, and a run killed half-way
then resumed, as real processes on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from sqlalchemy import func, select, text

from services.persistence.models import InstanceAction, MigrationItem, ProcessInstance
from tests.conftest import ROOT
from tests.services.helpers import import_demo_org
from tests.services.migration_diagrams import KEY, deploy_version, start_many
from tests.web.test_cli import run  # noqa: F401 - the fixture


def prepared(store, count: int) -> list[int]:
    import_demo_org(store)
    deploy_version(store, 1)
    ids = start_many(store, count)
    deploy_version(store, 2)
    deploy_version(store, 3)
    return ids


def test_a_dry_run_prints_the_plan_then_a_run_shows_its_progress(run, store):
    ids = prepared(store, 12)
    plan = run("migrate", KEY, "--from", "1", "--to", "3", "--dry-run").stdout
    assert "changed  inspect [qa] -> check [qa]" not in plan  # not mapped: removed and added
    assert "removed  inspect [qa] -> - []" in plan and "added    - [] -> check [qa]" in plan
    assert f"instance {ids[0]} left out: inspect is active" in plan
    assert "0 of 12 instances can be migrated, 12 left out" in plan
    mapped = run("migrate", KEY, "--from", "1", "--to", "2", "--dry-run").stdout
    assert "approve [qa] -> approve [warehouse]" in mapped
    assert "new fields inspection_no" in mapped and "deadline - -> P2D" in mapped

    done = run("migrate", KEY, "--from", "1", "--to", "3", "--mapping", "inspect=check",
               "--batch-size", "5")
    assert "migrating inspection" in done.stderr  # the bar draws itself on a terminal only
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["total"], summary["migrated"]) == ("completed", 12, 12)
    with store.reading() as uow:
        assert set(uow.session.scalars(select(ProcessInstance.process_version))) == {3}

    same = run("migrate", KEY, "--from", "3", "--to", "3", check=False)
    assert same.returncode == 1 and "to_version:" in same.stderr
    bad = run("migrate", KEY, "--from", "3", "--to", "1", "--mapping", "check", check=False)
    assert bad.returncode == 1 and "OLD_ELEMENT=NEW_ELEMENT" in bad.stderr
    ghost = run("migrate", KEY, "--from", "3", "--to", "1", "--mapping", "ghost=inspect",
                check=False)
    assert ghost.returncode == 1 and "ghost is not an element of version 3" in ghost.stderr


def _migrated(store) -> int:
    with store.reading() as uow:
        return uow.session.scalar(select(func.count()).where(MigrationItem.status == "migrated"))


def test_a_migration_killed_half_way_resumes_without_migrating_anyone_twice(run, store,
                                                                         database_url):
    # SQLite cannot lock one row: the test takes the write lock once 10 are migrated, so
    # there are enough instances that the run cannot finish in the meantime.
    total = 40 if database_url.startswith("postgresql") else 300
    ids = prepared(store, total)
    blocker = None
    if database_url.startswith("postgresql"):
        # The 25th instance stays locked (as a step locks it; NO KEY, so the items referring
        # to it can be written): the run migrates the ones before it, then waits.
        blocker = store.engine.connect()
        blocker.begin()
        blocker.execute(text("SELECT id FROM process_instances WHERE id = :id FOR NO KEY UPDATE"),
                        {"id": ids[24]})
    env = dict(os.environ, DATABASE_URL=database_url)
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "migrate", KEY, "--from", "1",
                                "--to", "2", "--batch-size", "5"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _migrated(store) < 10:
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        if blocker is None:  # SQLite: hold the write lock, so the run waits where it is
            blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"),
                                      isolation_level=None, timeout=30)
            blocker.execute("BEGIN IMMEDIATE")
        stopped_at = _migrated(store)
        process.send_signal(signal.SIGKILL)  # the process running the migration dies
        process.wait(timeout=30)
    finally:
        if blocker is not None:
            blocker.rollback()
            blocker.close()
    assert 10 <= stopped_at < total and _migrated(store) == stopped_at
    with store.reading() as uow:
        migration_id = uow.session.scalar(select(MigrationItem.migration_id).limit(1))

    resumed = run("migrate", KEY, "--resume", str(migration_id))
    summary = json.loads(resumed.stdout)
    assert (summary["status"], summary["migrated"]) == ("completed", total)
    with store.reading() as uow:
        counts = dict(uow.session.execute(
            select(InstanceAction.process_instance_id, func.count())
            .where(InstanceAction.kind == "migrated")
            .group_by(InstanceAction.process_instance_id)).all())
        versions = set(uow.session.scalars(select(ProcessInstance.process_version)))
    assert counts == {instance_id: 1 for instance_id in ids} and versions == {2}
    again = run("migrate", KEY, "--resume", str(migration_id), check=False)
    assert again.returncode == 1 and "already completed" in again.stderr
