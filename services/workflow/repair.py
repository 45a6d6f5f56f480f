"""Repairing an instance in error: its incidents, a fix of its data, a retry.

A failed step (a script or condition error, a loop, a stopped worker) leaves the
instance in error with an incident (services.workflow.engine_steps.record_incident).
Admins and designers list incidents, fix the process data the failed step reads, and
retry it, on the same version or on a fixed one deployed since. Both repairs run in a
sandbox worker like every step, lock the instance first, commit the new state with
their instance_actions entry, and a retry that runs on resolves the open incidents.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from engine.errors import FormValidationError
from engine.model import InstanceStatus
from engine.runtime import check_variables
from engine.steps import FIX_DATA, RETRY, StepOutcome, StepRefused
from services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.identity.actor import Actor
from services.persistence import step_store
from services.persistence.models import Incident, ProcessDefinition, ProcessInstance, utcnow
from services.persistence.statuses import InstanceActionKind
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import actions, engine_steps
from services.workflow.definitions import get_version, model_of
from services.workflow.instances import take_step
from services.workflow.lifecycle import Held, hold, refuse, reloaded
from services.workflow.participation import may_operate
from services.workflow.projection import Mirrored, project, save_state


def list_incidents(uow: UnitOfWork, actor: Actor, *, process_key: str | None = None,
                   element_id: str | None = None, instance_id: int | None = None,
                   status: str | None = None, limit: int = 50,
                   offset: int = 0) -> list[Incident]:
    """Incidents, newest first; `status` "open" or "resolved" (else both)."""
    if not may_operate(actor):
        raise PermissionDenied("incidents are for admins and designers")
    statement = select(Incident)
    if process_key:
        statement = statement.where(Incident.process_key == process_key)
    if element_id:
        statement = statement.where(Incident.element_id == element_id)
    if instance_id:
        statement = statement.where(Incident.process_instance_id == instance_id)
    if status == "open":
        statement = statement.where(Incident.resolved_at.is_(None))
    elif status == "resolved":
        statement = statement.where(Incident.resolved_at.is_not(None))
    return list(uow.session.scalars(statement.order_by(Incident.id.desc())
                                    .limit(limit).offset(offset)))


def get_incident(uow: UnitOfWork, actor: Actor, incident_id: int) -> Incident:
    if not may_operate(actor):
        raise PermissionDenied("incidents are for admins and designers")
    incident = uow.session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return incident


def _held_in_error(uow: UnitOfWork, actor: Actor, instance_id: int, verb: str) -> Held:
    held = hold(uow, instance_id)
    if not may_operate(actor):
        raise refuse(uow, actor, held, f"only admins and designers may {verb} a process "
                                       "instance in error")
    if held.status != InstanceStatus.ERROR:
        raise Conflict(f"process instance {instance_id} is {held.status}, not in error: "
                       f"there is nothing to {verb}")
    return held


def _repair_step(uow: UnitOfWork, held: Held, action: dict[str, Any], now: dt.datetime,
                 definition: ProcessDefinition | None = None) -> StepOutcome:
    try:
        return take_step(uow, held.found, action, now, definition)
    except StepRefused as err:
        raise InvalidInput(str(err), {"version": [str(err)]} if err.kind == "state"
                           else {"_schema": [str(err)]}) from None


def fix_data(uow: UnitOfWork, actor: Actor, instance_id: int, values: dict[str, Any] | None,
             unset: list[str] | None, reason: str,
             now: dt.datetime | None = None) -> ProcessInstance:
    """Set and unset process variables of an instance in error, where it goes on from
    (the failed step's data); it stays in error until retried."""
    now = now or utcnow()
    reason = actions.reason_given(reason)
    values, unset = _checked_fix(values, unset)
    held = _held_in_error(uow, actor, instance_id, "fix the data of")
    outcome = _repair_step(uow, held, {"kind": FIX_DATA, "set": values, "unset": unset}, now)
    stored = held.row.data or {}
    before = {name: stored[name] for name in [*values, *unset] if name in stored}
    step_store.save_state(uow, instance_id, held.found.lock_version,
                          state_json=outcome.state_json, status=InstanceStatus.ERROR,
                          error=held.row.error, data=outcome.data, at=now)
    actions.record(uow, instance_id, InstanceActionKind.DATA_FIX, actor, reason,
                   InstanceStatus.ERROR, InstanceStatus.ERROR, now,
                   {"set": values, "unset": unset, "before": before,
                    "elements": list(outcome.elements)})
    uow.commit()
    return reloaded(uow, instance_id)


def _checked_fix(values: dict[str, Any] | None,
                 unset: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    try:
        values = check_variables(values or {})
    except FormValidationError as err:
        raise InvalidInput("the data to set is not a set of process variables",
                           {"set": err.errors}) from None
    unset = list(dict.fromkeys(unset or []))
    bad = [name for name in unset if not name.isidentifier() or name.startswith("_")]
    if bad:
        raise InvalidInput("the names to unset are not process variables",
                           {"unset": [f"{name!r} is not a valid variable name." for name in bad]})
    both = sorted(set(values) & set(unset))
    if both:
        raise InvalidInput("a variable cannot be set and unset at once",
                           {"unset": [f"{name!r} is also set." for name in both]})
    if not values and not unset:
        raise InvalidInput("nothing to change", {"_schema": ["Give variables to set or unset."]})
    return values, unset


def retry(uow: UnitOfWork, actor: Actor, instance_id: int, reason: str,
          version: int | None = None, now: dt.datetime | None = None) -> ProcessInstance:
    """Run an instance's failed step again, on its version or (after a fixed diagram was
    deployed) on `version` of its process, which it keeps from then on. If it runs on,
    its open incidents are resolved; if it fails again, a new incident says why."""
    now = now or utcnow()
    reason = actions.reason_given(reason)
    held = _held_in_error(uow, actor, instance_id, "retry")
    definition = get_version(uow, held.row.process_key, version) if version is not None \
        else uow.session.get(ProcessDefinition, held.found.definition_id)
    outcome = _repair_step(uow, held, {"kind": RETRY}, now, definition)
    key = held.row.process_key
    project(uow, instance_id, key, model_of(uow, definition), outcome, now,
            Mirrored.before(outcome), held.found.org_revision)
    step_store.rearm_timers(uow, [timer.id for timer in outcome.timers])
    save_state(uow, instance_id, held.found.lock_version, outcome, now)
    details: dict[str, Any] = {"retried": list(outcome.elements), "version": definition.version}
    if definition.id != held.found.definition_id:
        step_store.set_definition(uow, instance_id, definition.id, definition.version)
        details["from_version"] = held.found.process_version
    if outcome.status == InstanceStatus.ERROR:
        engine_steps.record_incident(uow, instance_id=instance_id, process_key=key,
                                     element_id=outcome.error_element, kind="error",
                                     message=outcome.error or "the step failed",
                                     data=outcome.data, at=now)
    else:
        engine_steps.resolve_incidents(uow, instance_id, now)
    actions.record(uow, instance_id, InstanceActionKind.RETRY, actor, reason,
                   InstanceStatus.ERROR, outcome.status, now, details)
    uow.commit()
    return reloaded(uow, instance_id)

