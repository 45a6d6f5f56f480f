"""The outbox: a notification is a row written by the use case that causes it.

`notify` runs inside the caller's unit of work and never commits: the rows commit with
the step (a completion, an assignment, a finalised payroll run) or not at all, so a
rolled-back step tells nobody and a crash after the commit loses nothing, because the
delivery worker finds the rows in the database. Each in-app row gets an email delivery
when the person chose email and has an address; department webhooks and robots get
one delivery per event.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, true

from services.persistence.models import Delivery, Department, Employee, Notification, NotificationSettings
from services.persistence.statuses import Channel, DeliveryStatus
from services.persistence.unit_of_work import UnitOfWork

_employees, _settings = Employee.__table__, NotificationSettings.__table__
_departments = Department.__table__

_PERSON_COLUMNS = (_employees.c.username, _employees.c.email, _employees.c.locale,
                   func.coalesce(_settings.c.app, true()).label("app"),
                   func.coalesce(_settings.c.email, true()).label("by_email"))
_PEOPLE = (select(*_PERSON_COLUMNS)
           .select_from(_employees.outerjoin(_settings,
                                             _settings.c.username == _employees.c.username))
           .where(_employees.c.username.in_(bindparam("usernames", expanding=True)),
                  _employees.c.active))
_OPTED_IN = (select(*_PERSON_COLUMNS)
             .select_from(_employees.join(_settings,
                                          _settings.c.username == _employees.c.username))
             .where(_employees.c.department_key.in_(bindparam("departments", expanding=True)),
                    _employees.c.active, _settings.c.department_tasks)
             .order_by(_employees.c.username))
_MEMBERS = (select(*_PERSON_COLUMNS)
            .select_from(_employees.outerjoin(_settings,
                                              _settings.c.username == _employees.c.username))
            .where(_employees.c.department_key.in_(bindparam("departments", expanding=True)),
                   _employees.c.active)
            .order_by(_employees.c.username))
_CHANNELS = select(_departments.c.key, _departments.c.notify).where(
    _departments.c.key.in_(bindparam("departments", expanding=True)), _departments.c.active)
_ADD_NOTIFICATIONS = insert(Notification.__table__).returning(
    Notification.__table__.c.id, sort_by_parameter_order=True)
_ADD_DELIVERIES = insert(Delivery.__table__)


@dataclass(frozen=True)
class Person:
    """Someone to tell, with what they chose: the in-app list (`app`), email (`by_email`)."""
    username: str
    email: str | None
    locale: str | None
    app: bool
    by_email: bool

    @property
    def reachable(self) -> bool:
        return self.app or self.emailable

    @property
    def emailable(self) -> bool:
        return self.by_email and bool(self.email)


def people(uow: UnitOfWork, usernames: Iterable[str | None]) -> list[Person]:
    """The active employees among `usernames`, in the order given (others are nobody to tell)."""
    wanted = list(dict.fromkeys(name for name in usernames if name))
    if not wanted:
        return []
    found = {row.username: Person(*row) for row in uow.core(_PEOPLE, {"usernames": wanted})}
    return [found[name] for name in wanted if name in found]


def opted_in_members(uow: UnitOfWork, departments: Iterable[str]) -> list[Person]:
    """Active members of these departments who asked to hear of their new tasks."""
    keys = sorted(set(departments))
    return [Person(*row) for row in uow.core(_OPTED_IN, {"departments": keys})] if keys else []


def members(uow: UnitOfWork, departments: Iterable[str]) -> list[Person]:
    """Every active member of these departments."""
    keys = sorted(set(departments))
    return [Person(*row) for row in uow.core(_MEMBERS, {"departments": keys})] if keys else []


def with_roles(uow: UnitOfWork, roles: Iterable[str]) -> list[Person]:
    """Every active employee holding one of `roles`, by username."""
    wanted = set(roles)
    usernames = [username for username, held in uow.session.execute(
        select(_employees.c.username, _employees.c.roles).where(_employees.c.active)
        .order_by(_employees.c.username)) if wanted & set(held or ())]
    return people(uow, usernames)


def notify(uow: UnitOfWork, kind: str, recipients: Iterable[Person], payload: dict[str, Any],
           now: dt.datetime, *, departments: Iterable[str] = (), task_id: str | None = None,
           process_instance_id: int | None = None, payroll_run_id: int | None = None,
           channels_of: Mapping[str, Any] | None = None) -> int:
    """Write the notifications and their deliveries for one event; returns the rows written.

    `departments`: whose webhook and robot (if their org entry has one) hear of it too;
    `channels_of`: their `notify` entries when the caller has them (the cached
    directory), else they are read here.
    """
    chosen = [person for person in recipients if person.reachable]
    targets = [(Channel.EMAIL, person.email, person.locale, person.username)
               for person in chosen if person.emailable]
    keys = sorted(set(departments))
    if keys:
        configs = [(key, channels_of[key]) for key in keys if key in channels_of] \
            if channels_of is not None else uow.core(_CHANNELS, {"departments": keys})
        targets += [(channel, key, config.get("locale"), None)
                    for key, config in configs for channel in department_channels(config)]
    if not chosen and not targets:
        return 0
    if uow.session.get_bind().dialect.name == "postgresql":
        _write_in_one_statement(uow, kind, chosen, targets, payload, now,
                                (task_id, process_instance_id, payroll_run_id))
        return len(chosen) + len(targets)
    ids: dict[str, int] = {}
    if chosen:
        rows = [dict(recipient=person.username, kind=kind, task_id=task_id,
                     process_instance_id=process_instance_id, payroll_run_id=payroll_run_id,
                     payload=payload, in_app=person.app, created_at=now, read_at=None)
                for person in chosen]
        ids = dict(zip((person.username for person in chosen),
                       uow.core(_ADD_NOTIFICATIONS, rows).scalars().all()))
    if targets:
        uow.core(_ADD_DELIVERIES, [
            dict(id=str(uuid.uuid4()), notification_id=ids.get(recipient), channel=channel,
                 target=target, kind=kind, locale=locale or "en", payload=payload,
                 status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
                 lease_until=None, claimed_by=None, created_at=now, sent_at=None,
                 last_error=None)
            for channel, target, locale, recipient in targets])
    return len(chosen) + len(targets)


# PostgreSQL: the notifications and their deliveries in one statement (one round trip on
# a completion's path), the deliveries joined to the notification rows just inserted.
_ONE_STATEMENT = text(f"""
WITH people AS (
    SELECT * FROM jsonb_to_recordset(CAST(:people AS JSONB)) AS p(recipient text, in_app boolean)
), written AS (
    INSERT INTO notifications (recipient, kind, task_id, process_instance_id, payroll_run_id,
                               payload, in_app, created_at, read_at)
    SELECT recipient, CAST(:kind AS VARCHAR), CAST(:task_id AS VARCHAR),
           CAST(:process_instance_id AS INTEGER), CAST(:payroll_run_id AS INTEGER),
           CAST(:payload AS JSONB), in_app, CAST(:now AS TIMESTAMPTZ), NULL FROM people
    RETURNING id, recipient
), targets AS (
    SELECT * FROM jsonb_to_recordset(CAST(:targets AS JSONB))
        AS t(id text, channel text, target text, locale text, recipient text)
)
INSERT INTO deliveries (id, notification_id, channel, target, kind, locale, payload, status,
                        attempts, next_attempt_at, lease_until, claimed_by, created_at,
                        sent_at, last_error)
SELECT targets.id, written.id, targets.channel, targets.target, CAST(:kind AS VARCHAR),
       targets.locale, CAST(:payload AS JSONB), '{DeliveryStatus.PENDING}', 0,
       CAST(:now AS TIMESTAMPTZ), NULL, NULL, CAST(:now AS TIMESTAMPTZ), NULL, NULL
FROM targets LEFT JOIN written ON written.recipient = targets.recipient
""")


def _write_in_one_statement(uow: UnitOfWork, kind: str, chosen: list[Person],
                            targets: list[tuple], payload: dict[str, Any], now: dt.datetime,
                            subject: tuple) -> None:
    task_id, process_instance_id, payroll_run_id = subject
    uow.core(_ONE_STATEMENT, {
        "people": json.dumps([{"recipient": person.username, "in_app": person.app}
                              for person in chosen]),
        "targets": json.dumps([{"id": str(uuid.uuid4()), "channel": channel, "target": target,
                                "locale": locale or "en", "recipient": recipient}
                               for channel, target, locale, recipient in targets]),
        "kind": kind, "task_id": task_id, "process_instance_id": process_instance_id,
        "payroll_run_id": payroll_run_id, "payload": json.dumps(payload, ensure_ascii=False),
        "now": now})


def department_channels(config: dict[str, Any] | None) -> list[Channel]:
    """The channels a department's `notify` entry sets up."""
    if not config:
        return []
    return [channel for channel, key in ((Channel.WEBHOOK, "webhook"), (Channel.ROBOT, "robot"))
            if config.get(key)]
