"""The in-app side: a person's notifications and unread count, marking them read; and
for admins, the deliveries (the failed ones above all) and sending one again."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update

from services.errors import Conflict, NotFound
from services.identity.actor import Actor
from services.persistence.models import Delivery, Notification, utcnow
from services.persistence.statuses import DeliveryStatus
from services.persistence.unit_of_work import UnitOfWork

_notifications = Notification.__table__


@dataclass(frozen=True)
class Page:
    notifications: list[Notification]
    unread: int


def unread_count(uow: UnitOfWork, username: str) -> int:
    """What the bell shows."""
    return uow.session.scalar(select(func.count()).select_from(_notifications).where(
        _notifications.c.recipient == username, _notifications.c.in_app,
        _notifications.c.read_at.is_(None))) or 0


def mine(uow: UnitOfWork, actor: Actor, limit: int = 50, before: int | None = None,
         unread_only: bool = False) -> Page:
    """The caller's notifications, newest first; `before` (an id) pages back."""
    statement = select(Notification).where(Notification.recipient == actor.username,
                                           Notification.in_app)
    if before is not None:
        statement = statement.where(Notification.id < before)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    rows = list(uow.session.scalars(statement.order_by(Notification.id.desc()).limit(limit)))
    return Page(rows, unread_count(uow, actor.username))


def mark_read(uow: UnitOfWork, actor: Actor, ids: Iterable[int] | None,
              now: dt.datetime | None = None) -> int:
    """Mark the caller's notifications read (all of them when `ids` is None); others' ids
    are ignored, as if they did not exist. Commits; returns the unread count left."""
    statement = update(Notification).where(Notification.recipient == actor.username,
                                           Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    uow.session.execute(statement.values(read_at=now or utcnow()))
    uow.commit()
    return unread_count(uow, actor.username)


def deliveries(uow: UnitOfWork, actor: Actor, status: str | None,
               limit: int = 50) -> list[Delivery]:
    """Deliveries, newest first, for admins (the failed ones wait here for a resend)."""
    actor.require("admin")
    statement = select(Delivery)
    if status:
        statement = statement.where(Delivery.status == status)
    return list(uow.session.scalars(statement.order_by(Delivery.created_at.desc(),
                                                       Delivery.id).limit(limit)))


def resend(uow: UnitOfWork, actor: Actor, delivery_id: str,
           now: dt.datetime | None = None) -> Delivery:
    """Queue a failed delivery again, with fresh attempts and the same delivery id. Commits."""
    actor.require("admin")
    row = uow.session.get(Delivery, delivery_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    if row.status != DeliveryStatus.FAILED:
        raise Conflict(f"delivery {delivery_id} is {row.status}; only a failed one is resent")
    row.status, row.attempts = DeliveryStatus.PENDING, 0
    row.next_attempt_at, row.lease_until, row.claimed_by = now or utcnow(), None, None
    uow.commit()
    return row
