"""HTTP task completion against the raw engine round trip, measured in one run.

Target: HTTP completion p50 <= 4x the raw engine round trip.

- raw: engine only, no DB, no HTTP: `Instance.restore(model, json.loads(state))`, complete
  `register_delivery` of inbound_materials, `json.dumps(instance.dump())` (as in
  bench/engine_roundtrip.py), always from the same freshly started state.
- service: `services.workflow.instances.complete_task` in a writing UnitOfWork, in this process
  (database, no HTTP, no auth): shows how much of the HTTP figure is the use case itself.
- app: the same POST through Flask's test client in this process (token check, the
  route's unit of work, JSON), no socket and no server: http - app is the server and network.
- http: POST /api/v1/tasks/{id}/complete to a real `dutyflow serve` process (waitress,
  8 threads, access log to a file) from a keep-alive http.client client, signed in as
  zhang.proc. Every request completes a distinct ready task of a pre-started instance.
  The report counts the TCP connections the client had to open.
- floor: GET /healthz on the same server: socket + waitress + Flask doing nothing.
- statements: what the app path sends to the database per completion (SQLAlchemy's
  `before_cursor_execute`, plus the transaction's COMMIT): each is a round trip.
- CPU: the CPU time this process spent per completion on the service and app paths
  (thread time: the step itself runs in a sandbox process and is not in it). Unlike
  latency it hardly moves with what else the machine is doing, so it compares checkouts.

The paths are interleaved request by request (rotating order) so machine noise hits them
alike. Each of service, app and http has its own database with the same content: a SQLite
connection drops its page cache whenever another connection writes the file, so paths
sharing one database would each pay for the others' writes, a cost of the benchmark's
layout and not of the path. requests/s is for one sequential client: requests / summed
latency. The databases are temporary (SQLite in a temp dir, or fresh PostgreSQL schemas
that are dropped).

    .venv/bin/python bench/http_completion.py [--backend sqlite|postgresql] [--requests 300]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import POSTGRES_URL, ROOT, load_org_and_diagrams, ms, percentile, temporary_database  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from engine.loader import load_processes  # noqa: E402
from engine.runtime import Instance  # noqa: E402
from services.identity.access import actor_named  # noqa: E402
from services.persistence.models import Task, TaskEvent  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.settings import Settings  # noqa: E402
from services.workflow import instances  # noqa: E402
from web.app import create_app  # noqa: E402

BPMN = ROOT / "bpmn" / "inbound_materials.bpmn"
KEY, STEP, NEXT_STEP = "inbound_materials", "register_delivery", "inspect_goods"
USER = "zhang.proc"
DATA = {"supplier": "S", "material": "M", "quantity": 1}
WARMUP = 20
TARGET = 4.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """A keep-alive HTTP/1.1 client; counts the TCP connections it had to open.

    http.client reconnects by itself when the server answered `Connection: close`.
    """

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.requests = 0
        self.connects = 0
        self.token: str | None = None

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        payload = json.dumps(body).encode() if body is not None else None
        self.requests += 1
        self.connects += self.connection.sock is None
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()


def start_server(database_url: str, log_path: Path,
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, **(extra_env or {}))
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"dutyflow serve exited:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return process, port
        except OSError:
            time.sleep(0.2)
    process.terminate()
    sys.exit("dutyflow serve did not answer /healthz within 60 s")


def start_instances(store: Store, count: int) -> list[str]:
    """Start `count` instances; return the ids of their ready register_delivery tasks."""
    ids = []
    for _ in range(count):
        with store.writing() as uow:
            row = instances.start_process(uow, KEY, None, "bench")
            ids.append(uow.session.scalars(select(Task.id).where(
                Task.process_instance_id == row.id, Task.status == "ready")).one())
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="server for --backend postgresql (a fresh schema is created and dropped)")
    args = parser.parse_args()
    n = args.requests

    # The raw round trip's input: the state right after starting, as JSON text.
    [model] = load_processes(BPMN.read_bytes(), BPMN.name)
    start_state = json.dumps(Instance.start(model).dump())

    def raw() -> float:
        started = time.perf_counter()
        instance = Instance.restore(model, json.loads(start_state))
        instance.complete(instance.ready_tasks()[0].id, DATA)
        json.dumps(instance.dump())
        return time.perf_counter() - started

    with temporary_database(args.backend, args.postgres_url) as http_url, \
            temporary_database(args.backend, args.postgres_url) as service_url, \
            temporary_database(args.backend, args.postgres_url) as app_url, \
            tempfile.TemporaryDirectory(prefix="dutyflow-bench-log-") as logs:
        stores = {name: Store(url) for name, url in
                  (("http", http_url), ("service", service_url), ("app", app_url))}
        server = None
        try:
            setup = time.perf_counter()
            for store in stores.values():
                load_org_and_diagrams(store)
            http_ids = start_instances(stores["http"], n + WARMUP)
            service_ids = start_instances(stores["service"], n + WARMUP)
            app_ids = start_instances(stores["app"], n + WARMUP)
            setup = time.perf_counter() - setup
            server, port = start_server(http_url, Path(logs) / "serve.log")
            client = Client(port)
            status, body = client.call("POST", "/api/v1/auth/token",
                                       {"username": USER, "password": "demo"})
            assert status == 200, body
            client.token = json.loads(body)["token"]
            app = create_app(Settings(app_url), store=stores["app"])
            token = app.test_client().post("/api/v1/auth/token", json={
                "username": USER, "password": "demo"}).get_json()["token"]
            test_client = app.test_client()
            app_headers = {"Authorization": f"Bearer {token}"}

            def via_http(task_id: str) -> float:
                started = time.perf_counter()
                status, body = client.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": DATA})
                elapsed = time.perf_counter() - started
                assert status == 200, (status, body[:500])
                assert json.loads(body)["tasks"][0]["element_id"] == NEXT_STEP, body[:500]
                return elapsed

            with stores["service"].reading() as uow:
                user = actor_named(uow, USER)  # as the API has it from the token

            cpu: dict[str, float] = {"service": 0.0, "app": 0.0}

            def via_service(task_id: str) -> float:
                started, cpu_from = time.perf_counter(), time.thread_time()
                with stores["service"].writing() as uow:
                    instances.complete_task(uow, user, task_id, DATA)
                cpu["service"] += time.thread_time() - cpu_from
                return time.perf_counter() - started

            def via_app(task_id: str) -> float:
                started, cpu_from = time.perf_counter(), time.thread_time()
                response = test_client.post(f"/api/v1/tasks/{task_id}/complete",
                                            json={"data": DATA}, headers=app_headers)
                elapsed = time.perf_counter() - started
                cpu["app"] += time.thread_time() - cpu_from
                assert response.status_code == 200, response.data[:500]
                return elapsed

            def floor() -> float:  # a request that does nothing: socket + waitress + Flask
                started = time.perf_counter()
                status, _ = client.call("GET", "/healthz")
                assert status == 200
                return time.perf_counter() - started

            for i in range(WARMUP):
                raw(), via_service(service_ids[i]), via_app(app_ids[i]), via_http(http_ids[i])
                floor()
            sent: list[str] = []

            def count_statement(_conn, _cursor, statement, *_):
                sent.append(statement.split()[0])

            def count_commit(_conn):
                sent.append("COMMIT")

            event.listen(stores["app"].engine, "before_cursor_execute", count_statement)
            event.listen(stores["app"].engine, "commit", count_commit)
            runs = {"raw": lambda i: raw(), "service": lambda i: via_service(service_ids[WARMUP + i]),
                    "app": lambda i: via_app(app_ids[WARMUP + i]),
                    "http": lambda i: via_http(http_ids[WARMUP + i]), "floor": lambda i: floor()}
            samples: dict[str, list[float]] = {name: [] for name in runs}
            names = list(runs)
            cpu.update(service=0.0, app=0.0)  # the timed completions' only
            wall = time.perf_counter()
            for i in range(n):
                for k in range(len(names)):  # rotate the order every round
                    name = names[(i + k) % len(names)]
                    samples[name].append(runs[name](i))
            wall = time.perf_counter() - wall
            event.remove(stores["app"].engine, "before_cursor_execute", count_statement)
            event.remove(stores["app"].engine, "commit", count_commit)

            for name, store in stores.items():
                with store.reading() as uow:
                    events = uow.session.scalar(select(func.count()).select_from(TaskEvent))
                assert events == n + WARMUP, f"{name}: {events} completion events, expected {n + WARMUP}"
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            for store in stores.values():
                store.dispose()

    raw_p50, http_p50, service_p50 = (percentile(samples[k], 50) for k in ("raw", "http", "service"))
    ratio = http_p50 / raw_p50
    print(f"backend: {args.backend}; {n} timed completions per path after {WARMUP} warm-up "
          f"({KEY}.{STEP}), interleaved; setup {setup:.1f} s, timed loop {wall:.1f} s")
    print(f"http: {client.requests} requests over {client.connects} TCP connection(s)"
          + ("" if client.connects == 1 else " (the server closed connections: no keep-alive)"))
    http_samples = samples["http"]
    print(f"http completion:   {n / sum(http_samples):7.1f} requests/s  "
          f"p50 {ms(http_p50)}  p95 {ms(percentile(http_samples, 95))}  "
          f"max {ms(max(http_samples))}")
    for name, label in (("app", "app (test client)"), ("service", "service in-process"),
                        ("raw", "raw engine trip"), ("floor", "http GET /healthz")):
        values = samples[name]
        print(f"{label + ':':<19}{'':20}p50 {ms(percentile(values, 50))}  "
              f"p95 {ms(percentile(values, 95))}  max {ms(max(values))}")
    print(f"http p50 / raw p50:    {ratio:5.2f}x  (target <= {TARGET:.0f}x: "
          f"{'MET' if ratio <= TARGET else 'NOT MET'})")
    kinds = {kind: sent.count(kind) / n for kind in dict.fromkeys(sent)}
    print(f"statements per completion (app path): {len(sent) / n:.1f} ("
          + ", ".join(f"{kind} {count:g}" for kind, count in kinds.items()) + ")")
    app_p50 = percentile(samples["app"], 50)
    print(f"service p50 / raw p50: {service_p50 / raw_p50:5.2f}x  (engine + database + projection)")
    print(f"app p50 / raw p50:     {app_p50 / raw_p50:5.2f}x  (+ token check, Flask, "
          f"JSON: {(app_p50 - service_p50) * 1000:+.2f} ms)")
    print(f"http p50 / app p50:    {http_p50 / app_p50:5.2f}x  (+ server and network: "
          f"{(http_p50 - app_p50) * 1000:+.2f} ms)")
    print(f"CPU per completion in this process: service {cpu['service'] / n * 1000:.2f} ms, "
          f"app {cpu['app'] / n * 1000:.2f} ms (the step's own CPU is the sandbox's)")


if __name__ == "__main__":
    main()
