"""End to end: a real `dutyflow serve --demo` process answering over HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.serving import free_port, wait_until_healthy


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


@pytest.fixture
def server(database_url):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url)
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--demo", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(process, base)
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
