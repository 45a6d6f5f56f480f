"""Moving an instance's token: cancel it at one activity, start one at another (Camunda's
process instance modification), for the steps a process cannot take by itself: skip a
step that no longer applies, go back to redo one, or step past a failing script.

The move runs in a sandbox worker like every step (the target may be a script) and
commits with the projection and its instance_actions entry. The activity left is
cancelled, never completed: it writes no completion event, so nobody is paid for it.
"""
from __future__ import annotations

import datetime as dt

from engine.model import InstanceStatus
from engine.steps import MOVE, StepRefused
from services.errors import Conflict, InvalidInput
from services.identity.actor import Actor
from services.persistence.models import ProcessInstance, utcnow
from services.persistence.statuses import InstanceActionKind
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import actions
from services.workflow.instances import note_new_error, take_step
from services.workflow.lifecycle import hold, refuse, reloaded
from services.workflow.participation import may_move
from services.workflow.projection import Mirrored, project, save_state


def move(uow: UnitOfWork, actor: Actor, instance_id: int, source: str, target: str,
         reason: str, now: dt.datetime | None = None) -> ProcessInstance:
    """Move the token at element `source` to element `target` of a running instance or
    one in error (a move past the failed step repairs it)."""
    now = now or utcnow()
    reason = actions.reason_given(reason)
    held = hold(uow, instance_id)
    if not may_move(actor):
        raise refuse(uow, actor, held, "only admins may move a process instance's token")
    if held.status not in (InstanceStatus.RUNNING, InstanceStatus.ERROR):
        raise Conflict(f"process instance {instance_id} is {held.status}; only a running "
                       "instance or one in error can be moved")
    try:
        outcome = take_step(uow, held.found, {"kind": MOVE, "from": source, "to": target}, now)
    except StepRefused as err:
        if err.kind == "idle":
            raise Conflict(f"process instance {instance_id}: {err}") from None
        raise InvalidInput(f"the move cannot be made: {err}", err.errors) from None
    key = held.row.process_key
    project(uow, instance_id, key, held.model, outcome, now, Mirrored.before(outcome),
            held.found.org_revision)
    save_state(uow, instance_id, held.found.lock_version, outcome, now)
    note_new_error(uow, instance_id, key, held.status, outcome, now)
    actions.record(uow, instance_id, InstanceActionKind.MOVE, actor, reason, held.status,
                   outcome.status, now, {"from": source, "to": target,
                                         "cancelled_tasks": list(outcome.elements)})
    uow.commit()
    return reloaded(uow, instance_id)
