"""Messages and signals from outside: delivered to the instances waiting for them.

A message (`send_message`) moves the one running instance that waits for it by name
(a receive task, a message catch or boundary event, a message start event the instance
waits at), narrowed by business key and by process variables (`correlation`); several
matches are refused unless all are asked for. With a `message_id`, the first answer is
stored in the same commit and given again to a resend, which moves nothing. A signal
(`send_signal`) reaches every running instance waiting for it. Waits are found through
the event_subscriptions projection; each delivery locks its instance (in id order, so
two deliveries cannot deadlock), runs the catch in a sandbox worker and is logged in
instance_actions.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.errors import FormValidationError
from engine.model import InstanceStatus
from engine.runtime import check_variables
from engine.steps import CATCH, StepRefused
from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.actor import Actor
from services.persistence import step_store
from services.persistence.models import EventSubscription, ProcessInstance, SentMessage, utcnow
from services.persistence.statuses import InstanceActionKind
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import actions
from services.workflow.instances import model_for, note_new_error, take_step
from services.workflow.participation import may_send_events
from services.workflow.projection import Mirrored, project, save_state


def send_message(uow: UnitOfWork, actor: Actor, name: str, *, business_key: str | None = None,
                 correlation: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                 message_id: str | None = None, deliver_all: bool = False,
                 now: dt.datetime | None = None) -> tuple[dict[str, Any], bool]:
    """Deliver a message; returns (answer, replayed). NotFound when no instance waits for
    it, Conflict when several do and `deliver_all` is false."""
    now = now or utcnow()
    _require_sender(actor)
    data = _variables(data)
    if message_id is not None:
        stored = uow.session.get(SentMessage, (actor.username, message_id))
        if stored is not None:
            if stored.name != name:
                raise InvalidInput(f"message_id {message_id!r} was sent with the message "
                                   f"{stored.name!r}", {"message_id": ["Already used."]})
            return stored.answer, True
    waiting = _waiting(uow, "message", name, business_key)
    matched = [row for row in waiting
               if all((row.data or {}).get(var) == value
                      for var, value in (correlation or {}).items())]
    if not matched:
        raise NotFound(f"no running process instance waits for the message {name!r}"
                       + _narrowed(business_key, correlation))
    if len(matched) > 1 and not deliver_all:
        raise Conflict(f"{len(matched)} process instances wait for the message {name!r} "
                       f"({', '.join(str(row.id) for row in matched)}): narrow it with "
                       "business_key or correlation, or send \"all\": true")
    answer = {"name": name, "message_id": message_id,
              "instances": [row.id for row in matched]}
    if message_id is not None and not _claim_id(uow, actor, message_id, name, answer, now):
        return uow.session.get(SentMessage, (actor.username, message_id)).answer, True
    for row in matched:
        _deliver(uow, actor, row.id, "message", name, data, message_id, now)
    uow.commit()
    return answer, False


def send_signal(uow: UnitOfWork, actor: Actor, name: str, data: dict[str, Any] | None = None,
                now: dt.datetime | None = None) -> dict[str, Any]:
    """Broadcast a signal to every running instance that waits for it (none is fine)."""
    now = now or utcnow()
    _require_sender(actor)
    data = _variables(data)
    reached = [row.id for row in _waiting(uow, "signal", name, None)]
    for instance_id in reached:
        _deliver(uow, actor, instance_id, "signal", name, data, None, now)
    uow.commit()
    return {"name": name, "instances": reached}


def _require_sender(actor: Actor) -> None:
    if not may_send_events(actor):
        raise PermissionDenied("messages and signals are sent by admins")


def _variables(data: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return check_variables(data or {})
    except FormValidationError as err:
        raise InvalidInput("the data is not a set of process variables",
                           {"data": err.errors}) from None


def _narrowed(business_key: str | None, correlation: dict[str, Any] | None) -> str:
    parts = ([f"business key {business_key!r}"] if business_key else []) + \
        [f"{var} = {value!r}" for var, value in (correlation or {}).items()]
    return f" with {' and '.join(parts)}" if parts else ""


def _waiting(uow: UnitOfWork, kind: str, name: str,
             business_key: str | None) -> list[ProcessInstance]:
    """Running instances waiting for `kind` `name`, by id."""
    statement = (select(ProcessInstance).where(ProcessInstance.id.in_(
        select(EventSubscription.process_instance_id).where(
            EventSubscription.kind == kind, EventSubscription.name == name)),
        ProcessInstance.status == InstanceStatus.RUNNING).order_by(ProcessInstance.id))
    if business_key is not None:
        statement = statement.where(ProcessInstance.business_key == business_key)
    return list(uow.session.scalars(statement))


def _claim_id(uow: UnitOfWork, actor: Actor, message_id: str, name: str,
              answer: dict[str, Any], now: dt.datetime) -> bool:
    """Store the answer under the message id before anything moves; False when a racing
    send with the same id stored one first (this one then moves nothing)."""
    uow.session.add(SentMessage(sender=actor.username, message_id=message_id, name=name,
                                answer=answer, created_at=now))
    try:
        uow.session.flush()
    except IntegrityError:
        uow.session.rollback()
        return False
    return True


def _deliver(uow: UnitOfWork, actor: Actor, instance_id: int, kind: str, name: str,
             data: dict[str, Any], message_id: str | None, now: dt.datetime) -> None:
    found = step_store.instance_step(uow, instance_id)
    if found.instance_status != InstanceStatus.RUNNING:
        raise Conflict(f"process instance {instance_id} is {found.instance_status}; retry")
    try:
        outcome = take_step(uow, found, {"kind": CATCH, "event": kind, "name": name,
                                         "data": data}, now)
    except StepRefused:
        raise Conflict(f"process instance {instance_id} no longer waits for the {kind} "
                       f"{name!r}; retry") from None
    project(uow, instance_id, found.instance_process_key, model_for(uow, found), outcome, now,
            Mirrored.before(outcome), found.org_revision)
    save_state(uow, instance_id, found.lock_version, outcome, now)
    note_new_error(uow, instance_id, found.instance_process_key, found.instance_status,
                   outcome, now)
    action = InstanceActionKind.MESSAGE if kind == "message" else InstanceActionKind.SIGNAL
    actions.record(uow, instance_id, action, actor, f"{kind} {name}",
                   found.instance_status, outcome.status, now,
                   {"name": name, "message_id": message_id, "caught_by": list(outcome.elements),
                    "data": data})
