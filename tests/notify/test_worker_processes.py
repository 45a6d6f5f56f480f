"""Delivery as deployed: `dutyflow serve` sends from a delivery process of its own, and
`dutyflow worker --once` sends what is due and exits."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from services.persistence.schema import init_db
from services.persistence.unit_of_work import Store
from tests.conftest import ROOT
from tests.notify.receivers import HttpReceiver
from tests.notify.support import WEBHOOK_SECRET, demo_org, import_org
from tests.serving import children_of, free_port, wait_until_healthy
from tests.services.helpers import DELIVERY, complete, deploy, start
from web.cli import main


def database_with_webhook(path: Path, url: str) -> str:
    database = f"sqlite:///{path}"
    store = Store(database)
    try:
        init_db(store)
        import_org(store, demo_org({"webhook": url, "secret": WEBHOOK_SECRET}))
        deploy(store)
    finally:
        store.dispose()
    return database


def delivery_processes_of(pid: int) -> list[int]:
    """Child processes of `pid` running `dutyflow worker` (the others are sandbox workers)."""
    return [child for child, command in children_of(pid) if b"worker" in command]


def test_worker_once_delivers_what_is_due(tmp_path):
    receiver = HttpReceiver(WEBHOOK_SECRET)
    try:
        database = database_with_webhook(tmp_path / "d.db", receiver.url)
        store = Store(database)
        complete(store, start(store), "register_delivery", "zhang.proc", DELIVERY)
        store.dispose()
        result = CliRunner().invoke(main, ["worker", "--once"], env={"DATABASE_URL": database})
        assert result.exit_code == 0, result.output
        assert "notifications: 1 sent, 0 to retry, 0 failed" in result.output
        assert len(receiver.received) == 1 and receiver.received[0].signature_ok
    finally:
        receiver.close()


def test_serve_delivers_from_its_own_process_and_stops_it(tmp_path):
    receiver = HttpReceiver(WEBHOOK_SECRET)
    port = free_port()
    database = database_with_webhook(tmp_path / "d.db", receiver.url)
    server = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port)],
                              cwd=ROOT, env={**os.environ, "DATABASE_URL": database},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(server, base)
        token = _post(base, "/api/v1/auth/token", {"username": "zhang.proc", "password": "demo"})
        auth = {"Authorization": f"Bearer {token['token']}"}
        started = _post(base, "/api/v1/process-instances", {"process_key": "inbound_materials"},
                        auth)
        _post(base, f"/api/v1/tasks/{started['tasks'][0]['id']}/complete", {"data": DELIVERY},
              auth)
        assert receiver.arrived.wait(30), "nothing delivered"
        assert receiver.received[0].json["title"] == "New task: Inspect goods"
        [delivering] = delivery_processes_of(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        receiver.close()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{delivering}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{delivering}/stat").exists() or \
        (Path(f"/proc/{delivering}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _post(base: str, path: str, body: dict, headers: dict | None = None) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())
