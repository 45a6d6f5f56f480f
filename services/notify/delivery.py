"""The delivery worker: sends due deliveries, at least once, each by one worker at a time.

A round claims a batch of due deliveries in one short transaction (PostgreSQL:
`SELECT ... FOR UPDATE SKIP LOCKED`, so workers side by side take disjoint batches;
SQLite: writers are serialized, and the claiming UPDATE repeats the due condition),
marking them `sending` with this claim's token and a lease. It sends them outside any
transaction, then records every outcome in one transaction, but only on rows still
holding its token. A worker killed mid-send leaves its lease to expire; the next
round anywhere claims the delivery again, with the same delivery id, so a receiver can
drop the repeat. A failed send is retried after `retry_seconds`, doubled each attempt
(at most an hour); after `max_attempts` the delivery is `failed` until an admin resends it.

`deliver_due_once` is the whole job, callable from any loop or job runner;
`run_forever` is the in-process loop `dutyflow serve` and `dutyflow worker` run.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, case, or_, select, update

from services.notify.channels import Channels, Outgoing, SendFailed
from services.persistence.job_failures import count_failure
from services.persistence.models import Delivery, Department, utcnow
from services.persistence.statuses import Channel, DeliveryStatus
from services.persistence.unit_of_work import Store

log = logging.getLogger(__name__)

_deliveries, _departments = Delivery.__table__, Department.__table__
MAX_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    retry_seconds: float = 30.0
    lease_seconds: float = 120.0  # a claim older than this is taken to be a dead worker's
    batch: int = 200

    def backoff(self, attempts: int) -> dt.timedelta:
        """Wait before the next attempt after `attempts` failed ones: retry, 2x, 4x, ..."""
        return dt.timedelta(seconds=min(self.retry_seconds * 2 ** max(attempts - 1, 0),
                                        MAX_BACKOFF_SECONDS))


@dataclass
class RoundReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:40]


def _due(now: dt.datetime):
    return or_(and_(_deliveries.c.status == DeliveryStatus.PENDING,
                    _deliveries.c.next_attempt_at <= now),
               and_(_deliveries.c.status == DeliveryStatus.SENDING,
                    _deliveries.c.lease_until < now))


def claim(store: Store, now: dt.datetime, policy: DeliveryPolicy, worker: str) -> tuple[str, list]:
    """Take up to `policy.batch` due deliveries for this worker; returns (token, rows)."""
    token = f"{worker}/{uuid.uuid4().hex[:12]}"
    with store.writing() as uow:
        candidates = (select(_deliveries.c.id).where(_due(now))
                      .order_by(_deliveries.c.next_attempt_at).limit(policy.batch))
        if store.engine.dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(uow.core(candidates).scalars())
        if not ids:
            return token, []
        uow.core(update(_deliveries).where(_deliveries.c.id.in_(ids), _due(now)).values(
            status=DeliveryStatus.SENDING, claimed_by=token,
            lease_until=now + dt.timedelta(seconds=policy.lease_seconds),
            attempts=_deliveries.c.attempts + 1))
        rows = uow.core(select(_deliveries).where(_deliveries.c.claimed_by == token,
                                                  _deliveries.c.status == DeliveryStatus.SENDING)
                        .order_by(_deliveries.c.created_at, _deliveries.c.id)).all()
        uow.commit()
    return token, rows


_SENT = (update(_deliveries)
         .where(_deliveries.c.id == bindparam("delivery_id"),
                _deliveries.c.claimed_by == bindparam("token"),
                _deliveries.c.status == DeliveryStatus.SENDING)
         .values(status=DeliveryStatus.SENT, sent_at=bindparam("at"), lease_until=None,
                 last_error=None))
_NOT_SENT = (update(_deliveries)
             .where(_deliveries.c.id == bindparam("delivery_id"),
                    _deliveries.c.claimed_by == bindparam("token"),
                    _deliveries.c.status == DeliveryStatus.SENDING)
             .values(status=bindparam("new_status"), next_attempt_at=bindparam("next_at"),
                     lease_until=None, last_error=bindparam("error")))
# Claimed but never tried (the round ran out of lease time): back to the queue, the
# attempt it was charged taken back.
_RELEASE = (update(_deliveries)
            .where(_deliveries.c.id == bindparam("delivery_id"),
                   _deliveries.c.claimed_by == bindparam("token"),
                   _deliveries.c.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.PENDING, lease_until=None, claimed_by=None,
                    attempts=case((_deliveries.c.attempts > 0, _deliveries.c.attempts - 1),
                                  else_=0)))


def deliver_due_once(store: Store, channels: Channels, policy: DeliveryPolicy = DeliveryPolicy(),
                     now: dt.datetime | None = None, worker: str | None = None) -> RoundReport:
    """Send every delivery due at `now`, batch by batch, until none is left for this worker.

    The channels' connections (SMTP, kept-alive HTTP) serve the whole round, then close."""
    worker = worker or worker_name()
    report = RoundReport()
    try:
        while True:
            moment = now or utcnow()
            token, rows = claim(store, moment, policy, worker)
            if not rows:
                return report
            _send_batch(store, channels, policy, token, rows, moment, report)
            if len(rows) < policy.batch:
                return report
    finally:
        channels.close()


def _send_batch(store, channels, policy, token, rows, now, report) -> None:
    configs = _department_configs(store, {row.target for row in rows
                                          if row.channel != Channel.EMAIL})
    started = time.monotonic()
    sent, not_sent, released = [], [], []
    for row in rows:
        if time.monotonic() - started > policy.lease_seconds / 2:
            released.append({"delivery_id": row.id, "token": token})
            continue  # past half the lease: another worker may soon take the rest
        try:
            channels.send(_outgoing(row), configs.get(row.target))
        except SendFailed as err:
            failed_for_good = row.attempts >= policy.max_attempts
            not_sent.append({"delivery_id": row.id, "token": token, "error": str(err),
                             "new_status": DeliveryStatus.FAILED if failed_for_good
                             else DeliveryStatus.PENDING,
                             "next_at": now + policy.backoff(row.attempts)})
            if failed_for_good:
                report.failed += 1
                log.warning("delivery %s (%s) failed for good after %d attempts: %s",
                            row.id, row.channel, row.attempts, err)
            else:
                report.retrying += 1
            report.errors.append(str(err))
        else:
            sent.append({"delivery_id": row.id, "token": token, "at": utcnow()})
            report.sent += 1
    with store.writing() as uow:
        for statement, values in ((_SENT, sent), (_NOT_SENT, not_sent), (_RELEASE, released)):
            if values:
                uow.core(statement, values)
        uow.commit()


def _department_configs(store: Store, keys: set[str]) -> dict[str, dict]:
    if not keys:
        return {}
    with store.reading() as uow:
        return {key: notify or {} for key, notify in uow.core(
            select(_departments.c.key, _departments.c.notify)
            .where(_departments.c.key.in_(sorted(keys))))}


def _outgoing(row) -> Outgoing:
    return Outgoing(id=row.id, channel=row.channel, target=row.target, kind=row.kind,
                    locale=row.locale, payload=row.payload,
                    created_at=row.created_at.isoformat().replace("+00:00", "Z"))


def run_forever(store: Store, channels: Channels, policy: DeliveryPolicy, interval_seconds: float,
                stop: threading.Event) -> None:
    """The in-process loop: a round, then a pause (none while work keeps coming)."""
    worker = worker_name()
    while not stop.is_set():
        try:
            report = deliver_due_once(store, channels, policy, worker=worker)
            if report.handled:
                log.info("notifications: %d sent, %d to retry, %d failed",
                         report.sent, report.retrying, report.failed)
        except Exception as err:  # keep the worker alive; the next round retries
            log.exception("notification round failed")
            count_failure(store, "dutyflow.deliver_notifications", err)  # as the Celery job's
        stop.wait(interval_seconds)
