"""Message correlation against task completion, both over HTTP to a real server, measured
in one run. Target: POST /messages p50 <= 1.5x POST /tasks/{id}/complete p50.

- completion: POST /api/v1/tasks/{id}/complete of inbound_materials' register_delivery as
  zhang.proc (as bench/http_completion.py does): each request a distinct ready task.
- message: POST /api/v1/messages {"name": "payment", "business_key": "PO-n"} as admin:
  each request moves a distinct instance of `awaiting` (start -> receive task waiting for
  "payment" -> a QA task), found among all the waiting ones by its business key; the
  instance runs on to its next task in the same request.

Both go to one `dutyflow serve` (waitress) over keep-alive http.client connections, and
are interleaved request by request, so machine noise hits them alike. The database is
temporary (SQLite in a temp dir, or a fresh PostgreSQL schema that is dropped).

    .venv/bin/python bench/correlation.py [--backend sqlite|postgresql] [--requests 300]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import load_org_and_diagrams, ms, percentile, temporary_database  # noqa: E402
from http_completion import DATA, Client, start_instances, start_server  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from services.persistence.models import InstanceAction  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.workflow import definitions, instances  # noqa: E402

TARGET = 1.5
WARMUP = 20
AWAITING = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:message id="m_pay" name="payment"/>
  <bpmn:process id="awaiting" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="qa" name="QA">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>paid</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>check</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:receiveTask id="paid" messageRef="m_pay"/>
    <bpmn:userTask id="check" name="check"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="paid"/>
    <bpmn:sequenceFlow id="f2" sourceRef="paid" targetRef="check"/>
    <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def start_awaiting(store: Store, count: int) -> list[str]:
    keys = []
    for number in range(count):
        with store.writing() as uow:
            instances.start_process(uow, "awaiting", None, "li.qa", f"PO-{number}")
        keys.append(f"PO-{number}")
    return keys


def signed_in(port: int, username: str) -> Client:
    client = Client(port)
    status, body = client.call("POST", "/api/v1/auth/token",
                               {"username": username, "password": "demo"})
    assert status == 200, body
    client.token = json.loads(body)["token"]
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    n = args.requests
    with temporary_database(args.backend) as url, \
            tempfile.TemporaryDirectory(prefix="dutyflow-bench-log-") as logs:
        store = Store(url)
        server = None
        try:
            setup = time.perf_counter()
            load_org_and_diagrams(store)
            definitions.deploy(store, AWAITING, "awaiting.bpmn", "bench")
            task_ids = start_instances(store, n + WARMUP)
            keys = start_awaiting(store, n + WARMUP)
            setup = time.perf_counter() - setup
            server, port = start_server(url, Path(logs) / "serve.log")
            clerk, admin = signed_in(port, "zhang.proc"), signed_in(port, "admin")

            def complete(i: int) -> float:
                started = time.perf_counter()
                status, body = clerk.call("POST", f"/api/v1/tasks/{task_ids[i]}/complete",
                                          {"data": DATA})
                elapsed = time.perf_counter() - started
                assert status == 200, (status, body[:500])
                return elapsed

            def message(i: int) -> float:
                started = time.perf_counter()
                status, body = admin.call("POST", "/api/v1/messages",
                                          {"name": "payment", "business_key": keys[i]})
                elapsed = time.perf_counter() - started
                assert status == 200, (status, body[:500])
                assert len(json.loads(body)["instances"]) == 1, body[:500]
                return elapsed

            for i in range(WARMUP):
                complete(i), message(i)
            samples: dict[str, list[float]] = {"completion": [], "message": []}
            wall = time.perf_counter()
            for i in range(WARMUP, WARMUP + n):
                order = [("completion", complete), ("message", message)]
                for name, call in (order if i % 2 else order[::-1]):
                    samples[name].append(call(i))
            wall = time.perf_counter() - wall
            with store.reading() as uow:
                moved = uow.session.scalar(select(func.count()).where(
                    InstanceAction.kind == "message"))
            assert moved == n + WARMUP, f"{moved} message actions, expected {n + WARMUP}"
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            store.dispose()

    completion, message_p50 = (percentile(samples[k], 50) for k in ("completion", "message"))
    ratio = message_p50 / completion
    print(f"backend: {args.backend}; {n} timed requests per path after {WARMUP} warm-up, "
          f"interleaved; {n + WARMUP} instances waiting for the message; setup {setup:.1f} s, "
          f"timed loop {wall:.1f} s")
    for name in ("completion", "message"):
        values = samples[name]
        print(f"{name + ':':<12} p50 {ms(percentile(values, 50))}  "
              f"p95 {ms(percentile(values, 95))}  max {ms(max(values))}")
    print(f"message p50 / completion p50: {ratio:5.2f}x  (target <= {TARGET}x: "
          f"{'MET' if ratio <= TARGET else 'NOT MET'})")


if __name__ == "__main__":
    main()
