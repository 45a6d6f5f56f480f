"""Call activities into other files' processes: child instances, started and ended with
the step that calls them or that ends them (engine.calls).

When a step leaves a call activity waiting, the process it calls is resolved now (the
binding: its latest version, the version deployed with the caller, or a numbered one) and
a child instance of it starts in the same transaction: its own row, its tasks routed by
its own lanes as any instance's. When the child ends, the caller's call activity completes
in the child's final step's transaction, the child's variables crossing back by the
call's output mappings (an error end event is thrown at the call activity instead).

A call that finds no process deployed, a child cancelled by a person, or a caller that
cannot take its child's end puts the caller in error with an incident; once the cause is
fixed (the process deployed) an admin retries it and the call starts its child again.
A caller cancelled, or its call activity interrupted (a boundary event, a move),
cancels its unfinished children.

All of it runs when the use case commits (UnitOfWork.before_commit), after the step's own
rows are written, so a child that ends in its very first step finds its caller stored.
"""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from engine.calls import INHERIT_BUSINESS_KEY
from engine.model import InstanceStatus
from engine.runtime import ReadyCall
from engine.sandbox_pool import StepAborted
from engine.steps import COMPLETE_CALL, FAIL_CALLS, START, StepOutcome, StepRefused
from services.errors import StepFailed
from services.persistence import step_store
from services.persistence.models import InstanceAction, ProcessDefinition, ProcessInstance
from services.persistence.statuses import InstanceActionKind
from services.persistence.unit_of_work import UnitOfWork
from services.workflow import engine_steps
from services.workflow.definitions import model_of
from services.workflow.projection import (Mirrored, announce_end, follow_steps, project,
                                          save_state, stored_state)
from services.workflow.stepping import model_for, note_new_error, take_step

_FINISHED = (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)
SYSTEM = "system:call"  # who the actions log names for what a call did by itself


def follow(uow: UnitOfWork, instance_id: int, outcome: StepOutcome, now: dt.datetime) -> None:
    """After a step of `instance_id`: start the children of its new calls, cancel those of
    calls it no longer waits at, and if it ended, complete its caller's call; at commit."""
    if outcome.calls or outcome.calls_before or outcome.status == InstanceStatus.COMPLETED:
        uow.before_commit(lambda: _follow(uow, instance_id, outcome, now))


def _follow(uow: UnitOfWork, instance_id: int, outcome: StepOutcome, now: dt.datetime) -> None:
    gone = outcome.calls_before - {call.id for call in outcome.calls}
    if gone:
        for child_id in _unfinished_children(uow, instance_id, gone):
            cancel_tree(uow, child_id, SYSTEM, "the call activity that started it was left "
                                               "(an interrupting event or a move)", now)
    failures = {}
    for call in outcome.calls:
        if call.variables is None:
            continue  # waited before this step: its child runs
        problem = _start_child(uow, instance_id, call, now)
        if problem:
            failures[call.id] = problem
    if failures:
        _step_caller(uow, instance_id, {"kind": FAIL_CALLS, "failures": failures}, now)
    if outcome.status == InstanceStatus.COMPLETED:
        row = uow.session.execute(select(ProcessInstance.parent_instance_id,
                                         ProcessInstance.parent_task_id)
                                  .where(ProcessInstance.id == instance_id)).one()
        if row.parent_instance_id is not None:
            _step_caller(uow, row.parent_instance_id,
                         {"kind": COMPLETE_CALL, "task_id": row.parent_task_id,
                          "data": outcome.data, "error": outcome.ended_in_error}, now)


follow_steps(follow)


def resolve(uow: UnitOfWork, caller_definition_id: int,
            call: ReadyCall) -> ProcessDefinition | None:
    """The version a call starts: by its binding, when the call happens."""
    by_key = select(ProcessDefinition).where(ProcessDefinition.key == call.called)
    newest = ProcessDefinition.version.desc()
    if call.binding == "version":
        return uow.session.scalars(by_key.where(
            ProcessDefinition.version == call.version)).first()
    if call.binding == "deployment":
        caller = uow.session.get(ProcessDefinition, caller_definition_id)
        if caller.deployment_id is not None:
            sibling = uow.session.scalars(by_key.where(
                ProcessDefinition.deployment_id == caller.deployment_id)).first()
            if sibling is not None:
                return sibling
        # Deployed unchanged with the caller (no new version was made), or before it: the
        # newest version that existed when the caller was deployed.
        return uow.session.scalars(by_key.where(ProcessDefinition.id < caller.id)
                                   .order_by(newest).limit(1)).first()
    return uow.session.scalars(by_key.order_by(newest).limit(1)).first()


def _start_child(uow: UnitOfWork, caller_id: int, call: ReadyCall,
                 now: dt.datetime) -> str | None:
    """Start the call's child instance; the reason it could not, or None."""
    caller = uow.session.get(ProcessInstance, caller_id)
    definition = resolve(uow, caller.definition_id, call)
    if definition is None:
        wanted = {"version": f"version {call.version} of ",
                  "deployment": "the version deployed with this diagram of "}.get(call.binding, "")
        return (f"the call activity calls {wanted}process {call.called!r}, which is not "
                f"deployed: deploy it, then retry this instance")
    org_revision = step_store.org_revision(uow)
    try:
        outcome = engine_steps.run(uow, definition.checksum, definition.key, definition.id,
                                   None, {"kind": START, "data": call.variables,
                                          "started_by": caller.started_by, "called": True},
                                   now, org_revision)
    except StepRefused as err:
        detail = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in
                           err.errors.items()) or str(err)
        return f"the call to {call.called!r} could not start its instance: {detail}"
    except StepAborted as err:
        return f"the call to {call.called!r} could not start its instance: {err}"
    business_key = caller.business_key if call.business_key == INHERIT_BUSINESS_KEY \
        else call.business_key
    child = ProcessInstance(definition=definition, definition_id=definition.id,
                            process_key=definition.key, process_version=definition.version,
                            business_key=business_key, started_by=caller.started_by,
                            created_at=now, updated_at=now,
                            state=json.loads(outcome.state_json),
                            parent_instance_id=caller_id, parent_task_id=call.id,
                            parent_element_id=call.element_id, **stored_state(outcome))
    uow.session.add(child)
    uow.flush()
    project(uow, child.id, child.process_key, model_of(uow, definition), outcome, now,
            org_revision=org_revision)
    note_new_error(uow, child.id, child.process_key, None, outcome, now)
    announce_end(uow, child.id, outcome, now)
    follow(uow, child.id, outcome, now)
    return None


def _step_caller(uow: UnitOfWork, caller_id: int, action: dict, now: dt.datetime) -> None:
    """Take a step on the caller for its call (its child ended, or calls failed)."""
    found = step_store.instance_step(uow, caller_id)
    if found is None or found.instance_status in _FINISHED:
        return  # cancelled meanwhile: nothing waits for the child
    try:
        outcome = take_step(uow, found, action, now)
    except StepRefused as err:
        # The caller no longer waits at the call (moved on meanwhile): nothing to complete.
        if action["kind"] == COMPLETE_CALL:
            engine_steps.record_incident(
                uow, instance_id=caller_id, process_key=found.instance_process_key,
                element_id=None, kind="call",
                message=f"a called instance ended but its caller does not wait for it: {err}",
                data=action.get("data"), at=now)
        return
    except StepFailed:
        return  # in error with an incident, committed by take_step
    project(uow, caller_id, found.instance_process_key, model_for(uow, found), outcome, now,
            Mirrored.before(outcome), found.org_revision)
    save_state(uow, caller_id, found.lock_version, outcome, now)
    note_new_error(uow, caller_id, found.instance_process_key, found.instance_status, outcome,
                   now)


def _unfinished_children(uow: UnitOfWork, instance_id: int,
                         task_ids: frozenset[str] | None = None) -> list[int]:
    statement = select(ProcessInstance.id).where(
        ProcessInstance.parent_instance_id == instance_id,
        ProcessInstance.status.not_in(_FINISHED))
    if task_ids is not None:
        statement = statement.where(ProcessInstance.parent_task_id.in_(task_ids))
    return list(uow.session.scalars(statement.order_by(ProcessInstance.id)))


def cancel_children(uow: UnitOfWork, instance_id: int, username: str, reason: str,
                    now: dt.datetime) -> list[int]:
    """Cancel the unfinished children of a cancelled instance (and theirs); their ids."""
    children = _unfinished_children(uow, instance_id)
    for child_id in children:
        cancel_tree(uow, child_id, username, reason, now)
    return children


def cancel_tree(uow: UnitOfWork, instance_id: int, username: str, reason: str,
                now: dt.datetime) -> None:
    """Cancel one child instance and its own children, logged as done by `username`."""
    found = step_store.instance_step(uow, instance_id)
    if found is None or found.instance_status in _FINISHED:
        return
    step_store.withdraw_instance_work(uow, instance_id)
    step_store.set_status(uow, instance_id, found.lock_version, InstanceStatus.CANCELLED, now)
    engine_steps.resolve_incidents(uow, instance_id, now)
    uow.session.add(InstanceAction(
        process_instance_id=instance_id, kind=InstanceActionKind.CANCEL, actor=username,
        reason=f"its caller was cancelled: {reason}" if username != SYSTEM else reason,
        status_before=found.instance_status, status_after=InstanceStatus.CANCELLED,
        details={"cancelled_with_caller": True}, at=now))
    cancel_children(uow, instance_id, username, reason, now)


def child_cancelled(uow: UnitOfWork, child: ProcessInstance, now: dt.datetime) -> None:
    """A person cancelled a child instance: its caller's call fails (an incident), to be
    retried (a new child) or moved on by an admin."""
    if child.parent_instance_id is None or child.parent_task_id is None:
        return
    message = (f"the called instance {child.id} of {child.process_key!r} was cancelled: "
               "retry this instance to call it again, or move it on")
    uow.before_commit(lambda: _step_caller(
        uow, child.parent_instance_id,
        {"kind": FAIL_CALLS, "failures": {child.parent_task_id: message}}, now))


def children_of(uow: UnitOfWork, instance_id: int) -> list[ProcessInstance]:
    """The child instances a caller started, oldest first."""
    return list(uow.session.scalars(select(ProcessInstance).where(
        ProcessInstance.parent_instance_id == instance_id).order_by(ProcessInstance.id)))
