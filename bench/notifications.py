"""Notifications: what they add to an HTTP completion, and how fast the worker delivers.

Targets: HTTP completion p50 with notifications on <= 1.15x the p50 with them off, and
the delivery worker sends >= 200 webhook notifications/s to a local receiver.

1. Completion, side by side in one run: two `dutyflow serve` processes (waitress, the
   timer and delivery loops running beside the app as in production), each on its own
   database with the demo org, completing `register_delivery` of inbound_materials, which
   makes QA's `inspect_goods` ready. `off`: the demo org as shipped, nobody opted in, no
   channels (the recipient query still runs). `on`: QA has a webhook and a DingTalk robot
   (local receivers that check every signature) and its three members opted in with
   email addresses (a local aiosmtpd server): each completion writes 3 notifications and
   5 deliveries, and the server's delivery process sends them while the benchmark runs.
   The receivers run in a process of their own (bench/_receivers.py), not the measuring one.
   Requests alternate between the servers (rotating order) from keep-alive clients.
2. Delivery: `--deliveries` webhook deliveries queued, then `deliver_due_once` sends them
   all to a local HTTP receiver that checks each HMAC signature; deliveries/s over the
   whole call (claims, sends, recording the outcomes).

    .venv/bin/python bench/notifications.py [--backend sqlite|postgresql] [--requests 300]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import POSTGRES_URL, load_org_and_diagrams, ms, percentile, temporary_database  # noqa: E402
from http_completion import DATA, NEXT_STEP, USER, Client, start_instances, start_server  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from services.notify import delivery  # noqa: E402
from services.notify.outbox import notify  # noqa: E402
from services.persistence.models import Delivery, Notification, utcnow  # noqa: E402
from services.persistence.statuses import DeliveryStatus, NotificationKind  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.settings import Settings  # noqa: E402
from tests.notify.receivers import HttpReceiver  # noqa: E402
from tests.notify.support import ROBOT_SECRET, WEBHOOK_SECRET, demo_org, import_org, opt_in  # noqa: E402
from web.notifications import catalogs, channels  # noqa: E402

WARMUP = 20
COST_TARGET = 1.15
RATE_TARGET = 200.0
QA_MEMBERS = ("wang.qa", "li.qa", "he.qa")


def notifications_on(store: Store, webhook: str, robot: str) -> None:
    import_org(store, demo_org({"webhook": webhook, "secret": WEBHOOK_SECRET,
                                "robot": {"kind": "dingtalk", "url": robot,
                                          "secret": ROBOT_SECRET}},
                               **{name: {"email": f"{name}@example.com"} for name in QA_MEMBERS}))
    for name in QA_MEMBERS:
        opt_in(store, name)


def completion_cost(args) -> tuple[float, float]:
    receivers = subprocess.Popen([sys.executable, str(Path(__file__).with_name("_receivers.py"))],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    urls = json.loads(receivers.stdout.readline())
    n = args.requests
    servers, stores = [], {}
    try:
        with temporary_database(args.backend, args.postgres_url) as off_url, \
                temporary_database(args.backend, args.postgres_url) as on_url, \
                tempfile.TemporaryDirectory(prefix="dutyflow-bench-log-") as logs:
            stores = {"off": Store(off_url), "on": Store(on_url)}
            for store in stores.values():
                load_org_and_diagrams(store)
            notifications_on(stores["on"], urls["webhook"], urls["robot"])
            ids = {name: start_instances(store, n + WARMUP) for name, store in stores.items()}
            env = {"DUTYFLOW_SMTP_URL": urls["smtp"], "DUTYFLOW_BASE_URL": "https://duty.example"}
            clients = {}
            for name, url in (("off", off_url), ("on", on_url)):
                server, port = start_server(url, Path(logs) / f"{name}.log", env)
                servers.append(server)
                client = Client(port)
                status, body = client.call("POST", "/api/v1/auth/token",
                                           {"username": USER, "password": "demo"})
                assert status == 200, body
                client.token = json.loads(body)["token"]
                clients[name] = client

            def complete(name: str, task_id: str) -> float:
                started = time.perf_counter()
                status, body = clients[name].call("POST", f"/api/v1/tasks/{task_id}/complete",
                                                  {"data": DATA})
                elapsed = time.perf_counter() - started
                assert status == 200, (status, body[:500])
                assert json.loads(body)["tasks"][0]["element_id"] == NEXT_STEP
                return elapsed

            for i in range(WARMUP):
                complete("off", ids["off"][i]), complete("on", ids["on"][i])
            samples = {"off": [], "on": []}
            for i in range(n):
                order = ("off", "on") if i % 2 == 0 else ("on", "off")
                for name in order:
                    samples[name].append(complete(name, ids[name][WARMUP + i]))
            deadline = time.monotonic() + 60  # let the server's loop finish sending
            while time.monotonic() < deadline and _unsent(stores["on"]):
                time.sleep(0.2)
            with stores["on"].reading() as uow:
                written = uow.session.scalar(select(func.count()).select_from(Notification))
            unsent = _unsent(stores["on"])
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        for store in stores.values():
            store.dispose()
        receivers.stdin.write("report\n")
        receivers.stdin.flush()
        got = json.loads(receivers.stdout.readline())
        receivers.wait(timeout=30)
    total = n + WARMUP
    assert written == 3 * total, written
    assert got["duplicates"] == 0, got
    signed = got["signatures_ok"]
    off, on = percentile(samples["off"], 50), percentile(samples["on"], 50)
    print(f"completion ({args.backend}, {n} timed per server after {WARMUP} warm-up, alternating)")
    for name in ("off", "on"):
        values = samples[name]
        print(f"  notifications {name + ':':<4} p50 {ms(percentile(values, 50))}  "
              f"p95 {ms(percentile(values, 95))}  max {ms(max(values))}")
    print(f"  on: {written} notifications written; delivered while running: "
          f"{got['webhook']} webhook, {got['robot']} robot, "
          f"{got['emails']} emails (signatures {'all valid' if signed else 'INVALID'}); "
          f"{unsent} not yet sent")
    ratio = on / off
    print(f"  on p50 / off p50: {ratio:5.3f}x  (target <= {COST_TARGET:.2f}x: "
          f"{'MET' if ratio <= COST_TARGET else 'NOT MET'})")
    return ratio, on - off


def _unsent(store: Store) -> int:
    with store.reading() as uow:
        return uow.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status != DeliveryStatus.SENT)) or 0


def delivery_rate(args) -> float:
    receiver = HttpReceiver(WEBHOOK_SECRET)
    try:
        with temporary_database(args.backend, args.postgres_url) as url:
            store = Store(url)
            try:
                load_org_and_diagrams(store)
                import_org(store, demo_org({"webhook": receiver.url, "secret": WEBHOOK_SECRET}))
                now = utcnow()
                with store.writing() as uow:
                    for i in range(args.deliveries):
                        notify(uow, NotificationKind.TASK_READY, [], {"task": {
                            "id": f"t{i}", "name": "Inspect goods", "process_key": "inbound_materials",
                            "process_instance_id": i, "department": "qa",
                            "department_name": "质量部", "due_at": None}}, now, departments=["qa"])
                    uow.commit()
                sending = channels(Settings(url, base_url="https://duty.example"), catalogs())
                started = time.perf_counter()
                report = delivery.deliver_due_once(store, sending, delivery.DeliveryPolicy())
                elapsed = time.perf_counter() - started
                sending.close()
                assert report.sent == args.deliveries, report
                assert _unsent(store) == 0
            finally:
                store.dispose()
    finally:
        receiver.close()
    received = receiver.deliveries()
    assert len(received) == len(set(received)) == args.deliveries
    assert all(item.signature_ok for item in receiver.received)
    rate = args.deliveries / elapsed
    print(f"delivery ({args.backend}): {args.deliveries} webhook deliveries in {elapsed:.2f} s "
          f"by one worker, each signature checked by the receiver: {rate:7.1f}/s  "
          f"(target >= {RATE_TARGET:.0f}/s: {'MET' if rate >= RATE_TARGET else 'NOT MET'})")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args()
    completion_cost(args)
    delivery_rate(args)


if __name__ == "__main__":
    main()
