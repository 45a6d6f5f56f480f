"""Delivery against real receivers: an SMTP server, HTTP servers that check signatures."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import select

from services.identity.actor import Actor
from services.notify import delivery, inbox
from services.notify.channels import sign_body
from services.persistence.models import Delivery, utcnow
from services.persistence.statuses import DeliveryStatus
from services.workflow import instances
from tests.conftest import ROOT
from tests.notify.receivers import HttpReceiver, SmtpReceiver
from tests.notify.support import (ROBOT_SECRET, WEBHOOK_SECRET, deliver, demo_org, import_org,
                                  opt_in)
from tests.services.helpers import DELIVERY, complete, deploy

ADMIN = Actor("admin", "company", frozenset({"admin"}), frozenset())


@pytest.fixture
def webhook():
    receiver = HttpReceiver(WEBHOOK_SECRET)
    yield receiver
    receiver.close()


@pytest.fixture
def smtp():
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


def channels_org(store, webhook_url=None, robot_url=None):
    notify = {}
    if webhook_url:
        notify |= {"webhook": webhook_url, "secret": WEBHOOK_SECRET}
    if robot_url:
        notify["robot"] = {"kind": "dingtalk", "url": robot_url, "secret": ROBOT_SECRET}
    import_org(store, demo_org(notify or None, **{
        "li.qa": {"email": "li.na@example.com", "locale": "zh-CN"},
        "he.qa": {"email": "he.jing@example.com"}}))
    deploy(store)


def inspection_ready(store, count=1) -> list[int]:
    """`count` instances whose inspection (a QA task) just became ready."""
    started = []
    for _ in range(count):
        with store.writing() as uow:
            instance_id = instances.start_process(uow, "inbound_materials", None, "zhang.proc").id
        complete(store, instance_id, "register_delivery", "zhang.proc", DELIVERY)
        started.append(instance_id)
    return started


def deliveries(store, channel=None):
    with store.reading() as uow:
        statement = select(Delivery).order_by(Delivery.created_at, Delivery.id)
        if channel:
            statement = statement.where(Delivery.channel == channel)
        return list(uow.session.scalars(statement))


def test_email_goes_through_a_real_smtp_server_in_the_recipients_language(store, smtp):
    channels_org(store)
    opt_in(store, "li.qa")
    opt_in(store, "he.qa")
    [instance_id] = inspection_ready(store)
    report = deliver(store, smtp.url)
    assert (report.sent, report.failed, report.retrying) == (2, 0, 0)
    by_address = {rcpt[0]: message for rcpt, message in smtp.messages}
    chinese, english = by_address["li.na@example.com"], by_address["he.jing@example.com"]
    assert chinese["Subject"] == "新任务：检验来货"  # the diagram's i18n:zh-CN label
    assert "来料入库：到货、检验、入库" in chinese.get_content()  # the process's
    assert "质量部 有一项新任务待办" in chinese.get_content()
    assert english["Subject"] == "New task: Inspect goods"
    body = english.get_content()
    assert f"(inbound_materials #{instance_id}) is ready for 质量部." in body
    assert "Open in DutyFlow: https://duty.example/tasks/" in body
    assert {english["X-DutyFlow-Delivery"], chinese["X-DutyFlow-Delivery"]} == {
        d.id for d in deliveries(store)}
    assert all(d.status == DeliveryStatus.SENT and d.attempts == 1 for d in deliveries(store))


def test_a_webhook_gets_signed_json_with_a_stable_delivery_id(store, webhook):
    channels_org(store, webhook_url=webhook.url)
    [instance_id] = inspection_ready(store)
    assert deliver(store).sent == 1
    [request] = webhook.received
    assert request.signature_ok and request.path == "/hook?team=%E8%B4%A8%E9%87%8F"
    [row] = deliveries(store)
    assert request.delivery == row.id and request.headers["X-DutyFlow-Event"] == "task_ready"
    body = request.json
    assert body["delivery"] == row.id and body["department"] == "qa"
    assert body["title"] == "New task: Inspect goods"
    assert body["data"]["task"]["process_instance_id"] == instance_id
    assert body["url"] == f"https://duty.example/tasks/{body['data']['task']['id']}"


def test_a_dingtalk_robot_gets_a_signed_markdown_message(store):
    robot = HttpReceiver(ROBOT_SECRET, robot=True)
    try:
        channels_org(store, robot_url=robot.url)
        inspection_ready(store)
        assert deliver(store).sent == 1
        [request] = robot.received
        assert request.signature_ok  # timestamp + sign in the query, checked by the receiver
        assert request.path.startswith("/hook?team=%E8%B4%A8%E9%87%8F&timestamp=")
        body = request.json
        assert body["msgtype"] == "markdown"
        assert body["markdown"]["title"] == "New task: Inspect goods"
        assert body["markdown"]["text"].startswith("### New task: Inspect goods\n\n")
        assert "[Open in DutyFlow](https://duty.example/tasks/" in body["markdown"]["text"]
    finally:
        robot.close()


def test_a_forged_signature_is_told_apart_by_the_receiver(webhook):
    """The receivers' check is itself a test subject: it must refuse a changed body."""
    body = b'{"kind":"task_ready"}'
    signed = {"X-DutyFlow-Signature": sign_body(WEBHOOK_SECRET, body)}
    assert webhook.check("/", signed, body)
    assert not webhook.check("/", signed, body.replace(b"ready", b"READY"))
    assert not webhook.check("/", {"X-DutyFlow-Signature": sign_body("other", body)}, body)


def test_a_receiver_failing_three_times_gets_the_delivery_once_more(store):
    flaky = HttpReceiver(WEBHOOK_SECRET, fail_first=3)
    try:
        channels_org(store, webhook_url=flaky.url)
        inspection_ready(store)
        start = utcnow()
        reports = [deliver(store, now=start + dt.timedelta(seconds=round_ * 10))
                   for round_ in range(6)]
        assert [r.sent for r in reports] == [0, 0, 0, 1, 0, 0]
        assert [r.retrying for r in reports] == [1, 1, 1, 0, 0, 0]
        [row] = deliveries(store)
        assert len(flaky.received) == 4 and set(flaky.deliveries()) == {row.id}
        assert all(item.signature_ok for item in flaky.received)
        assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 4, None)
    finally:
        flaky.close()


def test_retries_wait_longer_each_time(store):
    flaky = HttpReceiver(WEBHOOK_SECRET, fail_first=99)
    policy = delivery.DeliveryPolicy(max_attempts=3, retry_seconds=60, lease_seconds=5)
    try:
        channels_org(store, webhook_url=flaky.url)
        inspection_ready(store)
        start = utcnow()
        deliver(store, policy=policy, now=start)
        [row] = deliveries(store)
        assert row.status == DeliveryStatus.PENDING
        assert row.next_attempt_at - start >= dt.timedelta(seconds=60)
        assert row.last_error == "the webhook answered HTTP 500"
        assert deliver(store, policy=policy, now=start + dt.timedelta(seconds=30)).handled == 0
        deliver(store, policy=policy, now=row.next_attempt_at)
        [row] = deliveries(store)
        assert row.next_attempt_at - start >= dt.timedelta(seconds=120 + 60)
    finally:
        flaky.close()


def test_a_delivery_failing_every_attempt_is_listed_for_admins_and_can_be_resent(store):
    down = HttpReceiver(WEBHOOK_SECRET, fail_first=4)
    try:
        channels_org(store, webhook_url=down.url)
        inspection_ready(store)
        start = utcnow()
        for round_ in range(5):
            deliver(store, now=start + dt.timedelta(seconds=round_))
        [row] = deliveries(store)
        assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 4)
        with store.reading() as uow:
            assert [d.id for d in inbox.deliveries(uow, ADMIN, "failed")] == [row.id]
            assert inbox.deliveries(uow, ADMIN, "sent") == []
        with store.writing() as uow:
            inbox.resend(uow, ADMIN, row.id)
        assert deliver(store).sent == 1
        [row] = deliveries(store)
        assert row.status == DeliveryStatus.SENT and len(down.received) == 5
        assert set(down.deliveries()) == {row.id}
    finally:
        down.close()


def test_two_workers_side_by_side_send_each_delivery_once(store, webhook):
    channels_org(store, webhook_url=webhook.url)
    inspection_ready(store, 30)
    policy = delivery.DeliveryPolicy(batch=4, lease_seconds=60)
    reports, barrier = [], threading.Barrier(2)

    def work(name):
        barrier.wait()
        reports.append(deliver(store, policy=policy, worker=name))

    workers = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in (1, 2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    sent = webhook.deliveries()
    assert len(sent) == 30 and len(set(sent)) == 30
    assert sum(r.sent for r in reports) == 30
    assert all(r.sent > 0 for r in reports), [r.sent for r in reports]  # both took a share
    assert {d.status for d in deliveries(store)} == {DeliveryStatus.SENT}


KILLED_WORKER = """
import sys
from services.notify.delivery import DeliveryPolicy
from services.persistence.unit_of_work import Store
from tests.notify.support import deliver
deliver(Store(sys.argv[1]), policy=DeliveryPolicy(max_attempts=4, retry_seconds=0,
                                                  lease_seconds=float(sys.argv[2])))
"""


def test_a_worker_killed_mid_delivery_loses_nothing(store):
    hold = threading.Event()
    stuck = HttpReceiver(WEBHOOK_SECRET, hold=hold)
    try:
        channels_org(store, webhook_url=stuck.url)
        inspection_ready(store)
        worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, store.database_url, "3"],
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert stuck.arrived.wait(30), "the worker never sent"
        finally:
            worker.send_signal(signal.SIGKILL)  # mid-send: the receiver has not answered
            worker.wait()
        [row] = deliveries(store)
        assert row.status == DeliveryStatus.SENDING and row.attempts == 1
        hold.set()
        # While the dead worker's lease runs, nobody sends it again ...
        assert deliver(store).handled == 0
        # ... once it has expired, the next round does, with the same delivery id.
        report = deliver(store, now=row.lease_until + dt.timedelta(milliseconds=1))
        assert report.sent == 1
        [row] = deliveries(store)
        assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
        assert stuck.deliveries() == [row.id, row.id]
    finally:
        stuck.close()


def test_a_round_running_out_of_lease_puts_the_rest_back_uncharged(store):
    slow = HttpReceiver(WEBHOOK_SECRET, delay=0.3)
    try:
        channels_org(store, webhook_url=slow.url)
        inspection_ready(store, 3)
        policy = delivery.DeliveryPolicy(lease_seconds=0.4)  # half of it is gone after one send
        report = deliver(store, policy=policy)
        assert report.sent == 1 and len(slow.received) == 1
        waiting = [d for d in deliveries(store) if d.status == DeliveryStatus.PENDING]
        assert len(waiting) == 2 and all(d.attempts == 0 and d.claimed_by is None
                                         for d in waiting)
        assert deliver(store).sent == 2  # the next round (full lease) sends the rest
        assert sorted(slow.deliveries()) == sorted(d.id for d in deliveries(store))
    finally:
        slow.close()
