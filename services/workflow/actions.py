"""The instance_actions log: what people did to an instance itself, and its view.

Withdrawing, cancelling, suspending, resuming, fixing data, retrying and moving each
append one row in the unit of work of the change they record, so the change and its
who, when and why commit together or not at all. The rows are never edited (database
triggers refuse it) and never read by payroll: none of them credits anyone.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from services.errors import InvalidInput
from services.identity.actor import Actor
from services.persistence.models import InstanceAction
from services.persistence.statuses import InstanceActionKind
from services.persistence.unit_of_work import UnitOfWork

MAX_REASON = 2000


def reason_given(reason: str | None) -> str:
    """Every action says why; a blank reason is refused before anything is read."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required: say why",
                           {"reason": ["Field may not be blank."]})
    if len(text) > MAX_REASON:
        raise InvalidInput("the reason is too long",
                           {"reason": [f"Longer than maximum length {MAX_REASON}."]})
    return text


def record(uow: UnitOfWork, instance_id: int, kind: InstanceActionKind, actor: Actor,
           reason: str, status_before: str, status_after: str, at: dt.datetime,
           details: dict[str, Any] | None = None) -> InstanceAction:
    """Append an action in the caller's transaction (the use case commits)."""
    action = InstanceAction(process_instance_id=instance_id, kind=kind, actor=actor.username,
                            reason=reason, status_before=status_before,
                            status_after=status_after, details=details or {}, at=at)
    uow.session.add(action)
    return action

