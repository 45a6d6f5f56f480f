"""End to end: a real `dutyflow serve --demo` process answering over HTTP, on waitress (one
process) and on gunicorn (`--processes 2`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.notify.test_worker_processes import delivery_processes_of
from tests.serving import children_of, free_port, wait_until_healthy


def call(base: str, method: str, path: str, body=None, token=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def start_server(database_url: str, *options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url)
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port),
                                *options], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(process, base)
    return process, base


@pytest.fixture(params=[1, 2], ids=["waitress", "gunicorn-2"])
def server(database_url, request):
    process, base = start_server(database_url, "--demo", "--processes", str(request.param))
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_demo_server_serves_the_whole_job(server):
    status, body = call(server, "POST", "/api/v1/auth/token", {"username": "zhang.proc", "password": "demo"})
    assert status == 200
    token = body["token"]
    status, tasks = call(server, "GET", "/api/v1/tasks", token=token)
    # The demo's procurement inbox: deliveries to register and a return.
    assert status == 200 and {t["element_id"] for t in tasks} == {"register_delivery", "return_goods"}
    tasks = [task for task in tasks if task["element_id"] == "register_delivery"]
    status, result = call(server, "POST", f"/api/v1/tasks/{tasks[0]['id']}/complete",
                          {"data": {"supplier": "S", "material": "M", "quantity": 2}}, token)
    assert status == 200 and result["tasks"][0]["department"] == "qa"
    status, problem = call(server, "POST", f"/api/v1/tasks/{tasks[0]['id']}/complete",
                           {"data": {}}, token)
    assert status == 409 and problem["title"] == "Conflict"


def test_processes_fork_workers_each_with_its_own_sandbox_and_one_background_worker(tmp_path):
    """gunicorn's master forks the server processes; each starts its own sandbox workers
    (none inherited), timers and deliveries run in exactly one process beside them, and
    SIGTERM stops them all."""
    database = f"sqlite:///{tmp_path / 'd.db'}"
    server, base = start_server(database, "--demo", "--processes", "3", "--threads", "2")
    try:
        [background] = delivery_processes_of(server.pid)
        servers = [pid for pid, command in children_of(server.pid) if b"serve" in command]
        assert len(servers) == 3
        deadline = time.monotonic() + 30
        while True:  # sandbox workers start in the background after the fork
            sandboxes = {pid: [child for child, command in children_of(pid)
                               if b"engine.sandbox_worker" in b" ".join(command)]
                         for pid in servers}
            if all(len(found) == 2 for found in sandboxes.values()):
                break
            assert time.monotonic() < deadline, sandboxes
            time.sleep(0.2)
        token = call(base, "POST", "/api/v1/auth/token",
                     {"username": "zhang.proc", "password": "demo"})[1]["token"]
        for _ in range(12):  # requests land on any process; every one knows the token
            status, tasks = call(base, "GET", "/api/v1/tasks", token=token)
            assert status == 200 and tasks
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
    everyone = [background, *servers, *(pid for found in sandboxes.values() for pid in found)]
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in everyone) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in everyone if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_processes_starting_together_share_one_local_secret(tmp_path):
    """Without DUTYFLOW_SECRET_KEY, processes on one machine (serve, its workers) all sign
    sessions with the key the first of them wrote to instance/secret_key."""
    env = {key: value for key, value in os.environ.items() if key != "DUTYFLOW_SECRET_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    code = "from services.settings import Settings; print(Settings.from_env().secret_key)"
    starters = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env,
                                 stdout=subprocess.PIPE, text=True) for _ in range(6)]
    keys = {starter.communicate(timeout=60)[0].strip() for starter in starters}
    assert len(keys) == 1 and len(keys.pop()) >= 48
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_metrics_of_all_the_processes_are_summed(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape answered by any process counts the requests
    every process served; a previous run's files are cleared at start."""
    from prometheus_client.parser import text_string_to_metric_families

    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_99999.db").write_bytes(b"stale")  # not a valid file: must be removed
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "DUTYFLOW_METRICS_TOKEN": "scrape-me"}
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        server, base = start_server(f"sqlite:///{tmp_path / 'd.db'}", "--processes", "2",
                                    "--threads", "2")
    finally:
        for key, value in previous.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    try:
        for _ in range(30):
            call(base, "GET", "/api/v1/departments")  # 401s, on whichever process
        counts = set()
        for _ in range(4):
            request = urllib.request.Request(base + "/metrics",
                                             headers={"Authorization": "Bearer scrape-me"})
            with urllib.request.urlopen(request, timeout=30) as response:
                families = {family.name: family for family in
                            text_string_to_metric_families(response.read().decode())}
            counts.add(sum(sample.value for sample in
                           families["dutyflow_http_request_duration_seconds"].samples
                           if sample.name.endswith("_count")
                           and sample.labels["route"] == "/api/v1/departments"))
        files = {path.name for path in folder.glob("*.db")}
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)
    assert counts == {30}
    assert files and "counter_99999.db" not in files


def test_a_forked_process_starts_its_own_sandbox_pool():
    """What gunicorn and Celery workers rely on: after a fork the child never talks to the
    parent's sandbox workers (their pipes would interleave two processes' steps)."""
    from services.workflow import engine_steps

    parent_pool = engine_steps.pool()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        fresh = engine_steps._pool is None and engine_steps.pool() is not parent_pool
        os.write(write_end, b"fresh" if fresh else b"inherited")
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        assert answer.read() == b"fresh"
    os.waitpid(child, 0)
    assert engine_steps.pool() is parent_pool
