"""A database out of reach: 503 with Retry-After, one log line per outage, /readyz.

The PostgreSQL test runs its own throwaway server, which it stops and starts again: the
shared server on 127.0.0.1:5432 serves other test runs and must never be touched.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from services.persistence.schema import init_db
from services.persistence.unit_of_work import Store
from services.settings import Settings
from tests.services.helpers import deploy, import_demo_org, ready_task, start
from web.app import create_app
from web.outage import OutageLog

INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, run as user postgres
    when we are root (the server refuses to run as root)."""

    def __init__(self, directory: Path):
        self.bin = Path(INITDB[-1]).parent
        self.data = directory / "data"
        self.port = _free_port()
        self.directory = directory
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_postgres, *command], check=True, capture_output=True)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.directory / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres():
    if not INITDB:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)")
    directory = Path(tempfile.mkdtemp(prefix="dutyflow-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    server = PrivatePostgres(directory)
    server.init()
    server.start()
    try:
        yield server
    finally:
        subprocess.run([*server.as_postgres, str(server.bin / "pg_ctl"), "-D",
                        str(server.data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def _app_with_work(store: Store):
    """An app over a database holding the demo org and one ready task; and that task."""
    import_demo_org(store)
    deploy(store)
    task = ready_task(store, start(store), "register_delivery")
    return create_app(Settings(store.database_url), store=store), task


def _token(client, username: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": "demo"})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def _outage_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "web.outage"]


def test_a_stopped_database_answers_503_and_logs_once(private_postgres, caplog):
    store = Store(private_postgres.url)
    init_db(store)
    app, task = _app_with_work(store)
    client = app.test_client()
    proc = _token(client, "zhang.proc")
    assert [t["id"] for t in client.get("/api/v1/tasks", headers=proc).json] == [task.id]
    with client.session_transaction() as page_session:
        page_session["username"] = "zhang.proc"
    caplog.set_level(logging.WARNING)

    private_postgres.stop()
    answers = []
    for _ in range(10):
        answers += [client.get("/api/v1/tasks", headers=proc),
                    client.post("/api/v1/auth/token", json={"username": "li.qa",
                                                            "password": "demo"}),
                    client.post(f"/api/v1/tasks/{task.id}/claim", headers=proc),
                    client.get(f"/api/v1/tasks/{task.id}", headers=proc),
                    client.get("/")]
    assert {(a.status_code, a.headers.get("Retry-After")) for a in answers} == {(503, "5")}
    assert {a.content_type for a in answers[:4]} == {"application/problem+json"}
    assert answers[0].json["status"] == 503
    assert answers[4].mimetype == "text/html"
    ready = client.get("/readyz")
    assert (ready.status_code, ready.headers["Retry-After"], ready.json) == \
        (503, "5", {"status": "unavailable"})
    assert client.get("/healthz").status_code == 200
    [down] = _outage_lines(caplog)
    assert "database unavailable" in down
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]

    private_postgres.start()
    assert client.get("/readyz").json == {"status": "ready"}
    assert [t["id"] for t in client.get("/api/v1/tasks", headers=proc).json] == [task.id]
    assert client.post(f"/api/v1/tasks/{task.id}/claim", headers=proc).status_code == 200
    assert _outage_lines(caplog)[1:] == [_outage_lines(caplog)[1]]
    assert "database is back after 51 failed requests" in _outage_lines(caplog)[1]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    store.dispose()


@pytest.fixture
def sqlite_store(tmp_path, sqlite_template):
    path = tmp_path / "dutyflow.db"
    shutil.copy(sqlite_template, path)
    store = Store(f"sqlite:///{path}")

    @event.listens_for(store.engine, "connect")
    def short_busy_timeout(dbapi_connection, _record):
        # After services.persistence.db's 30 s, so this one counts: the test need not wait that long.
        dbapi_connection.execute("PRAGMA busy_timeout=300")

    yield store
    store.dispose()


def test_a_write_waiting_for_a_locked_sqlite_file_answers_503_after_the_busy_timeout(
        sqlite_store, caplog):
    app, task = _app_with_work(sqlite_store)
    client = app.test_client()
    proc = _token(client, "zhang.proc")
    caplog.set_level(logging.WARNING)
    holder = sqlite3.connect(sqlite_store.engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than we wait
    try:
        began = time.monotonic()
        claim = client.post(f"/api/v1/tasks/{task.id}/claim", headers=proc)
        waited = time.monotonic() - began
    finally:
        holder.rollback()
        holder.close()
    assert (claim.status_code, claim.headers["Retry-After"]) == (503, "5")
    assert 0.3 <= waited < 3
    assert "database is locked" in _outage_lines(caplog)[0]
    assert client.post(f"/api/v1/tasks/{task.id}/claim", headers=proc).status_code == 200
    assert "back after 1 failed requests" in _outage_lines(caplog)[-1]


def test_a_database_error_that_is_a_bug_stays_a_500_with_its_traceback(sqlite_store, caplog):
    app, task = _app_with_work(sqlite_store)
    client = app.test_client()
    proc = _token(client, "zhang.proc")
    holder = sqlite3.connect(sqlite_store.engine.url.database)
    holder.execute("DROP TABLE task_comments")  # as if a migration were missing
    holder.commit()
    holder.close()
    response = client.get(f"/api/v1/tasks/{task.id}/comments", headers=proc)
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert any(record.exc_info for record in caplog.records if record.name == "web.errors")
    assert not _outage_lines(caplog)


def test_readyz_answers_ready_when_the_database_answers(sqlite_store):
    app, _ = _app_with_work(sqlite_store)
    ready = app.test_client().get("/readyz")
    assert (ready.status_code, ready.json) == (200, {"status": "ready"})


def test_an_outage_seen_by_many_threads_at_once_is_logged_once_each_way(caplog):
    outage, refused = OutageLog(), OperationalError("SELECT 1", {}, Exception("refused"))
    caplog.set_level(logging.WARNING)
    start_together = threading.Barrier(8)

    def fail_then_answer():
        start_together.wait()
        for _ in range(100):
            outage.failed(refused)
        start_together.wait()
        outage.answered()

    threads = [threading.Thread(target=fail_then_answer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    down, back = _outage_lines(caplog)
    assert "database unavailable (refused)" in down
    assert "back after 800 failed requests" in back
